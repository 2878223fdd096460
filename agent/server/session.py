"""One attached client: its handshake, its requests, and its bounded outbound queue.

The bus fills the queue and one writer task empties it, sending everything queued in one write
per wake-up. A client that falls behind loses the queued events and gets a ``Gap`` with a fresh
snapshot; one that stops reading for ``stall_seconds`` is cut off. Nothing a client does can
block the agent or another client.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, get_args

import msgspec
from msgspec.structs import replace

from agent.protocol.framing import FrameTooLarge, encode, read_frame, request_decoder, salvage_id
from agent.protocol.messages import (
    PROTOCOL_VERSION,
    Err,
    ErrorCode,
    Gap,
    Hello,
    Ok,
    Reply,
    Request,
    Snapshot,
    ToClient,
    Welcome,
)
from agent.protocol.text import inert

if TYPE_CHECKING:
    from agent.server.listener import ControlServer

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 5.0
CLOSE_GRACE = 1.0
"""Seconds a closing session may spend sending what is queued before it is cut."""
MAX_UNREAD_REPLIES = 1024
UNREAD_BYTES = 64 * 1024
"""Bytes buffered for a client before its writer task must drain them (with its timeout)."""
MAX_ECHO = 200
"""Longest piece of a client's own input quoted back in an error."""

Handler = Callable[[Request], Awaitable[Reply]]


@dataclass
class Limits:
    queue: int = 4096
    stall_seconds: float = 10.0


class Session:
    """One attached client."""

    def __init__(
        self,
        server: ControlServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        transport: str,
    ) -> None:
        self.server = server
        self.name = "?"
        self.transport = transport
        self._reader = reader
        self._writer = writer
        self._events: deque[bytes] = deque()
        self._replies: deque[bytes] = deque()
        self._wake = asyncio.Event()
        self._missed = 0
        self._closing = False
        self._draining = False
        self._flush_due = False
        self._writer_task: asyncio.Task[None] | None = None

    # --- outbound ---------------------------------------------------------------------------

    def push(self, frame: bytes) -> None:
        """Queue an event frame; on overflow drop the queue and owe the client a Gap."""
        if len(self._events) >= self.server.limits.queue:
            self._missed += len(self._events) + 1
            self._events.clear()
        else:
            self._events.append(frame)
        if not self._flush_due:
            self._flush_due = True
            self.server.flush_soon(self)

    def flush(self) -> None:
        """Send what this loop turn queued, in one write (the server calls this once a turn).

        Only a client whose socket is backed up costs a task switch: its writer task drains
        it, with the stall timeout.
        """
        self._flush_due = False
        if self._draining or self._closing:
            self._wake.set()
            return
        chunk = self._take_chunk()
        if chunk:
            self._writer.write(chunk)
        if self._writer.transport.get_write_buffer_size() > UNREAD_BYTES:
            self._wake.set()

    def reply(self, message: Reply) -> None:
        """Send a reply at once, or behind what the writer task is still sending."""
        frame = _encode_reply(message)
        if not (self._replies or self._events or self._missed or self._draining):
            # The common case (one request, one answer) costs no task switch.
            self._writer.write(frame)
            if self._writer.transport.get_write_buffer_size() > UNREAD_BYTES:
                self._wake.set()  # the client is not reading: drain, or cut it off
            return
        if len(self._replies) >= MAX_UNREAD_REPLIES:
            self.close_soon("too many unread replies", abort=True)
            return
        self._replies.append(frame)
        self._wake.set()

    def close_soon(self, why: str, abort: bool = False) -> None:
        """End the session: flush what is queued (or drop it, with ``abort``) and close."""
        if not self._closing:
            log.info("client %s disconnected: %s", self.name, why)
        self._closing = True
        self._wake.set()
        if abort:
            self._writer.transport.abort()

    async def _write_loop(self) -> None:
        stall = self.server.limits.stall_seconds
        while True:
            await self._wake.wait()
            self._wake.clear()
            chunk = self._take_chunk()
            if chunk:
                self._writer.write(chunk)
            if self._writer.transport.get_write_buffer_size():
                self._draining = True
                try:
                    async with asyncio.timeout(stall):
                        await self._writer.drain()
                except TimeoutError:
                    self.close_soon(f"read nothing for {stall:g} s", abort=True)
                    return
                except ConnectionError:
                    return
                finally:
                    self._draining = False
            if self._closing:
                self._writer.close()  # flushes what is buffered, then ends the reader too
                return

    def _take_chunk(self) -> bytes:
        parts = list(self._replies)
        self._replies.clear()
        if self._missed:
            # The snapshot already holds whatever is still queued: drop it with the rest.
            missed = self._missed + len(self._events)
            self._events.clear()
            self._missed = 0
            snapshot = self.server.snapshot()
            parts.append(
                encode_fitting(lambda s: Gap(missed=missed, snapshot=s, seq=s.seq), snapshot)
            )
        parts.extend(self._events)
        self._events.clear()
        return b"".join(parts)

    # --- lifecycle --------------------------------------------------------------------------

    async def serve(self) -> None:
        """Answer requests until the client leaves or is cut off (after ``handshake``)."""
        self._writer_task = asyncio.create_task(self._write_loop(), name=f"write {self.name}")
        while not self._closing:
            try:
                body = await read_frame(self._reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except FrameTooLarge as exc:
                self.reply(Err(id=0, code="frame_too_large", message=str(exc)))
                self.close_soon(str(exc))
                return
            await self._dispatch(body)

    async def close(self) -> None:
        """Give queued frames ``CLOSE_GRACE`` seconds to leave, then cut the connection."""
        self.server.bus.detach(self)
        self._closing = True
        self._wake.set()
        task = self._writer_task
        if task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, CLOSE_GRACE)
        self._writer.close()  # sends what is still buffered, if the client reads it
        try:
            await asyncio.wait_for(self._writer.wait_closed(), CLOSE_GRACE)
        except (OSError, TimeoutError):
            self._writer.transport.abort()  # a client that does not read must not hold us

    def abort(self) -> None:
        self._closing = True
        self._writer.transport.abort()

    async def handshake(self) -> bool:
        """Read Hello, check it, and send Welcome. False when the client was refused."""
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                body = await read_frame(self._reader)
            first = request_decoder.decode(body)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return False
        except (FrameTooLarge, msgspec.DecodeError):
            self._refuse("bad_request", "the first frame must be a Hello message")
            return False
        if not isinstance(first, Hello):
            self._refuse("bad_request", "the first frame must be a Hello message")
            return False
        self.name = inert(first.client_name, 64) or "?"
        if first.protocol_version != PROTOCOL_VERSION:
            self._refuse(
                "protocol_mismatch",
                f"this agent speaks protocol {PROTOCOL_VERSION}, the client speaks"
                f" {first.protocol_version}: run the same airi version on both sides",
            )
            return False
        if self.transport == "tcp" and not self.server.token_ok(first.token):
            self._refuse("unauthorized", "wrong or missing token for the TCP control port")
            return False
        # Attach before taking the snapshot: no event can fall between the two.
        if first.subscribe:
            self.server.bus.attach(self)
        self._writer.write(encode_fitting(lambda s: _welcome(first.id, s), self.server.snapshot()))
        return True

    def _refuse(self, code: ErrorCode, message: str) -> None:
        log.info("refused client %s: %s", self.name, message)
        self._writer.write(encode(Err(id=0, code=code, message=message)))

    async def _dispatch(self, body: bytes) -> None:
        try:
            request = request_decoder.decode(body)
        except msgspec.ValidationError as exc:
            self.reply(_invalid(salvage_id(body), exc))
            return
        except msgspec.DecodeError:
            self.reply(Err(id=0, code="bad_request", message="not a msgpack message"))
            return
        if isinstance(request, Hello):
            self.reply(Err(id=request.id, code="bad_request", message="already said Hello"))
            return
        try:
            reply = await self.server.handle(request)
        except Exception:  # a bug behind one request must not end the session
            log.exception("request %s from %s failed", type(request).__name__, self.name)
            reply = Err(id=request.id, code="failed", message="internal error: see the agent's log")
        self.reply(reply)


