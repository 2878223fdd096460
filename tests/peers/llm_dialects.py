"""The wire formats of the local LLM service: what OpenAI and Anthropic send, byte for byte.

A ``Dialect`` turns a scripted ``Reply`` into one service family's bodies, server-sent events,
error bodies and headers; ``llm_server.LLMServer`` picks the dialect per request and paces the
frames. Shapes follow the services' API references (Chat Completions chunks with
``delta.tool_calls[i].function.arguments`` pieces; Messages events with ``tool_use`` blocks and
``input_json_delta`` pieces).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

Ending = Literal["complete", "hang", "reset", "malformed", "error"]


@dataclass(frozen=True)
class ToolCall:
    """A function call in a reply; its JSON arguments stream in ``pieces`` deltas."""

    name: str
    arguments: Mapping[str, Any]
    pieces: int = 3

    def argument_pieces(self) -> list[str]:
        text = dumps(self.arguments)
        size = max(1, -(-len(text) // max(1, self.pieces)))
        return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass(frozen=True)
class Reply:
    """A successful answer: the text in ``deltas`` (one SSE event each when streamed), then tools.

    ``end`` breaks the answer after its last delta: ``hang`` (send nothing more, keep the socket
    open), ``reset`` (abort the connection), ``malformed`` (one broken SSE event, then the rest),
    ``error`` (the service's in-stream error event, then the end of the stream). An answer that
    is not streamed breaks the same way: headers then silence, half the body then a reset,
    truncated JSON, the service's 500 body. On ``/models`` and ``/embeddings`` a Reply just means
    "answer normally".
    """

    deltas: Sequence[str] = ("Hello", "!")
    tool_calls: Sequence[ToolCall] = ()
    delay: float = 0.0  # seconds between two deltas
    first_delay: float = 0.0  # seconds before the first delta (after the headers when streamed)
    end: Ending = "complete"
    header_delay: float = 0.0  # seconds before the status line and headers
    input_tokens: int | None = None  # reported usage; default: words in the prompt
    output_tokens: int | None = None  # default: one per delta and per tool-call piece

    def content_events(self) -> int:
        return len(self.deltas) + sum(len(c.argument_pieces()) + 1 for c in self.tool_calls)


# --- Wire formats -------------------------------------------------------------------------------

Refusal = tuple[int, str]  # an HTTP status and the message of the service's error body
FINGERPRINT = "fp_peer0001"


def dumps(data: Any) -> str:
    """JSON as the services send it: compact, UTF-8 left unescaped."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Exchange:
    """What one answer needs besides the reply: its serial (for ids), model and token counts."""

    serial: int
    model: str
    created: int
    input_tokens: int
    output_tokens: int
    include_usage: bool
    obfuscate: bool


@dataclass(frozen=True)
class Frame:
    """One server-sent event; ``content`` ones carry model output and are paced by the reply."""

    data: bytes
    content: bool = False


class Dialect(Protocol):
    """The shapes one service family uses for bodies, events, errors and headers."""

    api: Literal["openai", "anthropic"]

    def refuse(self, headers: Mapping[str, str], api_key: str | None) -> Refusal | None: ...
    def validate(self, route: str, body: Any) -> Refusal | None: ...
    def headers(self, serial: int) -> dict[str, str]: ...
    def error(self, status: int, message: str | None, serial: int) -> dict[str, Any]: ...
    def models(self, names: Sequence[str]) -> dict[str, Any]: ...
    def message(self, reply: Reply, ex: Exchange) -> dict[str, Any]: ...
    def frames(self, reply: Reply, ex: Exchange) -> list[Frame]: ...
    def malformed_frame(self, ex: Exchange) -> bytes: ...
    def error_frame(self) -> bytes: ...


def _missing_in_tool(tool: Any) -> str | None:
    """The first field a Chat Completions tool lacks, as the error names it."""
    if not isinstance(tool, dict) or "type" not in tool:
        return "type"
    function = tool.get("function")
    if not isinstance(function, dict):
        return "function"
    return None if "name" in function else "function.name"


def _mask(key: str) -> str:
    return f"{key[:3]}{'*' * max(0, len(key) - 7)}{key[-4:]}" if len(key) > 8 else "***"


class OpenAIDialect:
    """OpenAI Chat Completions, models and embeddings, as api.openai.com answers them."""

    api: Literal["openai", "anthropic"] = "openai"
    ERRORS: Mapping[int, tuple[str, str | None, str]] = {
        400: ("invalid_request_error", None, "Invalid request: check the request body."),
        401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
        403: (
            "invalid_request_error",
            "unsupported_country_region_territory",
            "Country, region, or territory not supported",
        ),
        404: (
            "invalid_request_error",
            "model_not_found",
            "The model does not exist or you do not have access to it.",
        ),
        429: (
            "requests",
            "rate_limit_exceeded",
            "Rate limit reached for requests per min (RPM). Please try again later.",
        ),
        500: (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        503: ("server_error", None, "The engine is currently overloaded, please try again later"),
    }

    def refuse(self, headers: Mapping[str, str], api_key: str | None) -> Refusal | None:
        sent = headers.get("Authorization", "")
        if api_key is None or sent == f"Bearer {api_key}":
            return None
        if not sent:
            return 401, (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        return 401, (
            f"Incorrect API key provided: {_mask(sent.removeprefix('Bearer '))}. You can find "
            "your API key at https://platform.openai.com/account/api-keys."
        )

    def validate(self, route: str, body: Any) -> Refusal | None:
        if not isinstance(body, dict):
            return 400, "We could not parse the JSON body of your request."
        if not body.get("model"):
            return 400, "you must provide a model parameter"
        if route == "chat" and not body.get("messages"):
            return 400, "[] is too short - 'messages'"
        if route == "embeddings" and not body.get("input"):
            return 400, "'input' is a required property"
        if route == "chat" and "tools" in body:
            return self._refuse_tools(body["tools"])
        return None

    @staticmethod
    def _refuse_tools(tools: Any) -> Refusal | None:
        """What Chat Completions says of a ``tools`` list it cannot use (one fault at a time)."""
        if not isinstance(tools, list) or not tools:
            return 400, "[] is too short - 'tools'"
        for i, tool in enumerate(tools):
            missing = _missing_in_tool(tool)
            if missing:
                return 400, f"Missing required parameter: 'tools[{i}].{missing}'."
        return None

    def headers(self, serial: int) -> dict[str, str]:
        return {
            "x-request-id": f"req_{serial:032x}",
            "openai-version": "2020-10-01",
            "openai-processing-ms": "1",
        }

    def error(self, status: int, message: str | None, serial: int) -> dict[str, Any]:
        fallback = ("server_error" if status >= 500 else "invalid_request_error", None, "Error")
        kind, code, default = self.ERRORS.get(status, fallback)
        return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}

    def models(self, names: Sequence[str]) -> dict[str, Any]:
        data = [
            {"id": n, "object": "model", "created": 1700000000, "owned_by": "system"} for n in names
        ]
        return {"object": "list", "data": data}

    def embeddings(self, body: Any, size: int = 8) -> dict[str, Any]:
        """Vectors of ``size`` numbers, or of the ``dimensions`` the request asks for."""
        texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        base64ed = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vector = embedding(str(text), int(body.get("dimensions") or size))
            data.append(
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": embedding_base64(vector) if base64ed else vector,
                }
            )
        used = sum(len(str(t).split()) for t in texts)
        return {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": used, "total_tokens": used},
        }

    def message(self, reply: Reply, ex: Exchange) -> dict[str, Any]:
        text = "".join(reply.deltas)
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text or not reply.tool_calls else None,
            "refusal": None,
            "annotations": [],
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self._call_id(ex, n),
                    "type": "function",
                    "function": {"name": call.name, "arguments": dumps(call.arguments)},
                }
                for n, call in enumerate(reply.tool_calls)
            ]
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": "tool_calls" if reply.tool_calls else "stop",
        }
        return {
            "id": self._id(ex),
            "object": "chat.completion",
            "created": ex.created,
            "model": ex.model,
            "choices": [choice],
            "usage": self._usage(ex),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }

    def frames(self, reply: Reply, ex: Exchange) -> list[Frame]:
        role: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        if reply.tool_calls and not reply.deltas:
            role["content"] = None
        frames = [Frame(self._chunk(ex, role))]
        frames += [Frame(self._chunk(ex, {"content": t}), True) for t in reply.deltas]
        for n, call in enumerate(reply.tool_calls):
            head = {
                "index": n,
                "id": self._call_id(ex, n),
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            frames.append(Frame(self._chunk(ex, {"tool_calls": [head]}), True))
            frames += [
                Frame(
                    self._chunk(
                        ex, {"tool_calls": [{"index": n, "function": {"arguments": piece}}]}
                    ),
                    True,
                )
                for piece in call.argument_pieces()
            ]
        finish = "tool_calls" if reply.tool_calls else "stop"
        frames.append(Frame(self._chunk(ex, {}, finish)))
        if ex.include_usage:
            usage = {**self._base(ex), "choices": [], "usage": self._usage(ex)}
            frames.append(Frame(self._event(usage)))
        frames.append(Frame(b"data: [DONE]\n\n"))
        return frames

    def malformed_frame(self, ex: Exchange) -> bytes:
        head = f'{{"id":"{self._id(ex)}","object":"chat.completion.chunk","choices":[{{'
        return f"data: {head}\n\n".encode()

    def error_frame(self) -> bytes:
        return self._event(self.error(500, None, 0))

    def _chunk(self, ex: Exchange, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk: dict[str, Any] = {**self._base(ex), "choices": [choice]}
        if ex.include_usage:
            chunk["usage"] = None
        if ex.obfuscate:
            chunk["obfuscation"] = "pE3x"  # random padding upstream; clients must ignore it
        return self._event(chunk)

    def _base(self, ex: Exchange) -> dict[str, Any]:
        return {
            "id": self._id(ex),
            "object": "chat.completion.chunk",
            "created": ex.created,
            "model": ex.model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }

    def _usage(self, ex: Exchange) -> dict[str, Any]:
        return {
            "prompt_tokens": ex.input_tokens,
            "completion_tokens": ex.output_tokens,
            "total_tokens": ex.input_tokens + ex.output_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    @staticmethod
    def _event(data: Any) -> bytes:
        return f"data: {dumps(data)}\n\n".encode()

    @staticmethod
    def _id(ex: Exchange) -> str:
        return f"chatcmpl-peer{ex.serial:025d}"

    @staticmethod
    def _call_id(ex: Exchange, n: int) -> str:
        return f"call_{ex.serial:012d}{n:012d}"


class AnthropicDialect:
    """Anthropic Messages and models, as api.anthropic.com answers them."""

    api: Literal["openai", "anthropic"] = "anthropic"
    ERRORS: Mapping[int, tuple[str, str]] = {
        400: ("invalid_request_error", "Invalid request: check the request body."),
        401: ("authentication_error", "invalid x-api-key"),
        403: (
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404: ("not_found_error", "The requested resource could not be found."),
        413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
        500: ("api_error", "Internal server error"),
        503: ("api_error", "Service unavailable"),
        529: ("overloaded_error", "Overloaded"),
    }

    def refuse(self, headers: Mapping[str, str], api_key: str | None) -> Refusal | None:
        if "anthropic-version" not in headers:
            return 400, "anthropic-version: header is required"
        # The docs name x-api-key; the anthropic SDK (2.x) sends its api_key as a Bearer token.
        sent = headers.get("x-api-key") or headers.get("Authorization", "").removeprefix("Bearer ")
        if api_key is None or sent == api_key:
            return None
        return 401, "x-api-key header is required" if not sent else "invalid x-api-key"

    def validate(self, route: str, body: Any) -> Refusal | None:
        if not isinstance(body, dict):
            return 400, "There was an error parsing the body of your request."
        for name in ("model", "max_tokens", "messages"):
            if name not in body:
                return 400, f"{name}: Field required"
        # No check on `role: "system"` messages: the 2.x SDK's MessageParam admits them, so
        # the service may now take them. Tests assert on the recorded `system` field instead.
        for i, tool in enumerate(body.get("tools") or ()):
            for name in ("name", "input_schema"):
                if not isinstance(tool, dict) or name not in tool:
                    return 400, f"tools.{i}.custom.{name}: Field required"
        return None

    def headers(self, serial: int) -> dict[str, str]:
        return {
            "request-id": self._request_id(serial),
            "anthropic-organization-id": "00000000-0000-4000-8000-000000000000",
        }

    def error(self, status: int, message: str | None, serial: int) -> dict[str, Any]:
        fallback = ("api_error" if status >= 500 else "invalid_request_error", "Error")
        kind, default = self.ERRORS.get(status, fallback)
        return {
            "type": "error",
            "error": {"type": kind, "message": message or default},
            "request_id": self._request_id(serial),
        }

    def models(self, names: Sequence[str]) -> dict[str, Any]:
        data = [
            {"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"}
            for n in names
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }

    def message(self, reply: Reply, ex: Exchange) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if reply.deltas or not reply.tool_calls:
            content.append({"type": "text", "text": "".join(reply.deltas)})
        content += [
            {
                "type": "tool_use",
                "id": self._tool_id(ex, n),
                "name": call.name,
                "input": dict(call.arguments),
            }
            for n, call in enumerate(reply.tool_calls)
        ]
        return {
            **self._start(ex),
            "content": content,
            "stop_reason": self._stop(reply),
            "usage": self._usage(ex, ex.output_tokens),
        }

    def frames(self, reply: Reply, ex: Exchange) -> list[Frame]:
        start = {**self._start(ex), "content": [], "stop_reason": None, "usage": self._usage(ex, 1)}
        frames = [Frame(self._event({"type": "message_start", "message": start}))]
        blocks: list[tuple[dict[str, Any], str, list[str]]] = []
        if reply.deltas or not reply.tool_calls:
            blocks.append(({"type": "text", "text": ""}, "text_delta", list(reply.deltas)))
        for n, call in enumerate(reply.tool_calls):
            block = {"type": "tool_use", "id": self._tool_id(ex, n), "name": call.name, "input": {}}
            blocks.append((block, "input_json_delta", ["", *call.argument_pieces()]))
        for index, (block, kind, pieces) in enumerate(blocks):
            frames.append(
                Frame(
                    self._event(
                        {"type": "content_block_start", "index": index, "content_block": block}
                    )
                )
            )
            field = "text" if kind == "text_delta" else "partial_json"
            frames += [
                Frame(
                    self._event(
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": kind, field: piece},
                        }
                    ),
                    True,
                )
                for piece in pieces
            ]
            frames.append(Frame(self._event({"type": "content_block_stop", "index": index})))
        frames.insert(2, Frame(self._event({"type": "ping"})))
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop(reply), "stop_sequence": None},
            "usage": {"output_tokens": ex.output_tokens},
        }
        frames += [Frame(self._event(delta)), Frame(self._event({"type": "message_stop"}))]
        return frames

    def malformed_frame(self, ex: Exchange) -> bytes:
        return b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"del\n\n'

    def error_frame(self) -> bytes:
        return self._event(
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        )

    def _start(self, ex: Exchange) -> dict[str, Any]:
        return {
            "id": f"msg_01peer{ex.serial:018d}",
            "type": "message",
            "role": "assistant",
            "model": ex.model,
            "stop_sequence": None,
        }

    @staticmethod
    def _stop(reply: Reply) -> str:
        return "tool_use" if reply.tool_calls else "end_turn"

    @staticmethod
    def _usage(ex: Exchange, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": ex.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }

    @staticmethod
    def _event(data: Mapping[str, Any]) -> bytes:
        return f"event: {data['type']}\ndata: {dumps(data)}\n\n".encode()

    @staticmethod
    def _request_id(serial: int) -> str:
        return f"req_011peer{serial:016d}"

    @staticmethod
    def _tool_id(ex: Exchange, n: int) -> str:
        return f"toolu_01peer{ex.serial:010d}{n:06d}"


OPENAI = OpenAIDialect()
ANTHROPIC = AnthropicDialect()


def embedding(text: str, dimensions: int = 8) -> list[float]:
    """A deterministic vector for ``text``: the same text always gets the same vector."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 127.5) / 127.5, 6) for i in range(dimensions)]


def embedding_base64(vector: Sequence[float]) -> str:
    """The vector as OpenAI sends it for ``encoding_format="base64"``: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
