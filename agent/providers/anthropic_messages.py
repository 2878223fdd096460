"""Anthropic's Messages API on the official ``anthropic`` SDK.

The system prompt goes in ``system``, not in the messages; the messages must alternate user and
assistant and start with the user, so neighbours of one role are joined and a conversation that
opens with the assistant gets a short user turn first. SDK retries are off: the router retries.

A tool call is a ``tool_use`` content block whose input streams as ``input_json_delta`` pieces;
it is handed on as one ``ToolCall`` when its block stops. Anthropic has no embeddings API.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from agent.providers.base import (
    ChatRequest,
    Delta,
    Finished,
    Message,
    StreamItem,
    Tool,
    ToolCall,
    Usage,
)
from agent.providers.sdk_provider import SdkProvider

if TYPE_CHECKING:
    import anthropic
    from anthropic.lib.streaming import ParsedMessageStreamEvent
    from anthropic.types import MessageParam, ToolParam

_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


class AnthropicMessages(SdkProvider):
    """A provider for Claude (or any server speaking the Messages API, like DeepSeek's)."""

    _client: anthropic.AsyncAnthropic | None = None  # built on first use: importing the SDK is slow

    def client(self) -> anthropic.AsyncAnthropic:
        if self._client is None:
            import anthropic

            connect, read = self._timeouts
            # The preset's x-api-key and anthropic-version go as documented; this SDK version
            # also sends the key as a Bearer token, which the API accepts as well.
            self._client = anthropic.AsyncAnthropic(
                base_url=self.preset.base_url,
                api_key=self._api_key,
                default_headers=self._headers,
                max_retries=0,
                timeout=anthropic.Timeout(read, connect=connect),
            )
        return self._client

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        self.require_tools(request)
        reason = "stop"
        input_tokens = output_tokens = 0
        calls = _ToolBlocks()
        async with self._open(request) as events:
            async for event in events:
                if event.type == "message_start":
                    input_tokens = event.message.usage.input_tokens
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    yield Delta(event.delta.text)
                elif event.type == "message_delta":
                    output_tokens = event.usage.output_tokens
                    reason = _FINISH.get(event.delta.stop_reason or "", "stop")
                elif call := calls.follow(event):
                    yield call
        yield Finished(reason, Usage(input_tokens, output_tokens))  # type: ignore[arg-type]

    def _open(self, request: ChatRequest) -> anthropic.AsyncMessageStreamManager[None]:
        import anthropic

        # This SDK's stream() takes no temperature argument; the API still accepts the field.
        extra = None if request.temperature is None else {"temperature": request.temperature}
        system = request.system
        return self.client().messages.stream(
            model=request.model or self.model,
            max_tokens=request.max_tokens,
            system=system if system else anthropic.omit,
            messages=cast("list[MessageParam]", alternating(request.messages)),
            tools=wire_tools(request.tools) if request.tools else anthropic.omit,
            extra_body=extra,
        )

    async def probe(self) -> float:
        """List the models; a service that lists none is asked for one token instead."""
        started = time.perf_counter()
        if self.preset.capabilities.models:
            await self.client().models.list()
        else:
            await self.client().messages.create(
                model=self.model,
                max_tokens=1,
                messages=[{"role": "user", "content": "ping"}],
            )
        return time.perf_counter() - started

    async def models(self) -> list[str]:
        """The ids of the models the service serves, every page of them, sorted."""
        self.require(self.preset.capabilities.models, "model list")
        return sorted({model.id async for model in self.client().models.list()})

    async def embed(self, texts: Sequence[str], model: str = "") -> list[list[float]]:
        """Always ``Unsupported``: the Messages API has no embeddings endpoint."""
        self.require(False, "embeddings (the Messages API has none)")
        return []

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


class _ToolBlocks:
    """``tool_use`` blocks being streamed, by block index, until their ``content_block_stop``."""

    def __init__(self) -> None:
        self._open: dict[int, list[str]] = {}  # index -> [id, name, input JSON so far]

    def follow(self, event: ParsedMessageStreamEvent[None]) -> ToolCall | None:
        """Take in one event; the whole call when it ends a tool_use block."""
        if event.type == "content_block_start" and event.content_block.type == "tool_use":
            self._open[event.index] = [event.content_block.id, event.content_block.name, ""]
        elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
            # Only blocks opened as tool_use: server tools stream their input the same way.
            if event.index in self._open:
                self._open[event.index][2] += event.delta.partial_json
        elif event.type == "content_block_stop" and event.index in self._open:
            call_id, name, arguments = self._open.pop(event.index)
            return ToolCall(call_id, name, arguments or "{}")
        return None


def alternating(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """User/assistant turns as the Messages API requires them (system prompts left out)."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    if not turns or turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(the stream is live)"})
    return turns


def wire_tools(tools: Iterable[Tool]) -> list[ToolParam]:
    """Tools in the Messages API's shape: the JSON schema goes in ``input_schema``."""
    return [
        {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in tools
    ]
