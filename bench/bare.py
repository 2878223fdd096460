"""Bare peers for the baselines: the least a length-prefixed server can do, on the agent's loop.

``echo`` sends every frame straight back. ``fanout`` answers Hello with a Welcome, then answers
each request of the driver with one Ok frame and sends every subscriber the three event frames
the agent publishes for a ``TriggerExpression``, written once per loop tick as the agent's
sessions do. Only the Hello is decoded; every other frame is pre-encoded.

Run as ``python -m bench.bare echo|fanout SOCKET``; it prints ``ready`` once it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time

from msgspec.structs import replace

from agent.protocol import PROTOCOL_VERSION, encode, read_frame
from agent.protocol.framing import request_decoder
from agent.protocol.messages import (
    Action,
    ActionQueued,
    ActionUpdated,
    ExpressionChanged,
    Hello,
    Ok,
    Snapshot,
    Welcome,
)

EXPRESSION = "happy"
"""The expression the driver triggers (one of the default pad's)."""


def expression_frames(number: int, seq: int) -> tuple[bytes, bytes]:
    """An Ok reply and the three event frames, shaped as the agent makes them for a trigger."""
    action = Action(
        id=f"{int(time.time()):x}-{number}",
        kind="expression",
        detail=EXPRESSION,
        source="control",
        state="queued",
        ts=time.time(),
    )
    events = [
        ActionQueued(action=action, seq=seq),
        ExpressionChanged(name=EXPRESSION, source="control", seq=seq + 1),
        ActionUpdated(action=replace(action, state="done"), seq=seq + 2),
    ]
    return encode(Ok(id=number, detail=action.id)), b"".join(map(encode, events))


def welcome_frame() -> bytes:
    snapshot = Snapshot("bare", "0", os.getpid(), time.time(), "bare", seq=0)
    return encode(
        Welcome(id=0, agent_version="0", protocol_version=PROTOCOL_VERSION, snapshot=snapshot)
    )


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send each frame back as it came."""
    with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
        while True:
            body = await read_frame(reader)
            writer.write(len(body).to_bytes(4, "big") + body)
    writer.close()


class FanOut:
    """One driver's requests fanned out to every subscriber, one write per client per tick."""

    def __init__(self) -> None:
        self.reply, self.events = expression_frames(10_000, 100_000)
        self.welcome = welcome_frame()
        self.pending: dict[asyncio.StreamWriter, list[bytes]] = {}
        self.subscribers: list[list[bytes]] = []
        self.flush_due = False

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue = self.pending[writer] = []
        try:
            hello = request_decoder.decode(await read_frame(reader))
            assert isinstance(hello, Hello) and hello.protocol_version == PROTOCOL_VERSION
            writer.write(self.welcome)
            if hello.subscribe:
                self.subscribers.append(queue)
                await reader.read()  # subscribers only listen: wait for their end
            else:
                await self.drive(reader, queue)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the benchmark hung up: nothing to report
        finally:
            del self.pending[writer]
            self.subscribers = [q for q in self.subscribers if q is not queue]
            writer.close()

    async def drive(self, reader: asyncio.StreamReader, replies: list[bytes]) -> None:
        while True:
            await read_frame(reader)
            replies.append(self.reply)
            for queue in self.subscribers:
                queue.append(self.events)
            if not self.flush_due:
                self.flush_due = True
                asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flush_due = False
        for writer, queue in self.pending.items():
            if queue:
                writer.write(b"".join(queue))
                queue.clear()


async def serve(kind: str, path: str) -> None:
    handler = echo if kind == "echo" else FanOut().serve
    server = await asyncio.start_unix_server(handler, path=path)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    from bench.loop import run

    kind, path = sys.argv[1:3]
    if kind not in ("echo", "fanout"):
        sys.exit(f"usage: python -m bench.bare echo|fanout SOCKET (not {kind!r})")
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(kind, path))
