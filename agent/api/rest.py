"""The REST API: aiohttp on 127.0.0.1, a bearer token, and the agent's own request handler.

Every action is the control socket's request (``Say``, ``ApproveAction``...) handed to
``Agent.handle``, so REST and the socket can never disagree; its ``Ok``/``Err`` becomes the
HTTP answer. Bodies are decoded through the Structs of ``bodies.py`` (a bad one gets a 4xx
with the reason), the size of a body is capped, and every answer, refusals included, is JSON.
The token is compared in constant time and never logged (there is no access log).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, get_args

import msgspec
from aiohttp import web

from agent import __version__
from agent.api import bodies as b
from agent.api.config import RestSection
from agent.api.external import PROTOCOL, UNAVAILABLE, ExternalBrain, Welcome
from agent.api.openapi import document
from agent.api.routes import OPERATIONS
from agent.director.inputs import event_input
from agent.director.queue import QueueFull
from agent.protocol.messages import (
    ApproveAction,
    EditAction,
    Err,
    Event,
    GetSnapshot,
    HealthState,
    Interrupt,
    Mode,
    MoveAction,
    Ok,
    RejectAction,
    Reply,
    Request,
    Say,
    SetMode,
    SkipCurrent,
    Snapshot,
    TriggerExpression,
)
from agent.protocol.text import inert
from agent.server.socket_dir import ServerError
from agent.server.token import load_or_create_token

if TYPE_CHECKING:
    from agent.daemon import Agent

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MODE_HINT = f" (the modes: {', '.join(get_args(Mode))})"
T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refused(Exception):
    """A request the API answers with ``status`` and ``reason`` (as ``{"error": reason}``)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RestServer:
    """The REST API and the external brain's websocket of one agent (see the module doc)."""

    def __init__(self, agent: Agent, section: RestSection, *, token: str = "") -> None:
        self._agent = agent
        self._section = section
        self._token = token
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.external = ExternalBrain(
            agent.queue, self._report_external, self._welcome, max_message=section.max_body_bytes
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def token_path(self) -> Path:
        file = self._section.token_file
        return Path(file) if file else self._agent.state_dir / "rest.token"

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1, or report on the health row ``rest`` why it cannot.

        A busy port or an unreadable token file must not keep the show from starting: the
        control socket still works, and the row says what to fix.
        """
        if not self._section.enabled:
            self._report("rest", "off", "not configured: set [rest] enabled = true")
            return
        try:
            self._token = self._token or load_or_create_token(self.token_path)
        except ServerError as exc:
            self._cannot_start(str(exc))
            return
        try:
            await self._listen()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._cannot_start(
                f"cannot listen on {HOST}:{self._section.port}: {reason}; set [rest] port"
            )
            await self.close()
            return
        self.external.url = f"ws://{HOST}:{self.port}/v1/external"
        self._agent.bus.listen(self._on_event)
        self._report("rest", "up", f"{self.url}/v1 (token in {self.token_path})")
        self.external.report_health()
        log.info("REST API on %s/v1, OpenAPI at %s/v1/openapi.json", self.url, self.url)

    def _cannot_start(self, detail: str) -> None:
        log.warning("REST API off: %s", detail)
        self._report("rest", "down", detail)

    async def _listen(self) -> None:
        app = web.Application(
            middlewares=[self._guard], client_max_size=self._section.max_body_bytes
        )
        for op in OPERATIONS:
            app.router.add_route(op.method, op.path, getattr(self, op.handler))
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self._section.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        """Stop listening; the external brain is told the agent is stopping."""
        await self.external.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def _on_event(self, event: Event) -> None:
        if self._runner is not None:
            self.external.on_event(event)

    def _report(self, name: str, state: HealthState, detail: str) -> None:
        self._agent.supervisor.report(name, state, detail)

    def _report_external(self, state: HealthState, detail: str) -> None:
        self._report("external", state, detail)

    def _welcome(self) -> Welcome:
        agent = self._agent
        return Welcome(
            protocol=PROTOCOL,
            agent=agent.config.agent.name,
            version=__version__,
            mode=agent.queue.status.mode,
            expressions=list(agent.queue.expressions),
        )

    # --- the guard: token, refusals, JSON errors ----------------------------------------------

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self._authorized(request):
            where = f"the token in {self.token_path.name} of the agent's state directory"
            reason = f"missing or wrong token: send Authorization: Bearer <{where}>"
            return _problem(401, reason, {"WWW-Authenticate": 'Bearer realm="airi"'})
        try:
            return await handler(request)
        except Refused as exc:
            return _problem(exc.status, exc.reason)
        except web.HTTPRequestEntityTooLarge:
            limit = self._section.max_body_bytes
            return _problem(413, f"the body is larger than {limit} bytes ([rest] max_body_bytes)")
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _problem(exc.status, _http_reason(exc, request))

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self._token:
            return False
        return hmac.compare_digest(given.strip().encode(), self._token.encode())

    # --- helpers ------------------------------------------------------------------------------

    async def _ask(self, request: Request, *, refused: int = 400) -> Ok:
        """Hand a protocol request to the agent; an Err becomes the HTTP refusal."""
        reply = await self._agent.handle(request)
        return _ok_or_refuse(reply, refused)

    async def _snapshot(self) -> Snapshot:
        reply = await self._ask(GetSnapshot())
        assert reply.snapshot is not None
        return reply.snapshot

    def _known(self, action_id: str) -> None:
        if all(action.id != action_id for action in self._agent.queue.listing()):
            raise Refused(404, f"no waiting or running action {action_id!r}")

    # --- routes -------------------------------------------------------------------------------

    # --- handlers -----------------------------------------------------------------------------

    async def say(self, request: web.Request) -> web.Response:
        body = await _decode(request, b.SayBody)
        reply = await self._ask(Say(text=body.text))
        return _json(202, b.Queued(action_id=reply.detail))

    async def generate(self, request: web.Request) -> web.Response:
        # An input like any other: the director answers it in turn (after the line running
        # now), in the current mode, so in ``external`` mode the external brain writes it.
        body = await _decode(request, b.GenerateBody)
        prompt = inert(body.prompt.strip(), b.MAX_PROMPT)
        if not prompt:
            raise Refused(400, "nothing to answer: the prompt is empty")
        item = event_input("rest", "streamer", time.monotonic(), text=prompt, source="rest")
        if not self._agent.brain.offer(item):
            raise Refused(409, "the director's policy lets REST prompts go unanswered now")
        return _json(202, b.Generating(detail="the persona answers it next, in the current mode"))

    async def expression(self, request: web.Request) -> web.Response:
        body = await _decode(request, b.ExpressionBody)
        reply = await self._ask(TriggerExpression(name=body.name))
        return _json(202, b.Queued(action_id=reply.detail))

    async def motion(self, request: web.Request) -> web.Response:
        body = await _decode(request, b.MotionBody)
        return await self._stage("motion", body.name)

    async def scene(self, request: web.Request) -> web.Response:
        body = await _decode(request, b.SceneBody)
        return await self._stage("scene", body.name)

    async def _stage(self, kind: str, name: str) -> web.Response:
        # No socket request exists for these yet: they enter the queue as the control room's
        # would, and only once something can perform them.
        queue = self._agent.queue
        if kind not in queue.perform:
            raise Refused(503, UNAVAILABLE[kind])
        try:
            action = queue.submit(kind, name, "control")
        except QueueFull as exc:
            raise Refused(503, str(exc)) from None
        await queue.durable()
        return _json(202, b.Queued(action_id=action.id))

    async def queue(self, request: web.Request) -> web.Response:
        snapshot = await self._snapshot()
        return _json(200, b.QueueListing(actions=snapshot.queue))

    async def approve(self, request: web.Request) -> web.Response:
        action_id = request.match_info["action_id"]
        self._known(action_id)
        return _done(await self._ask(ApproveAction(action_id=action_id), refused=409))

    async def reject(self, request: web.Request) -> web.Response:
        action_id = request.match_info["action_id"]
        self._known(action_id)
        return _done(await self._ask(RejectAction(action_id=action_id), refused=409))

    async def skip(self, request: web.Request) -> web.Response:
        action_id = request.match_info["action_id"]
        self._known(action_id)
        current = self._agent.queue.current
        if current is None or current.id != action_id:
            raise Refused(409, f"{action_id} is not running: reject it instead")
        return _done(await self._ask(SkipCurrent(), refused=409))

    async def move(self, request: web.Request) -> web.Response:
        action_id = request.match_info["action_id"]
        body = await _decode(request, b.MoveBody)
        self._known(action_id)
        request_ = MoveAction(action_id=action_id, offset=body.offset)
        return _done(await self._ask(request_, refused=409))

    async def edit(self, request: web.Request) -> web.Response:
        action_id = request.match_info["action_id"]
        body = await _decode(request, b.EditBody)
        if not body.text.strip():
            raise Refused(400, "the new text is empty")
        self._known(action_id)
        return _done(await self._ask(EditAction(action_id=action_id, text=body.text), refused=409))

    async def skip_current(self, request: web.Request) -> web.Response:
        return _done(await self._ask(SkipCurrent(), refused=409))

    async def interrupt(self, request: web.Request) -> web.Response:
        return _done(await self._ask(Interrupt(), refused=409))

    async def mode(self, request: web.Request) -> web.Response:
        snapshot = await self._snapshot()
        return _json(200, b.ModeBody(mode=snapshot.director.mode))

    async def set_mode(self, request: web.Request) -> web.Response:
        body = await _decode(request, b.ModeBody, MODE_HINT)
        await self._ask(SetMode(mode=body.mode), refused=409)
        return _json(200, b.ModeBody(mode=self._agent.queue.status.mode))

    async def status(self, request: web.Request) -> web.Response:
        return _json(200, _status(await self._snapshot(), self.external.connected))

    async def openapi(self, request: web.Request) -> web.Response:
        doc = document(OPERATIONS, self.url)
        return _json(200, doc)

    async def external_brain(self, request: web.Request) -> web.StreamResponse:
        if not web.WebSocketResponse().can_prepare(request).ok:
            raise Refused(426, "this is the external brain's websocket: connect with Upgrade")
        return await self.external.serve(request)


# --- module helpers --------------------------------------------------------------------------


async def _decode(request: web.Request, shape: type[T], hint: str = "") -> T:
    raw = await request.read()
    try:
        return msgspec.json.decode(raw, type=shape)
    except msgspec.ValidationError as exc:
        raise Refused(400, f"bad body: {exc}{hint}") from None
    except msgspec.DecodeError:
        raise Refused(400, "the body is not JSON: send a JSON object") from None


def _ok_or_refuse(reply: Reply, refused: int) -> Ok:
    match reply:
        case Ok():
            return reply
        case Err(code="bad_request", message=message):
            raise Refused(refused, message)
        case Err(code="unauthorized", message=message):
            raise Refused(401, message)
        case Err(message=message):
            raise Refused(503, message)
    raise Refused(503, f"the agent answered {type(reply).__name__}")


def _status(snapshot: Snapshot, external: bool) -> b.Status:
    director = snapshot.director
    return b.Status(
        agent_name=snapshot.agent_name,
        agent_version=snapshot.agent_version,
        started_at=snapshot.started_at,
        mode=director.mode,
        dry_run=director.dry_run,
        approval=director.approval,
        queue_length=len(snapshot.queue),
        expression=snapshot.expression,
        caption=snapshot.caption,
        clients=snapshot.clients,
        external_brain=external,
        health=snapshot.health,
        providers=[b.ProviderSummary(p.name, p.model, p.state) for p in snapshot.providers],
    )


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=msgspec.json.encode(body),
        content_type="application/json",
        headers=headers,
    )


def _problem(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return _json(status, b.Problem(error=reason), headers)


def _done(reply: Ok) -> web.Response:
    return _json(200, b.Done(detail=reply.detail))


def _http_reason(exc: web.HTTPException, request: web.Request) -> str:
    if exc.status == 404:
        return f"no such endpoint: {request.method} {request.path} (see GET /v1/openapi.json)"
    if exc.status == 405:
        return f"{request.method} is not served at {request.path} (see GET /v1/openapi.json)"
    return exc.reason
