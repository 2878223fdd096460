"""OpenAI Chat Completions, and every server that speaks it, on the official ``openai`` SDK.

The preset gives the base URL and headers (through ``request_for``, the one place that knows
them); the SDK's own retries are off (``max_retries=0``) so the router's retry policy is the
only one. The SDK is imported on first use: it costs import time the agent's start must not pay.

Tool calls stream as fragments keyed by ``index``: the first carries the call's id and name,
the rest pieces of its JSON arguments. They are gathered here and handed on as one ``ToolCall``
each when the choice finishes, so nothing downstream ever sees half a JSON object.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from agent.providers.base import (
    ChatRequest,
    Delta,
    Finished,
    StreamItem,
    Tool,
    ToolCall,
    Usage,
)
from agent.providers.presets import PresetError
from agent.providers.sdk_provider import SdkProvider

if TYPE_CHECKING:
    import openai
    from openai.types.chat import (
        ChatCompletionMessageParam,
        ChatCompletionStreamOptionsParam,
        ChatCompletionToolParam,
    )
    from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}

# Services that refuse `stream_options` (the preset's note says so): they get none, and a stream
# from them reports what usage it reports on its own.
NO_STREAM_OPTIONS = frozenset({"cohere"})
_WITH_USAGE: ChatCompletionStreamOptionsParam = {"include_usage": True}

# The embedding model used when the caller names none; other presets need one named.
EMBEDDING_MODELS = {
    "openai": "text-embedding-3-small",
    "mistral": "mistral-embed",
    "gemini": "gemini-embedding-001",
}


class OpenAICompatible(SdkProvider):
    """A provider on the OpenAI SDK for one preset (OpenAI, Groq, Ollama, vLLM, ...)."""

    _client: openai.AsyncOpenAI | None = None  # built on first use: importing the SDK is slow

    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            connect, read = self._timeouts
            timeout = openai.Timeout(read, connect=connect)
            if "/deployments/{model}/" in self.preset.path:
                # Azure: the SDK's own client knows its deployment paths and api-version query.
                self._client = openai.AsyncAzureOpenAI(
                    azure_endpoint=self.preset.base_url,
                    api_key=self._api_key or "unused",
                    api_version=_query_value(self.preset.path, "api-version"),
                    default_headers=self._headers,
                    max_retries=0,
                    timeout=timeout,
                )
            else:
                self._client = openai.AsyncOpenAI(
                    base_url=self.preset.base_url,
                    api_key=self._api_key or "unused",
                    default_headers=self._headers,
                    max_retries=0,
                    timeout=timeout,
                )
        return self._client

    def _extra_headers(self) -> dict[str, Any] | None:
        """Per call, as the SDK wants it: no Authorization when the preset sends none."""
        if "Authorization" in self._headers:
            return None
        import openai

        return {"Authorization": openai.Omit()}  # x-api-key, api-key, or no auth at all

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        self.require_tools(request)
        chunks = await self._create(request)
        reason = "stop"
        usage = Usage()
        calls = _PendingCalls()
        # `async with`: a listener that leaves mid-answer (a cut, the kill switch) closes the
        # HTTP response now, instead of leaving the provider writing until garbage collection.
        async with chunks:
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for choice in chunk.choices[:1]:
                    if choice.delta.content:
                        yield Delta(choice.delta.content)
                    calls.add(choice.delta.tool_calls or ())
                    if choice.finish_reason:
                        reason = _FINISH.get(choice.finish_reason, "stop")
                        for call in calls.whole():
                            yield call
        for call in calls.whole():  # a server that never said why it finished
            yield call
        yield Finished(reason, usage)  # type: ignore[arg-type]

    async def _create(self, request: ChatRequest) -> openai.AsyncStream[Any]:
        import openai

        temperature = openai.omit if request.temperature is None else request.temperature
        return await self.client().chat.completions.create(
            model=request.model or self.model,
            messages=cast(
                "list[ChatCompletionMessageParam]",
                [{"role": m.role, "content": m.content} for m in request.messages],
            ),
            max_tokens=request.max_tokens,
            temperature=temperature,
            tools=wire_tools(request.tools) if request.tools else openai.omit,
            stream=True,
            stream_options=openai.omit if self.name in NO_STREAM_OPTIONS else _WITH_USAGE,
            extra_headers=self._extra_headers(),
        )

    async def probe(self) -> float:
        """List the models: cheap, needs the key, and proves the base URL is right.

        A service that lists no models is asked for one token of chat instead.
        """
        started = time.perf_counter()
        if self.preset.capabilities.models:
            await self.client().models.list(extra_headers=self._extra_headers())
        else:
            await self.client().chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": "ping"}],
                max_tokens=1,
                extra_headers=self._extra_headers(),
            )
        return time.perf_counter() - started

    async def models(self) -> list[str]:
        """The ids of the models the service serves, every page of them, sorted."""
        self.require(self.preset.capabilities.models, "model list")
        pages = self.client().models.list(extra_headers=self._extra_headers())
        return sorted({model.id async for model in pages})

    async def embed(self, texts: Sequence[str], model: str = "") -> list[list[float]]:
        """One vector per text, in the order given."""
        self.require(self.preset.capabilities.embeddings, "embeddings")
        if not texts:
            return []
        response = await self.client().embeddings.create(
            model=model or self._embedding_model(),
            input=list(texts),
            encoding_format="float",  # not every compatible server can send base64
            extra_headers=self._extra_headers(),
        )
        return [item.embedding for item in sorted(response.data, key=lambda d: d.index)]

    def _embedding_model(self) -> str:
        if self.name in EMBEDDING_MODELS:
            return EMBEDDING_MODELS[self.name]
        raise PresetError(
            f"{self.preset.display_name} ({self.name}) has no default embedding model: "
            "name one (the service's docs list them)"
        )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()


def wire_tools(tools: Iterable[Tool]) -> list[ChatCompletionToolParam]:
    """Tools in Chat Completions' shape: each a function with a JSON schema."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


class _PendingCalls:
    """Tool calls whose fragments are still arriving, in the order they began."""

    def __init__(self) -> None:
        self._calls: list[list[str]] = []  # [id, name, arguments so far] per call
        self._by_index: dict[int, list[str]] = {}

    def add(self, fragments: Iterable[ChoiceDeltaToolCall]) -> None:
        for position, fragment in enumerate(fragments):
            # Some compatible servers leave out the index when they send a call whole, or give
            # every call index 0; a fresh id then marks a new call, not more of the last one.
            index = position if fragment.index is None else fragment.index
            call = self._by_index.get(index)
            if call is None or (fragment.id and call[0] and fragment.id != call[0]):
                call = self._by_index[index] = ["", "", ""]
                self._calls.append(call)
            function = fragment.function
            call[0] = call[0] or fragment.id or ""
            call[1] = call[1] or (function.name if function else None) or ""
            call[2] += (function.arguments if function else None) or ""

    def whole(self) -> list[ToolCall]:
        """Every gathered call, in the order they began, forgotten once handed out."""
        calls = [ToolCall(i, n, a or "{}") for i, n, a in self._calls]
        self._calls.clear()
        self._by_index.clear()
        return calls


def _query_value(path: str, name: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(path).query).get(name, [""])[0]
