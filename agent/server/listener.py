"""Listens on the unix socket (and optionally 127.0.0.1 TCP) and runs a Session per client."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
from collections.abc import Callable
from pathlib import Path

from agent.bus import Bus
from agent.protocol.messages import Snapshot
from agent.server.session import Handler, Limits, Session
from agent.server.socket_dir import ServerError, inode_of, peer_uid, prepare_socket_path

log = logging.getLogger(__name__)

MAX_HANDSHAKING = 32
"""Connections allowed between accept and Hello at once; past it the oldest is dropped, so a
flood of silent connections cannot keep a real client (who says Hello at once) out."""


class ControlServer:
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
        self.token = token
        """What a TCP client's Hello must carry (set before ``start``)."""
        self._servers: list[asyncio.Server] = []
        self._sessions: dict[asyncio.Task[None], Session] = {}
        self._handshaking: dict[Session, None] = {}  # insertion order: oldest first
        self._inode: int | None = None
        self._to_flush: list[Session] = []
        self._flush_scheduled = False
        self.on_clients_changed: Callable[[int], None] = lambda count: None

    def flush_soon(self, session: Session) -> None:
        """Write ``session``'s queued events at the end of this loop turn, with the others'."""
        self._to_flush.append(session)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        sessions, self._to_flush = self._to_flush, []
        for session in sessions:
            session.flush()

    def token_ok(self, token: str) -> bool:
        return bool(self.token) and hmac.compare_digest(token.encode(), self.token.encode())

    @property
    def client_count(self) -> int:
        """Clients that completed the handshake."""
        return len(self._sessions)

    async def start(self) -> None:
        """Listen on TCP (if configured) first, then the unix socket.

        A client that sees the unix socket answer can count on the TCP port being open too.
        """
        if self.tcp_port:
            try:
                tcp = await asyncio.start_server(self._accept_tcp, "127.0.0.1", self.tcp_port)
            except OSError as exc:
                raise ServerError(
                    f"cannot listen on 127.0.0.1:{self.tcp_port} ({exc.strerror}):"
                    " choose another [control] tcp_port or set it to 0"
                ) from None
            self._servers.append(tcp)
        await prepare_socket_path(self.socket_path)
        old_umask = os.umask(0o177)  # the socket is born 0600: no window where others can connect
        try:
            unix = await asyncio.start_unix_server(self._accept_unix, path=str(self.socket_path))
        except OSError as exc:
            raise ServerError(
                f"cannot listen on {self.socket_path}: {exc.strerror or exc}"
                " (a unix socket path must be under 108 bytes: set a shorter [control] socket)"
            ) from None
        finally:
            os.umask(old_umask)
        self._servers.append(unix)
        self._inode = inode_of(self.socket_path)

    async def _accept_unix(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        uid = peer_uid(writer.get_extra_info("socket"))
        if uid is not None and uid not in (os.getuid(), 0):
            log.warning("refused a control connection from uid %d", uid)
            writer.transport.abort()
            return
        await self._run(Session(self, reader, writer, "unix"))

    async def _accept_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._run(Session(self, reader, writer, "tcp"))

    async def _run(self, session: Session) -> None:
        if len(self._handshaking) >= MAX_HANDSHAKING:
            oldest = next(iter(self._handshaking))
            oldest.abort()
            del self._handshaking[oldest]
        self._handshaking[session] = None
        try:
            attached = await session.handshake()
        finally:
            self._handshaking.pop(session, None)
        if attached:
            await self._serve(session)
        else:
            await session.close()

    async def _serve(self, session: Session) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions[task] = session
        self.on_clients_changed(len(self._sessions))
        try:
            await session.serve()
        finally:
            await session.close()
            del self._sessions[task]
            self.on_clients_changed(len(self._sessions))

    async def stop_accepting(self) -> None:
        for server in self._servers:
            server.close()
        # Remove the socket only if it is still the one we made: after a failed start, or if
        # another agent took the path over, the file is not ours to delete.
        if self._inode is not None and inode_of(self.socket_path) == self._inode:
            with contextlib.suppress(FileNotFoundError):
                self.socket_path.unlink()
        self._inode = None

    async def close(self, grace: float = 1.0) -> None:
        """Tell every session to finish, give them ``grace`` seconds, then cut the rest."""
        await self.stop_accepting()
        for session in self._sessions.values():
            session.close_soon("the agent is stopping")
        if self._sessions:
            _, pending = await asyncio.wait(list(self._sessions), timeout=grace)
            for task in pending:
                self._sessions[task].abort()
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 1.0)
        self._servers.clear()