def _welcome(request_id: int, snapshot: Snapshot) -> Welcome:
    return Welcome(
        id=request_id,
        agent_version=snapshot.agent_version,
        protocol_version=PROTOCOL_VERSION,
        snapshot=snapshot,
    )


def _encode_reply(message: Reply) -> bytes:
    if isinstance(message, Ok) and message.snapshot is not None:
        return encode_fitting(lambda s: replace(message, snapshot=s), message.snapshot)
    try:
        return encode(message)
    except FrameTooLarge:
        return encode(Err(id=message.id, code="failed", message="the reply was too large to send"))


def encode_fitting(wrap: Callable[[Snapshot], ToClient], snapshot: Snapshot) -> bytes:
    """Encode a message carrying a snapshot, halving its chat and logs until it fits a frame.

    A long chat history of long lines must never make the agent unable to welcome a client.
    """
    while True:
        try:
            return encode(wrap(snapshot))
        except FrameTooLarge:
            if not snapshot.chat and not snapshot.logs:
                raise
            chat, logs = snapshot.chat, snapshot.logs
            snapshot = replace(snapshot, chat=chat[len(chat) // 2 :], logs=logs[len(logs) // 2 :])


def _invalid(request_id: int, exc: msgspec.ValidationError) -> Err:
    reason = inert(str(exc), MAX_ECHO)
    if str(exc).endswith("`$.type`"):
        kind = inert(str(exc).split("'")[1], 40) if "'" in str(exc) else "?"
        known = ", ".join(t.__name__ for t in get_args(Request) if t is not Hello)
        message = f"unknown request {kind!r} (known: {known})"
        return Err(id=request_id, code="unknown_request", message=message)
    return Err(id=request_id, code="bad_request", message=f"malformed request: {reason}")
