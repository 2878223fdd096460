"""An asyncio client for the control socket, used by the TUI and by ``airi ctl``.

``Connection`` is one attached session: requests are matched to replies by id, events are read
into a bounded queue (a consumer that falls behind slows the socket, and the agent answers that
with a ``Gap``). ``follow`` keeps a session alive across agent restarts, reconnecting with
exponential backoff and full jitter. A message this client cannot decode means the agent
speaks a newer (or older) protocol: retrying cannot help, so that ends ``follow`` for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

from agent.protocol.endpoint import Endpoint
from agent.protocol.framing import FrameTooLarge, encode, read_frame, to_client_decoder
from agent.protocol.messages import (
    PROTOCOL_VERSION,
    Err,
    Event,
    Hello,
    Ok,
    Reply,
    Request,
    Welcome,
)
from agent.protocol.text import inert


class AgentError(Exception):
    """The agent answered a request with ``Err``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FatalLinkError(AgentError):
    """Retrying cannot help (protocol mismatch, bad token): a person must act."""


class ConnectionLost(ConnectionError):
    """The session ended; the message says why in the streamer's words."""


UNREADABLE = "unreadable_message"
"""``FatalLinkError.code`` when the agent sent something this client cannot decode."""


def unreadable(endpoint: Endpoint, exc: msgspec.DecodeError) -> str:
    """Why a message from ``endpoint`` could not be read, and what to do about it."""
    # msgspec quotes the offending value, which comes off the wire: keep it short and inert.
    reason = inert(str(exc), 120)
    return (
        f"the agent at {endpoint.describe()} sent a message this airi cannot read ({reason}): "
        "run the same airi version on both sides"
    )


def explain(exc: BaseException, endpoint: Endpoint) -> str:
    """Why connecting to ``endpoint`` failed, as a sentence with the next step."""
    where = endpoint.describe()
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        return f"no agent is listening at {where}: start one with `airi agent` or `airi up`"
    if isinstance(exc, PermissionError):
        return f"not allowed to open {where}: the socket belongs to another user"
    if isinstance(exc, TimeoutError):
        return f"the agent at {where} did not answer in time"
    return f"{where}: {exc}" if str(exc) else f"{where}: {type(exc).__name__}"


