"""The link to the agent: one worker that stays attached and feeds the screen in batches.

Events are read as they come but handed to the screen at most ``BATCH_HZ`` times a second, so
a chat burst costs one redraw per batch instead of one per line. While the screen is slower
than the agent, events wait in the connection's bounded queue; when that fills, the agent
answers with a ``Gap`` and a fresh snapshot, so nothing here grows without bound.
"""

from __future__ import annotations

import asyncio
import contextlib

from textual import work
from textual.notifications import SeverityLevel
from textual.widget import Widget

from agent.protocol import (
    AgentError,
    Attached,
    Backoff,
    Connection,
    ConnectionLost,
    Detached,
    Endpoint,
    client_name,
    follow,
    inert,
)
from agent.protocol.messages import (
    ApproveAction,
    EditAction,
    Interrupt,
    MoveAction,
    MoveProvider,
    Ok,
    ProbeProvider,
    RejectAction,
    Request,
    Say,
    SetApproval,
    SetDryRun,
    SetMode,
    SetProviderEnabled,
    SkipCurrent,
    TriggerExpression,
)
from airi_tui.messages import EventsArrived, LinkAttached, LinkDetached

BATCH_HZ = 20.0
REQUEST_TIMEOUT = 10.0


class AgentLink(Widget):
    """Keeps one session with the agent at ``endpoint`` and reports it with app messages.

    Mount it where the messages should go: ``LinkAttached``, ``LinkDetached`` and
    ``EventsArrived`` bubble up from here. It draws nothing.
    """

    DEFAULT_CSS = "AgentLink { display: none; }"

    def __init__(
        self, endpoint: Endpoint, backoff: Backoff | None = None, batch_hz: float = BATCH_HZ
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.backoff = backoff
        self.batch_interval = 1.0 / batch_hz
        self.connection: Connection | None = None
        self.detached_because = "not attached yet"

    def on_mount(self) -> None:
        self.follow_agent()

    @work(exclusive=True, group="link")
    async def follow_agent(self) -> None:
        """Attach, pump events, and re-attach after every loss until a fatal refusal."""
        # Closing the generator on cancel runs its finally, which closes the session
        # instead of leaving it to the garbage collector.
        updates = follow(self.endpoint, client_name("airi-tui"), self.backoff)
        async with contextlib.aclosing(updates):
            async for update in updates:
                match update:
                    case Attached(connection=connection):
                        await self._attached(connection)
                    case Detached(reason=reason, retry_in=retry_in, fatal=fatal):
                        self.detached_because = reason
                        self.post_message(LinkDetached(reason, retry_in, fatal))

    async def _attached(self, connection: Connection) -> None:
        self.connection = connection
        self.post_message(LinkAttached(connection.welcome))
        try:
            await self.pump_events(connection)
        finally:
            self.connection = None
            self.detached_because = connection.close_reason or "the session ended"

    async def pump_events(self, connection: Connection) -> None:
        """Forward events in batches until the session ends."""
        async for first in connection.events():
            self.post_message(EventsArrived([first, *connection.drain_events()]))
            await asyncio.sleep(self.batch_interval)

    async def send(self, request: Request) -> bool:
        """Send ``request``; on failure tell the user why it was not done. True if it was."""
        return await self.ask(request) is not None

    async def ask(self, request: Request, timeout: float = REQUEST_TIMEOUT) -> Ok | None:
        """Send ``request`` and return the agent's ``Ok``; on failure say why and return None."""
        connection = self.connection
        what = describe(request)
        if connection is None:
            self._warn(f"{what} not sent: {self.detached_because}")
            return None
        try:
            reply = await connection.request(request, timeout)
        except AgentError as exc:
            self._warn(refusal(request, inert(str(exc), 300)), severity="error")
        except ConnectionLost as exc:
            self._warn(f"{what} not sent: {exc}")
        except TimeoutError:
            self._warn(f"{what}: the agent did not answer in time")
        else:
            # Only a Hello is answered with a Welcome, and the link sends none through here.
            return reply if isinstance(reply, Ok) else Ok(id=reply.id)
        return None

    def _warn(self, text: str, severity: SeverityLevel = "warning") -> None:
        # The text quotes what the user typed and what the agent said: never markup.
        self.notify(text, severity=severity, markup=False)


def describe(request: Request) -> str:
    """A request in the streamer's words, for notices about it."""
    match request:
        case Say(text=text):
            return f"say \u201c{inert(text, 40)}\u201d"
        case TriggerExpression(name=name):
            return f"expression {inert(name, 40)}"
        case SetProviderEnabled(name=name, enabled=enabled):
            return f"{'enable' if enabled else 'disable'} {inert(name, 40)}"
        case ProbeProvider(name=name):
            return f"probe {inert(name, 40)}"
        case MoveProvider(name=name, offset=offset, role=role):
            where = f" in the {inert(role, 20)} chain" if role else ""
            return f"move {inert(name, 40)} {'up' if offset < 0 else 'down'}{where}"
    return _describe_queue(request)


def _describe_queue(request: Request) -> str:
    match request:
        case ApproveAction(action_id=action_id):
            return f"approve {inert(action_id, 20)}"
        case RejectAction(action_id=action_id):
            return f"reject {inert(action_id, 20)}"
        case EditAction(text=text):
            return f"edit to \u201c{inert(text, 40)}\u201d"
        case MoveAction(action_id=action_id, offset=offset):
            return f"move {inert(action_id, 20)} {'up' if offset < 0 else 'down'}"
        case SkipCurrent():
            return "skip the current action"
        case Interrupt():
            return "the kill switch"
        case SetMode(mode=mode):
            return f"mode {mode}"
        case SetApproval(source=source, gate=gate):
            return f"approval {inert(source, 20)} {gate}"
        case SetDryRun(enabled=enabled):
            return f"dry run {'on' if enabled else 'off'}"
    return type(request).__name__


def refusal(request: Request, message: str) -> str:
    """What an ``Err`` to ``request`` means: a failed probe is news about the provider."""
    if isinstance(request, ProbeProvider):
        return f"{describe(request)} failed: {message}"
    return f"the agent refused {describe(request)}: {message}"
