"""The external brain: another program that writes the show's lines, over a websocket.

Protocol (JSON text frames, each an object tagged by ``type``; docs/external-brain.md):
the agent sends ``welcome`` on connect, an ``input`` for each input the director would answer,
``accepted`` or ``refused`` for each action, and ``action`` as the brain's actions change
state. The brain sends ``say``, ``expression``, ``motion``, ``scene`` and ``wait``. Actions
enter the queue with the source ``ai:external``: the ``external`` approval gate applies, and
the kill switch clears them like any AI line. One brain at a time; a second one is closed
with code 4409 and the reason.

While the mode is ``external`` and no brain is connected, ``offer`` returns False and the
director falls back to the autonomous persona; the health row ``external`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Annotated

import msgspec
from aiohttp import WSMsgType, web
from msgspec import Meta

from agent.api.bodies import Line, Name
from agent.director.inputs import Input
from agent.director.queue import ActionQueue, QueueFull, UnknownExpression
from agent.protocol.messages import (
    Action,
    ActionQueued,
    ActionUpdated,
    DirectorChanged,
    Event,
    HealthState,
)
from agent.protocol.text import inert

log = logging.getLogger(__name__)

PROTOCOL = 1
SOURCE = "ai:external"
"""Gate key ``external`` (see ``gate_key``); ``ai:`` so the kill switch clears its lines."""
CLOSE_BUSY = 4409
CLOSE_SLOW = 4408
OUTBOX = 256
"""Frames queued for a brain that does not read before it is disconnected."""
REMEMBERED_INPUTS = 200
HEARTBEAT = 20.0
FIRST_TIME = "answers a first-time viewer"
"""The flag an answer to a first-time viewer carries (the brain's own words for it)."""
CLOSE_WAIT = 2.0
"""Seconds a closing agent waits for the brain's close answer (a stop must stay quick)."""

Report = Callable[[HealthState, str], None]


# --- from the brain ------------------------------------------------------------------------


class _FromBrain(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    ref: Annotated[str, Meta(max_length=64)] = ""
    """Echoed in the agent's ``accepted``/``refused`` answer, to match them up."""


class SayAction(_FromBrain, tag="say"):
    text: Line
    reply_to: str = ""
    """The ``id`` of the input this answers: a flagged input holds the line under ``flagged``."""


class ExpressionAction(_FromBrain, tag="expression"):
    name: Name


class MotionAction(_FromBrain, tag="motion"):
    name: Name


class SceneAction(_FromBrain, tag="scene"):
    name: Name


class WaitAction(_FromBrain, tag="wait"):
    seconds: Annotated[float, Meta(ge=0, le=600)]


BrainMessage = SayAction | ExpressionAction | MotionAction | SceneAction | WaitAction
_decode = msgspec.json.Decoder(BrainMessage).decode


# --- to the brain --------------------------------------------------------------------------


class _ToBrain(msgspec.Struct, tag_field="type", omit_defaults=True, kw_only=True):
    pass


class Welcome(_ToBrain, tag="welcome"):
    protocol: int
    agent: str
    version: str
    mode: str
    expressions: list[str]


class InputOut(_ToBrain, tag="input"):
    """Something the agent would answer now (the director's ``Input``, with an id)."""

    id: str
    source: str
    kind: str
    ts: float
    author: str = ""
    text: str = ""
    platform: str = ""
    flags: list[str] = []
    amount: int = 0
    detail: str = ""
    flagged: str = ""


class Accepted(_ToBrain, tag="accepted"):
    action_id: str
    state: str
    ref: str = ""


class Refused(_ToBrain, tag="refused"):
    reason: str
    ref: str = ""


class ActionChanged(_ToBrain, tag="action"):
    action: Action


_encode = msgspec.json.Encoder().encode


class ExternalBrain:
    """The one connected external brain, if any (see the module docstring)."""

    def __init__(
        self,
        queue: ActionQueue,
        report: Report,
        welcome: Callable[[], Welcome],
        *,
        max_message: int = 16384,
    ) -> None:
        self._queue = queue
        self._report = report
        self._welcome = welcome
        self._max_message = max_message
        self._outbox: asyncio.Queue[str] | None = None
        self._socket: web.WebSocketResponse | None = None
        self._closer: asyncio.Task[bool] | None = None
        """Closes a brain that stopped reading; set once, so it is closed once."""
        self._peer = ""
        self._inputs: OrderedDict[str, str] = OrderedDict()
        self.url = ""

    @property
    def connected(self) -> bool:
        """True while a brain is connected; the director asks this in the external mode."""
        return self._socket is not None

    def offer(self, item: Input) -> bool:
        """Send an input the director picked to the brain; False when none is connected.

        ``author`` and ``text`` were made inert when they arrived; they are still a stranger's
        words, and the protocol document says so.
        """
        if self._socket is None:
            return False
        input_id = uuid.uuid4().hex[:12]
        flagged = FIRST_TIME if "first-time" in item.flags else ""
        self._inputs[input_id] = flagged
        while len(self._inputs) > REMEMBERED_INPUTS:
            self._inputs.popitem(last=False)
        self._send(
            InputOut(
                id=input_id,
                source=item.source,
                kind=item.kind,
                ts=time.time(),  # the director's ts is monotonic: no use to another program
                author=item.author,
                text=item.text,
                platform=item.platform,
                flags=sorted(item.flags),
                amount=item.amount,
                detail=item.detail,
                flagged=flagged,
            )
        )
        return True

    def on_event(self, event: Event) -> None:
        """Bus listener: the brain hears about its own actions; the health row follows the mode."""
        match event:
            case ActionQueued(action=action) | ActionUpdated(action=action) if (
                action.source == SOURCE and self._socket is not None
            ):
                self._send(ActionChanged(action=action))
            case DirectorChanged():
                self.report_health()

    def report_health(self) -> None:
        if self._socket is not None:
            self._report("up", f"an external brain is connected from {self._peer}")
        elif self._queue.status.mode == "external":
            self._report("degraded", "no external brain connected: the autonomous persona answers")
        else:
            where = f" at {self.url}" if self.url else ""
            self._report("off", f"not the mode; `airi ctl mode external` lets a brain in{where}")

    # --- the websocket ------------------------------------------------------------------------

    async def serve(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            timeout=CLOSE_WAIT, heartbeat=HEARTBEAT, max_msg_size=self._max_message
        )
        await ws.prepare(request)
        if self._socket is not None:
            await ws.close(code=CLOSE_BUSY, message=b"another external brain is connected")
            return ws
        outbox = self._attach(ws, request.remote or "?")
        try:
            async with asyncio.TaskGroup() as tasks:
                writer = tasks.create_task(self._write(ws, outbox))
                await self._read(ws)
                writer.cancel()
        finally:
            self._detach(ws)
        return ws

    async def close(self) -> None:
        """The agent is stopping: say so to the brain."""
        if self._socket is not None:
            await self._socket.close(code=1001, message=b"the agent is stopping")

    def _attach(self, ws: web.WebSocketResponse, peer: str) -> asyncio.Queue[str]:
        self._socket, self._peer, self._closer = ws, peer, None
        outbox = self._outbox = asyncio.Queue(OUTBOX)
        self._send(self._welcome())
        log.info("an external brain connected from %s", peer)
        self.report_health()
        return outbox

    def _detach(self, ws: web.WebSocketResponse) -> None:
        if self._socket is not ws:
            return
        self._socket = self._outbox = None
        self._inputs.clear()
        if self._queue.status.mode == "external":
            log.warning("the external brain disconnected: the autonomous persona answers now")
        else:
            log.info("the external brain disconnected")
        self.report_health()

    def _send(self, message: _ToBrain) -> None:
        if self._outbox is None or self._socket is None or self._closer is not None:
            return
        try:
            self._outbox.put_nowait(_encode(message).decode())
        except asyncio.QueueFull:
            log.warning("the external brain stopped reading: disconnecting it")
            self._closer = asyncio.get_running_loop().create_task(
                self._socket.close(code=CLOSE_SLOW, message=b"you stopped reading: reconnect")
            )

    async def _write(self, ws: web.WebSocketResponse, outbox: asyncio.Queue[str]) -> None:
        while True:
            frame = await outbox.get()
            with contextlib.suppress(ConnectionResetError):
                await ws.send_str(frame)

    async def _read(self, ws: web.WebSocketResponse) -> None:
        async for frame in ws:
            if frame.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await self._receive(frame.data)
            elif frame.type == WSMsgType.ERROR:
                log.warning("the external brain's connection failed: %s", ws.exception())
                return

    async def _receive(self, data: str | bytes) -> None:
        try:
            message = _decode(data)
        except msgspec.ValidationError as exc:
            self._send(Refused(reason=f"not an action: {exc}"))
            return
        except msgspec.DecodeError:
            self._send(Refused(reason="not JSON: send one JSON object per text frame"))
            return
        self._send(await self._act(message))

    async def _act(self, message: BrainMessage) -> Accepted | Refused:
        try:
            action = self._submit(message)
        except (QueueFull, UnknownExpression, _Unavailable) as exc:
            return Refused(ref=message.ref, reason=str(exc))
        await self._queue.durable()  # accepted means it survives a crash
        return Accepted(ref=message.ref, action_id=action.id, state=action.state)

    def _submit(self, message: BrainMessage) -> Action:
        queue = self._queue
        match message:
            case SayAction(text=text, reply_to=reply_to):
                line = inert(text.strip(), len(text))
                if not line:
                    raise _Unavailable("nothing to say: the text is empty")
                return queue.say(line, SOURCE, flagged=self._inputs.get(reply_to, ""))
            case ExpressionAction(name=name):
                return queue.express(name, SOURCE)
            case MotionAction(name=name) | SceneAction(name=name):
                kind = "motion" if isinstance(message, MotionAction) else "scene"
                if kind not in queue.perform:
                    raise _Unavailable(UNAVAILABLE[kind])
                return queue.submit(kind, name, SOURCE)
            case WaitAction(seconds=seconds):
                return queue.submit("wait", f"{seconds:g}", SOURCE)


UNAVAILABLE = {
    "motion": "no avatar is connected: motions need the stage, which is not running",
    "scene": "OBS is not connected: scene switches need [obs] and a running OBS",
}


class _Unavailable(ValueError):
    pass
