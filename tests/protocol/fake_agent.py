"""A scripted peer on a unix socket that speaks the real framing but says what a test tells it.

It stands in for agents this client cannot trust to be well-formed: a newer agent with message
types this airi does not know, one that accepts and hangs up at once, one that goes silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from agent.protocol import Endpoint, encode, read_frame
from agent.protocol import messages as m

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

SNAPSHOT = m.Snapshot(agent_name="fake", agent_version="9", pid=1, started_at=0, mode="x", seq=0)


def welcome(snapshot: m.Snapshot | dict[str, Any] = SNAPSHOT) -> bytes:
    """A Welcome frame; a dict snapshot may hold what no ``Snapshot`` would validate."""
    return encode(
        {
            "type": "Welcome",
            "id": 0,
            "agent_version": "9",
            "protocol_version": m.PROTOCOL_VERSION,
            "snapshot": snapshot,
        }
    )


class FakeAgent:
    """Serves ``script`` to every connection at ``path``; counts them in ``sessions``."""

    def __init__(self, path: Path, script: Script) -> None:
        self.path = path
        self.script = script
        self.sessions = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(path=str(self.path))

    async def __aenter__(self) -> FakeAgent:
        self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions += 1
        self._writers.add(writer)
        try:
            await read_frame(reader)  # the client's Hello
            await self.script(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went first: that is what some tests are about
        finally:
            self._writers.discard(writer)
            writer.close()


Then = Literal["hang up", "listen", "hang up on a request"]


def says(*frames: bytes, then: Then = "hang up") -> Script:
    """A script: send ``frames``, then hang up; or "listen" (never answer, read until the
    client leaves); or "hang up on a request" (read the client's next request, then hang up).
    """

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for frame in frames:
            writer.write(frame)
        await writer.drain()
        if then == "listen":
            await reader.read()
        elif then == "hang up on a request":
            await read_frame(reader)

    return script
