"""What every LLM provider offers the router: one shape for both SDKs and for the offline persona.

A provider streams ``Delta`` values (and a ``ToolCall`` for each function the model calls, once
its arguments are whole) for a ``ChatRequest`` and ends with a ``Finished`` that carries usage;
``complete`` is the same call gathered into one ``Completion``. Context slots
(the viewer's name, the game, ...) travel with the request, so providers that fill templates
(the autonomous persona) and providers that prompt a model see the same facts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol

import msgspec

Role = Literal["system", "user", "assistant"]


class Message(msgspec.Struct, frozen=True):
    role: Role
    content: str


class Tool(msgspec.Struct, frozen=True):
    """A function the model may call: what it is for, and a JSON schema of its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One turn to answer. ``context`` holds facts for slots: viewer, game, topic, ..."""

    messages: tuple[Message, ...]
    model: str = ""
    max_tokens: int = 256
    temperature: float | None = None
    context: dict[str, str] = msgspec.field(default_factory=dict)
    tools: tuple[Tool, ...] = ()  # none: the request carries no tools key at all

    @property
    def system(self) -> str:
        return "\n".join(m.content for m in self.messages if m.role == "system")

    @property
    def last_user_text(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")


class Usage(msgspec.Struct, frozen=True):
    input_tokens: int = 0
    output_tokens: int = 0


class Delta(msgspec.Struct, frozen=True):
    """A piece of the reply as it streams in."""

    text: str


class ToolCall(msgspec.Struct, frozen=True):
    """The model calls a function. ``arguments`` is the whole JSON text, never a fragment."""

    id: str
    name: str
    arguments: str


class Finished(msgspec.Struct, frozen=True):
    """The end of a stream: why it ended and what it cost."""

    reason: Literal["stop", "length", "tool_calls", "error"]
    usage: Usage = Usage()


class Completion(msgspec.Struct, frozen=True):
    text: str
    finished: Finished
    provider: str
    model: str
    tool_calls: tuple[ToolCall, ...] = ()


StreamItem = Delta | ToolCall | Finished


class Unsupported(Exception):
    """The service cannot do what was asked (embeddings from Claude, tools from Perplexity...).

    It is a fact about the service, not a fault: retrying cannot help, another provider may.
    """


class Provider(Protocol):
    """An LLM, or anything that can stand in for one."""

    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]: ...

    async def probe(self) -> float:
        """Seconds a minimal request took; raises when the provider cannot answer."""
        ...


async def complete(provider: Provider, request: ChatRequest) -> Completion:
    """The whole reply of a streamed call, for callers that do not speak as it arrives."""
    parts: list[str] = []
    calls: list[ToolCall] = []
    finished = Finished("stop")
    async for item in provider.stream(request):
        match item:
            case Delta(text):
                parts.append(text)
            case ToolCall():
                calls.append(item)
            case Finished():
                finished = item
    return Completion("".join(parts), finished, provider.name, request.model, tuple(calls))
