"""OpenAI Chat Completions, and every server that speaks it, on the official ``openai`` SDK.

The preset gives the base URL and headers (through ``request_for``, the one place that knows
them); the SDK's own retries are off (``max_retries=0``) so the router's retry policy is the
only one. The SDK is imported on first use: it costs import time the agent's start must not pay.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from agent.providers.base import ChatRequest, Delta, Finished, StreamItem, Usage
from agent.providers.sdk_provider import SdkProvider

if TYPE_CHECKING:
    import openai
    from openai.types.chat import ChatCompletionMessageParam

_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}


class OpenAICompatible(SdkProvider):
    """A provider on the OpenAI SDK for one preset (OpenAI, Groq, Ollama, vLLM, ...)."""

    _client: openai.AsyncOpenAI | None = None  # built on first use: importing the SDK is slow

    def client(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai

            connect, read = self._timeouts
            self._client = openai.AsyncOpenAI(
                base_url=self.preset.base_url,
                api_key=self._api_key or "unused",
                default_headers=self._headers,
                max_retries=0,
                timeout=openai.Timeout(read, connect=connect),
            )
        return self._client

    def _extra_headers(self) -> dict[str, Any] | None:
        """Per call, as the SDK wants it: no Authorization when the preset sends none."""
        if "Authorization" in self._headers:
            return None
        import openai

        return {"Authorization": openai.Omit()}  # x-api-key, api-key, or no auth at all

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        import openai

        temperature = openai.omit if request.temperature is None else request.temperature
        chunks = await self.client().chat.completions.create(
            model=request.model or self.model,
            messages=cast(
                "list[ChatCompletionMessageParam]",
                [{"role": m.role, "content": m.content} for m in request.messages],
            ),
            max_tokens=request.max_tokens,
            temperature=temperature,
            stream=True,
            stream_options={"include_usage": True},
            extra_headers=self._extra_headers(),
        )
        reason = "stop"
        usage = Usage()
        async for chunk in chunks:
            if chunk.usage is not None:
                usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices[:1]:
                if choice.delta.content:
                    yield Delta(choice.delta.content)
                if choice.finish_reason:
                    reason = _FINISH.get(choice.finish_reason, "stop")
        yield Finished(reason, usage)  # type: ignore[arg-type]

    async def probe(self) -> float:
        """List the models: cheap, needs the key, and proves the base URL is right."""
        started = time.perf_counter()
        await self.client().models.list(extra_headers=self._extra_headers())
        return time.perf_counter() - started

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
