"""A local LLM service for tests: OpenAI Chat Completions and Anthropic Messages on one port.

It sends what the hosted services send (JSON bodies, server-sent events, error bodies, the headers
a client reads), so the real ``openai`` and ``anthropic`` SDKs can be pointed at it. A test scripts
the answers, queues faults per request, and reads back every request the server received::

    async with LLMServer(api_key="sk-test") as server:
        server.script(reply=["Hello", " chat", "!"], delay=0.01)   # every request from now on
        server.queue(Fail(429, retry_after=2), Reply(["ok"]))       # the next two, in order
        client = openai.AsyncOpenAI(base_url=server.url("/v1"), api_key="sk-test")
        ...
        assert server.requests[0].headers["Authorization"] == "Bearer sk-test"

Routes go by the end of the path, so any base prefix works (``/v1``, ``/openai/v1``, ``/api/v1``,
``/v1beta/openai``): ``.../chat/completions``, ``.../messages``, ``.../models``, ``.../embeddings``.
``/messages`` is answered in Anthropic's shapes; ``/models`` and unknown paths in Anthropic's when
the request carries ``anthropic-version``; everything else in OpenAI's.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import struct
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from aiohttp import web
from multidict import CIMultiDictProxy

Ending = Literal["complete", "hang", "reset", "malformed", "error"]
Outcome = Literal["pending", "done", "client_gone"]
Route = Literal["chat", "messages", "models", "embeddings"]

HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    "<body><h1>Sign in to continue</h1></body></html>\n"
)


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


@dataclass(frozen=True)
class Fail:
    """An error status with the service's error body; ``retry_after`` seconds go in Retry-After."""

    status: int
    retry_after: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class Hang:
    """Read the request and never answer: no status line, no headers."""


@dataclass(frozen=True)
class Html:
    """A 200 with an HTML page, as a login portal or a web UI at the wrong URL sends."""


Behaviour = Reply | Fail | Hang | Html


@dataclass
class ReceivedRequest:
    """One request as the server received it, and how the exchange ended."""

    serial: int  # 1 for the first request the server received
    method: str
    path: str
    query: Mapping[str, str]
    headers: CIMultiDictProxy[str]
    body: Any  # the decoded JSON body; None when there was none or it was not JSON
    api: Literal["openai", "anthropic"]
    outcome: Outcome = "pending"  # client_gone: the client hung up before the answer was over
    _over: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    @property
    def stream(self) -> bool:
        return isinstance(self.body, dict) and self.body.get("stream") is True

    def settle(self, outcome: Outcome) -> None:
        """Record how the exchange ended; the first word stands."""
        if self.outcome == "pending":
            self.outcome = outcome
            self._over.set()

    async def ended(self, timeout: float = 5.0) -> Outcome:
        """Wait until the exchange is over (a hang-up lands a moment after the client left)."""
        async with asyncio.timeout(timeout):
            await self._over.wait()
        return self.outcome


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

    def embeddings(self, body: Any) -> dict[str, Any]:
        texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        base64ed = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(texts):
            vector = embedding(str(text), int(body.get("dimensions") or 8))
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


