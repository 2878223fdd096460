"""The control socket: TUIs and ``airi ctl`` attach here.

Each session has a bounded outbound queue filled by the bus and emptied by one writer task that
sends everything queued in one write per wake-up. A client that falls behind loses the queued
events and gets a ``Gap`` with a fresh snapshot; one that stops reading for
``stall_seconds`` is disconnected. Nothing a client does can block the agent or another client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import socket
import stat
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import msgspec
from msgspec.structs import replace

from agent.bus import Bus
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

log = logging.getLogger(__name__)

HELLO_TIMEOUT = 5.0
MAX_UNREAD_REPLIES = 1024

Handler = Callable[[Request], Awaitable[Reply]]


class ServerError(Exception):
    """The control socket cannot be opened; the message says what to do."""


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
        self._flush_scheduled = False

    # --- outbound ---------------------------------------------------------------------------

    def push(self, frame: bytes) -> None:
        """Queue an event frame; on overflow drop the queue and owe the client a Gap."""
        if len(self._events) >= self.server.limits.queue:
            self._missed += len(self._events) + 1
            self._events.clear()
        else:
            self._events.append(frame)
        self._wake.set()

    def reply(self, message: Reply) -> None:
        """Queue a reply; replies made in one loop tick leave in one write."""
        if isinstance(message, Ok) and message.snapshot is not None:
            frame = encode_fitting(lambda s: replace(message, snapshot=s), message.snapshot)
        else:
            frame = encode(message)
        if len(self._replies) >= MAX_UNREAD_REPLIES:
            self.close_soon("too many unread replies", abort=True)
            return
        self._replies.append(frame)
        if self._draining or self._events or self._missed:
            self._wake.set()  # the writer task owns the socket until it has drained
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_replies)

    def _flush_replies(self) -> None:
        self._flush_scheduled = False
        if self._draining or self._closing or not self._replies:
            self._wake.set()
            return
        self._writer.write(b"".join(self._replies))
        self._replies.clear()
        if self._writer.transport.get_write_buffer_size() > 0:
            self._wake.set()  # the kernel did not take it all: let the writer drain it

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

    # --- inbound ----------------------------------------------------------------------------

    async def run(self) -> None:
        writer_task: asyncio.Task[None] | None = None
        try:
            hello = await self._handshake()
            if hello is None:
                return
            writer_task = asyncio.create_task(self._write_loop(), name=f"write {self.name}")
            await self._serve()
        finally:
            self.server.bus.detach(self)
            self._closing = True
            self._wake.set()
            if writer_task is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(writer_task, 1.0)
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def _handshake(self) -> Hello | None:
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                body = await read_frame(self._reader)
            first = request_decoder.decode(body)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            return None
        except (FrameTooLarge, msgspec.DecodeError) as exc:
            await self._refuse("bad_request", f"the first frame must be Hello: {exc}")
            return None
        if not isinstance(first, Hello):
            await self._refuse("bad_request", "the first frame must be Hello")
            return None
        self.name = first.client_name[:64] or "?"
        if first.protocol_version != PROTOCOL_VERSION:
            await self._refuse(
                "protocol_mismatch",
                f"this agent speaks protocol {PROTOCOL_VERSION}, the client speaks"
                f" {first.protocol_version}: run the same airi version on both sides",
            )
            return None
        if self.transport == "tcp" and not self.server.token_ok(first.token):
            await self._refuse("unauthorized", "wrong or missing token for the TCP control port")
            return None
        # Attach before taking the snapshot: no event can fall between the two.
        if first.subscribe:
            self.server.bus.attach(self)
        welcome = encode_fitting(
            lambda s: Welcome(
                id=first.id,
                agent_version=s.agent_version,
                protocol_version=PROTOCOL_VERSION,
                snapshot=s,
            ),
            self.server.snapshot(),
        )
        self._writer.write(welcome)
        return first

    async def _refuse(self, code: ErrorCode, message: str) -> None:
        log.info("refused client %s: %s", self.name, message)
        self._writer.write(encode(Err(id=0, code=code, message=message)))
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    async def _serve(self) -> None:
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

    async def _dispatch(self, body: bytes) -> None:
        try:
            request = request_decoder.decode(body)
        except msgspec.ValidationError as exc:
            self.reply(_invalid(salvage_id(body), exc))
            return
        except msgspec.DecodeError as exc:
            self.reply(Err(id=0, code="bad_request", message=f"not a msgpack message: {exc}"))
            return
        if isinstance(request, Hello):
            self.reply(Err(id=request.id, code="bad_request", message="already said Hello"))
            return
        self.reply(await self.server.handle(request))


class ControlServer:
    """Listens on the unix socket (and optionally 127.0.0.1 TCP) and serves sessions."""

    def __init__(
        self,
        bus: Bus,
        snapshot: Callable[[], Snapshot],
        handle: Handler,
        socket_path: Path,
        limits: Limits,
        tcp_port: int = 0,
        token: str = "",
    ) -> None:
        self.bus = bus
        self.snapshot = snapshot
        self.handle = handle
        self.socket_path = socket_path
        self.limits = limits
        self.tcp_port = tcp_port
        self._token = token
        self._servers: list[asyncio.Server] = []
        self._sessions: dict[asyncio.Task[None], Session] = {}
        self.on_clients_changed: Callable[[int], None] = lambda count: None

    def token_ok(self, token: str) -> bool:
        return bool(self._token) and hmac.compare_digest(token.encode(), self._token.encode())

    @property
    def client_count(self) -> int:
        return len(self._sessions)

    async def start(self) -> None:
        await _prepare_socket_path(self.socket_path)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            unix = await asyncio.start_unix_server(self._accept_unix, path=str(self.socket_path))
        finally:
            os.umask(old_umask)
        self._servers.append(unix)
        if self.tcp_port:
            try:
                tcp = await asyncio.start_server(self._accept_tcp, "127.0.0.1", self.tcp_port)
            except OSError as exc:
                raise ServerError(
                    f"cannot listen on 127.0.0.1:{self.tcp_port} ({exc.strerror}):"
                    " choose another [control] tcp_port or set it to 0"
                ) from None
            self._servers.append(tcp)

    async def _accept_unix(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        uid = _peer_uid(writer)
        if uid is not None and uid not in (os.getuid(), 0):
            log.warning("refused a control connection from uid %d", uid)
            writer.close()
            return
        await self._serve(Session(self, reader, writer, "unix"))

    async def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._serve(Session(self, reader, writer, "tcp"))

    async def _serve(self, session: Session) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions[task] = session
        self.on_clients_changed(len(self._sessions))
        try:
            await session.run()
        finally:
            del self._sessions[task]
            self.on_clients_changed(len(self._sessions))

    async def stop_accepting(self) -> None:
        for server in self._servers:
            server.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def close(self, grace: float = 1.0) -> None:
        """Give sessions ``grace`` seconds to send what is queued, then cut them."""
        await self.stop_accepting()
        for session in self._sessions.values():
            session.close_soon("the agent is stopping")
        if self._sessions:
            _, pending = await asyncio.wait(list(self._sessions), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)


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
    reason = str(exc)
    if reason.endswith("`$.type`"):
        known = ", ".join(t.__name__ for t in get_args(Request) if t is not Hello)
        kind = reason.split("'")[1] if "'" in reason else "?"
        return Err(
            id=request_id,
            code="unknown_request",
            message=f"unknown request {kind!r} (known: {known})",
        )
    return Err(id=request_id, code="bad_request", message=f"malformed request: {reason}")


def _peer_uid(writer: asyncio.StreamWriter) -> int | None:
    sock = writer.get_extra_info("socket")
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


async def _prepare_socket_path(path: Path) -> None:
    """Make the socket's directory private, and clear a stale socket left by a dead agent."""
    directory = path.parent
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = directory.stat()
    if info.st_uid != os.getuid():
        raise ServerError(f"{directory} belongs to another user: choose another [control] socket")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(directory, 0o700)
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise ServerError(f"{path} exists and is not a socket: remove it or choose another path")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1.0)
    except (OSError, TimeoutError):
        path.unlink()  # nobody answers: left over from an agent that died
        return
    writer.close()
    raise ServerError(
        f"an agent is already running at {path}: attach to it with `airi tui`, or stop it first"
    )
