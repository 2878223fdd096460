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
import json
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import web
from multidict import CIMultiDictProxy

from tests.peers.llm_dialects import (
    ANTHROPIC,
    OPENAI,
    Dialect,
    Ending,
    Exchange,
    Reply,
    ToolCall,
    dumps,
    embedding,
    embedding_base64,
)

# Tests import the whole scripting vocabulary from here, wherever it is defined.
__all__ = [
    "Behaviour",
    "Fail",
    "Hang",
    "Html",
    "LLMServer",
    "ReceivedRequest",
    "Reply",
    "ToolCall",
    "embedding",
    "embedding_base64",
]

Outcome = Literal["pending", "done", "client_gone"]
Route = Literal["chat", "messages", "models", "embeddings"]

HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>"
    "<body><h1>Sign in to continue</h1></body></html>\n"
)


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


class LLMServer:
    """OpenAI- and Anthropic-style endpoints on 127.0.0.1 at a free port; see the module doc.

    ``api_key`` is what clients must present (``Authorization: Bearer`` for OpenAI, ``x-api-key``
    or ``Authorization: Bearer`` for Anthropic); None accepts anything, as local servers do.
    A request refused for its key, its headers or its body consumes no queued behaviour.
    """

    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        models: Sequence[str] = ("m",),
        embedding_size: int = 8,
    ) -> None:
        self.api_key = api_key
        self.models = list(models)
        self.embedding_size = embedding_size  # numbers per vector unless a request names more
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
                OPENAI.embeddings(seen.body, self.embedding_size),
                headers=dialect.headers(serial),
                dumps=dumps,
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