class Connection:
    """One session with an agent, after a successful handshake."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        welcome: Welcome,
        max_queued_events: int,
        endpoint: Endpoint,
    ) -> None:
        self.welcome = welcome
        self.close_reason = ""
        self.fatal = False
        """True when the session ended in a way retrying cannot mend (an unreadable message)."""
        self._endpoint = endpoint
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._events: asyncio.Queue[Event | None] = asyncio.Queue(max_queued_events)
        self._pump = asyncio.create_task(self._read_loop(), name="airi-client-read")

    @classmethod
    async def open(
        cls,
        endpoint: Endpoint,
        client_name: str,
        *,
        subscribe: bool = True,
        timeout: float = 5.0,
        max_queued_events: int = 10_000,
    ) -> Connection:
        """Connect and shake hands.

        Raises OSError, TimeoutError, AgentError (``FatalLinkError`` when retrying cannot help,
        such as a reply this client cannot decode), ConnectionLost, FrameTooLarge and
        ``asyncio.IncompleteReadError`` (the agent hung up during the handshake).
        """
        async with asyncio.timeout(timeout):
            if endpoint.port:
                reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
            else:
                reader, writer = await asyncio.open_unix_connection(endpoint.path)
            try:
                hello = Hello(
                    protocol_version=PROTOCOL_VERSION,
                    client_name=client_name,
                    token=endpoint.token,
                    subscribe=subscribe,
                    id=0,
                )
                writer.write(encode(hello))
                reply = to_client_decoder.decode(await read_frame(reader))
            except msgspec.DecodeError as exc:
                writer.close()
                raise FatalLinkError(UNREADABLE, unreadable(endpoint, exc)) from None
            except BaseException:
                writer.close()
                raise
            welcome = _welcome_or_raise(reply, writer)
        return cls(reader, writer, welcome, max_queued_events, endpoint)

    async def request(self, message: Request, timeout: float = 10.0) -> Ok | Welcome:
        """Send a request and wait for its reply. Raises AgentError on ``Err``."""
        if self._pump.done():
            raise ConnectionLost(self.close_reason or "the connection is closed")
        request_id = next(self._ids)
        message.id = request_id
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        self._pending[request_id] = future
        # A timer on the future is cheaper than asyncio.timeout() on this hot path.
        expiry = loop.call_later(timeout, _expire, future)
        try:
            self._writer.write(encode(message))
            reply = await future
        finally:
            expiry.cancel()
            self._pending.pop(request_id, None)
        if isinstance(reply, Err):
            raise AgentError(reply.code, reply.message)
        return reply

    async def events(self) -> AsyncIterator[Event]:
        """Events in order until the session ends (then ``close_reason`` says why)."""
        while (event := await self._events.get()) is not None:
            yield event

    def drain_events(self) -> list[Event]:
        """Events already received, without waiting (for batching at a steady rate)."""
        batch: list[Event] = []
        while not self._events.empty():
            event = self._events.get_nowait()
            if event is None:
                self._events.put_nowait(None)  # keep the end marker for events()
                break
            batch.append(event)
        return batch

    async def close(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    async def _read_loop(self) -> None:
        try:
            while True:
                message = to_client_decoder.decode(await read_frame(self._reader))
                if isinstance(message, Welcome | Ok | Err):
                    future = self._pending.get(message.id)
                    if future is not None and not future.done():
                        future.set_result(message)
                else:
                    await self._events.put(message)
        except asyncio.IncompleteReadError:
            self.close_reason = "the agent closed the connection"
        except (ConnectionError, OSError) as exc:
            self.close_reason = f"the connection broke: {exc}"
        except FrameTooLarge as exc:
            self.close_reason = f"the agent sent an oversized frame ({exc})"
        except msgspec.DecodeError as exc:
            self.close_reason = unreadable(self._endpoint, exc)
            self.fatal = True
        finally:
            lost = ConnectionLost(self.close_reason or "the connection was closed")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(lost)
            self._end_events()

    def _end_events(self) -> None:
        # A full queue must not keep the end marker out: drop the oldest event for it.
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(None)


def _expire(future: asyncio.Future[Reply]) -> None:
    if not future.done():
        future.set_exception(TimeoutError("the agent did not answer in time"))


def _welcome_or_raise(reply: Any, writer: asyncio.StreamWriter) -> Welcome:
    if isinstance(reply, Welcome):
        return reply
    writer.close()
    if isinstance(reply, Err):
        if reply.code in ("protocol_mismatch", "unauthorized"):
            raise FatalLinkError(reply.code, reply.message)
        raise AgentError(reply.code, reply.message)
    raise ConnectionLost(f"the agent answered Hello with {type(reply).__name__}")


# --- staying attached ----------------------------------------------------------------------


@dataclass
class Backoff:
    """Exponential backoff with full jitter: a random wait in [0, min(cap, base * 2**n)]."""

    base: float = 0.25
    cap: float = 10.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * (2**self.attempt))
        self.attempt += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class Attached:
    """A session began; ``welcome.snapshot`` is the whole current state."""

    connection: Connection

    @property
    def welcome(self) -> Welcome:
        return self.connection.welcome


@dataclass
class Detached:
    """No session; the next attempt comes after ``retry_in`` seconds unless ``fatal``."""

    reason: str
    retry_in: float
    fatal: bool = False


LinkUpdate = Attached | Detached

STEADY_AFTER = 5.0
"""Seconds a session must last before the backoff starts again from its shortest delay."""


async def follow(
    endpoint: Endpoint,
    client_name: str,
    backoff: Backoff | None = None,
    *,
    steady_after: float = STEADY_AFTER,
) -> AsyncGenerator[LinkUpdate, None]:
    """Attach, report, and re-attach forever: yields Attached / Detached as the link changes.

    The caller reads events from ``Attached.connection`` until they end, then resumes this
    generator for the next attempt. Stops after a fatal Detached. Only a session that lasted
    ``steady_after`` seconds resets the backoff: an agent that accepts and drops at once is
    retried with growing delays, not in a tight loop.
    """
    backoff = backoff or Backoff()
    loop = asyncio.get_running_loop()
    while True:
        try:
            connection = await Connection.open(endpoint, client_name)
        except FatalLinkError as exc:
            yield Detached(str(exc), 0.0, fatal=True)
            return
        except (OSError, TimeoutError, AgentError, ConnectionLost, FrameTooLarge) as exc:
            reason = explain(exc, endpoint)
        except asyncio.IncompleteReadError:
            reason = f"the agent at {endpoint.describe()} closed the connection during hello"
        else:
            attached_at = loop.time()
            try:
                yield Attached(connection)
            finally:
                await connection.close()
            reason = connection.close_reason or "the session ended"
            if connection.fatal:
                yield Detached(reason, 0.0, fatal=True)
                return
            if loop.time() - attached_at >= steady_after:
                backoff.reset()
        delay = backoff.next_delay()
        yield Detached(reason, delay)
        await asyncio.sleep(delay)


def client_name(program: str) -> str:
    """How this client names itself to the agent, for its log and the TUI's client count."""
    return f"{program}[{os.getpid()}]"