class LLMServer:
    """OpenAI- and Anthropic-style endpoints on 127.0.0.1 at a free port; see the module doc.

    ``api_key`` is what clients must present (``Authorization: Bearer`` for OpenAI, ``x-api-key``
    or ``Authorization: Bearer`` for Anthropic); None accepts anything, as local servers do.
    A request refused for its key, its headers or its body consumes no queued behaviour.
    """

    def __init__(self, *, api_key: str | None = "test-key", models: Sequence[str] = ("m",)) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.requests: list[ReceivedRequest] = []
        self.default: Behaviour = Reply()
        self._queue: deque[Behaviour] = deque()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._released = asyncio.Event()
        self._arrived = asyncio.Condition()

    def url(self, prefix: str = "") -> str:
        """The base URL to give a client: ``url("/v1")`` for OpenAI, ``url()`` for Anthropic."""
        return f"http://127.0.0.1:{self._port}{prefix}"

    def script(
        self,
        reply: Sequence[str] | Behaviour = ("Hello", "!"),
        *,
        delay: float = 0.0,
        first_delay: float = 0.0,
        tool_calls: Sequence[ToolCall] = (),
        end: Ending = "complete",
    ) -> None:
        """Answer every request that no queued behaviour claims with this reply.

        ``reply`` may also be a whole behaviour, ``script(Fail(503))`` for a service that is
        down until told otherwise; the keyword options then do not apply.
        """
        if isinstance(reply, Reply | Fail | Hang | Html):
            self.default = reply
        else:
            self.default = Reply(tuple(reply), tuple(tool_calls), delay, first_delay, end)

    def queue(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with these, one each, in order; then the default again."""
        self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """Queued behaviours not yet used by a request."""
        return len(self._queue)

    async def wait_for_requests(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """Wait until ``count`` requests have arrived in total."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)
        return self.requests

    def release(self) -> None:
        """End every hang, now and later, by aborting its connection."""
        self._released.set()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Cancelling a handler when its client hangs up is how `client_gone` is noticed.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self._port = self._runner.addresses[0][1]

    async def close(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = _json_or_none(await request.read())
        route = _route(request.path)
        dialect = _dialect(route, request)
        seen = ReceivedRequest(
            len(self.requests) + 1,
            request.method,
            request.path,
            dict(request.query),
            request.headers,
            body,
            dialect.api,
        )
        async with self._arrived:
            self.requests.append(seen)
            self._arrived.notify_all()
        try:
            response = await self._answer(request, seen, dialect, route)
        except (asyncio.CancelledError, ConnectionError):
            seen.settle("client_gone")
            raise
        seen.settle("done")
        return response

    async def _answer(
        self, request: web.Request, seen: ReceivedRequest, dialect: Dialect, route: Route | None
    ) -> web.StreamResponse:
        refusal = dialect.refuse(request.headers, self.api_key)
        if refusal is None and route is None:
            refusal = (404, f"Invalid URL ({request.method} {request.path})")
        if refusal is None and route in ("chat", "messages", "embeddings"):
            refusal = dialect.validate(route, seen.body)
        if refusal is not None:
            return self._fail(dialect, Fail(refusal[0], message=refusal[1]), seen.serial)
        behaviour = self._queue.popleft() if self._queue else self.default
        match behaviour:
            case Hang():
                return await self._silence(request, seen)
            case Fail():
                return self._fail(dialect, behaviour, seen.serial)
            case Html():
                return web.Response(text=HTML_PAGE, content_type="text/html")
            case Reply():
                return await self._reply(request, seen, dialect, route, behaviour)

    def _fail(self, dialect: Dialect, fail: Fail, serial: int) -> web.Response:
        headers = dialect.headers(serial)
        if fail.retry_after is not None:
            headers["retry-after"] = f"{fail.retry_after:g}"
        body = dialect.error(fail.status, fail.message, serial)
        return web.Response(
            status=fail.status, text=dumps(body), headers=headers, content_type="application/json"
        )

    async def _reply(
        self,
        request: web.Request,
        seen: ReceivedRequest,
        dialect: Dialect,
        route: Route | None,
        reply: Reply,
    ) -> web.StreamResponse:
        serial = seen.serial
        await _pause(reply.header_delay)
        if route == "models":
            return web.json_response(
                dialect.models(self.models), headers=dialect.headers(serial), dumps=dumps
            )
        if route == "embeddings":
            return web.json_response(
                OPENAI.embeddings(seen.body), headers=dialect.headers(serial), dumps=dumps
            )
        exchange = _exchange(serial, seen.body, reply)
        if seen.stream:
            return await self._stream(request, seen, dialect, reply, exchange)
        return await self._whole(request, seen, dialect, reply, exchange)

    async def _whole(
        self,
        request: web.Request,
        seen: ReceivedRequest,
        dialect: Dialect,
        reply: Reply,
        exchange: Exchange,
    ) -> web.StreamResponse:
        await _pause(reply.first_delay + reply.delay * max(0, reply.content_events() - 1))
        if reply.end == "error":
            return self._fail(dialect, Fail(500), exchange.serial)
        body = dumps(dialect.message(reply, exchange)).encode()
        if reply.end == "malformed":
            body = body[: len(body) // 2]
        response = web.StreamResponse(headers=dialect.headers(exchange.serial))
        response.content_type = "application/json"
        response.content_length = len(body)
        await response.prepare(request)
        if reply.end == "hang":
            return await self._silence(request, seen)
        if reply.end == "reset":
            await response.write(body[: len(body) // 2])
            return self._abort(request, seen)
        await response.write(body)
        await response.write_eof()
        return response

    async def _stream(
        self,
        request: web.Request,
        seen: ReceivedRequest,
        dialect: Dialect,
        reply: Reply,
        exchange: Exchange,
    ) -> web.StreamResponse:
        frames = dialect.frames(reply, exchange)
        headers = {**dialect.headers(exchange.serial), "Cache-Control": "no-cache"}
        response = web.StreamResponse(headers=headers)
        response.content_type = "text/event-stream"
        response.charset = "utf-8"
        await response.prepare(request)
        # Faults strike right after the last frame that carries model output.
        cut = max((i for i, frame in enumerate(frames) if frame.content), default=0)
        pauses = iter([reply.first_delay])
        for i, frame in enumerate(frames):
            if frame.content:
                await _pause(next(pauses, reply.delay))
            await response.write(frame.data)
            if i == cut and reply.end != "complete":
                if reply.end == "malformed":
                    await response.write(dialect.malformed_frame(exchange))
                elif reply.end == "error":
                    await response.write(dialect.error_frame())
                    break
                elif reply.end == "hang":
                    return await self._silence(request, seen)
                else:
                    return self._abort(request, seen)
        await response.write_eof()
        return response

    async def _silence(self, request: web.Request, seen: ReceivedRequest) -> web.StreamResponse:
        await self._released.wait()
        return self._abort(request, seen)

    def _abort(self, request: web.Request, seen: ReceivedRequest) -> web.StreamResponse:
        seen.settle("done")  # before the abort: the cancellation it causes is ours, not theirs
        if request.transport is not None:
            request.transport.abort()
        return web.Response()


async def _pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _route(path: str) -> Route | None:
    suffixes: dict[str, Route] = {
        "/chat/completions": "chat",
        "/messages": "messages",
        "/models": "models",
        "/embeddings": "embeddings",
    }
    return next((r for s, r in suffixes.items() if path.rstrip("/").endswith(s)), None)


def _dialect(route: Route | None, request: web.Request) -> Dialect:
    if route == "messages":
        return ANTHROPIC
    if route in ("models", None) and "anthropic-version" in request.headers:
        return ANTHROPIC
    return OPENAI


def _exchange(serial: int, body: Any, reply: Reply) -> Exchange:
    options = body.get("stream_options") or {}
    return Exchange(
        serial=serial,
        model=str(body.get("model")),
        created=int(time.time()),
        input_tokens=_prompt_words(body) if reply.input_tokens is None else reply.input_tokens,
        output_tokens=reply.content_events()
        if reply.output_tokens is None
        else reply.output_tokens,
        include_usage=options.get("include_usage") is True,
        obfuscate=options.get("include_obfuscation") is not False,
    )


def _prompt_words(body: Mapping[str, Any]) -> int:
    parts: list[Any] = [body.get("system")]
    parts += [m.get("content") for m in body.get("messages", []) if isinstance(m, dict)]
    texts: list[str] = []
    for part in parts:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, list):
            texts += [b.get("text", "") for b in part if isinstance(b, dict)]
    return max(1, sum(len(t.split()) for t in texts))


def embedding(text: str, dimensions: int = 8) -> list[float]:
    """A deterministic vector for ``text``: the same text always gets the same vector."""
    digest = hashlib.sha256(text.encode()).digest()
    return [round((digest[i % len(digest)] - 127.5) / 127.5, 6) for i in range(dimensions)]


def embedding_base64(vector: Sequence[float]) -> str:
    """The vector as OpenAI sends it for ``encoding_format="base64"``: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
