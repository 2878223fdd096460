"""Bare peers for the baselines: the least a length-prefixed server can do, on the agent's loop.

``echo`` sends every frame straight back. ``fanout`` answers Hello with a Welcome, then answers
each request of the driver with one Ok frame and sends every subscriber the three event frames
the agent publishes for a ``TriggerExpression``, written once per loop tick as the agent's
sessions do. Only the Hello is decoded; every other frame is pre-encoded.

``chat`` makes ``CHAT_RATE`` ChatReceived frames a second on its own timer, paced as the demo
chat's steady mode (every ``STEADY_TICK``, what is due since the start), and sends what one
tick made to every subscriber in one write. The frames are pre-encoded from the demo chat's own
messages, so they have the agent's sizes; only their ``seq`` is spliced in, so that clients can
check for holes on both sides. A request (from the benchmark's probe) is answered with an Ok
holding a snapshot with the current ``seq``.

Run as ``python -m bench.bare echo|fanout|chat SOCKET``; it prints ``ready`` once it listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import sys
import time

from msgspec.structs import replace

from agent.chat.demo import STEADY_TICK, DemoChat
from agent.config import PersonaSection
from agent.protocol import PROTOCOL_VERSION, encode, read_frame
from agent.protocol.framing import request_decoder
from agent.protocol.messages import (
    Action,
    ActionQueued,
    ActionUpdated,
    ChatReceived,
    ExpressionChanged,
    Hello,
    Ok,
    Snapshot,
    Welcome,
)

EXPRESSION = "happy"
"""The expression the driver triggers (one of the default pad's)."""
CHAT_RATE = 10_000
"""ChatReceived events per second, here and in the agent's demo chat (x60 per minute)."""
FIRST_SEQ = 1 << 20
"""Any seq from here to 2**32 is a msgpack uint32: the same 5 bytes at the end of every frame."""


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


def snapshot(seq: int = 0) -> Snapshot:
    return Snapshot("bare", "0", os.getpid(), time.time(), "bare", seq=seq)


def welcome_frame(seq: int = 0) -> bytes:
    return encode(
        Welcome(id=0, agent_version="0", protocol_version=PROTOCOL_VERSION, snapshot=snapshot(seq))
    )


def chat_frames(count: int = 256) -> list[bytes]:
    """ChatReceived frames as the demo chat makes them, each without its last four seq bytes."""
    demo = DemoChat(lambda message: None, PersonaSection().name, 1.0, random.Random(0))
    frames = []
    for number in range(count):
        message = demo.message(demo.rng.choice(demo.lines))
        message.id = f"demo-{time.time_ns()}-{10_000 + number}"  # as long as in the agent's run
        frame = encode(ChatReceived(message=message, seq=FIRST_SEQ))
        assert frame.endswith(b"\xce" + FIRST_SEQ.to_bytes(4, "big")), "seq is not last"
        frames.append(frame[:-4])
    return frames


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


class ChatFanOut:
    """``CHAT_RATE`` pre-encoded ChatReceived frames a second, one write per subscriber per tick."""

    def __init__(self) -> None:
        self.frames = itertools.cycle(chat_frames())
        self.seq = FIRST_SEQ
        self.subscribers: list[asyncio.StreamWriter] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = request_decoder.decode(await read_frame(reader))
            assert isinstance(hello, Hello) and hello.protocol_version == PROTOCOL_VERSION
            writer.write(welcome_frame(self.seq))  # no tick runs between this and the append
            if hello.subscribe:
                self.subscribers.append(writer)
                await reader.read()  # subscribers only listen: wait for their end
            else:
                await self.answer(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the benchmark hung up: nothing to report
        finally:
            self.subscribers = [w for w in self.subscribers if w is not writer]
            writer.close()

    async def answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer every request with the current seq, as the agent's GetSnapshot does."""
        while True:
            request = request_decoder.decode(await read_frame(reader))
            writer.write(encode(Ok(id=request.id, snapshot=snapshot(self.seq))))

    async def tick(self) -> None:
        """Every STEADY_TICK, make what is due since the start and send it to every subscriber."""
        started, made = time.monotonic(), 0
        while True:
            await asyncio.sleep(STEADY_TICK)
            due = int((time.monotonic() - started) * CHAT_RATE)
            first, self.seq, made = self.seq + 1, self.seq + due - made, due
            if self.subscribers:
                seqs = range(first, self.seq + 1)  # self.frames cycles: seqs set the length
                frames = zip(self.frames, seqs, strict=False)
                chunk = b"".join(frame + seq.to_bytes(4, "big") for frame, seq in frames)
                for writer in self.subscribers:
                    writer.write(chunk)


async def serve(kind: str, path: str) -> None:
    chat = ChatFanOut()
    handler = {"echo": echo, "fanout": FanOut().serve, "chat": chat.serve}[kind]
    server = await asyncio.start_unix_server(handler, path=path)
    print("ready", flush=True)
    async with server, asyncio.TaskGroup() as tasks:
        if kind == "chat":
            tasks.create_task(chat.tick())
        await server.serve_forever()


if __name__ == "__main__":
    from bench.loop import run

    kind, path = sys.argv[1:3]
    if kind not in ("echo", "fanout", "chat"):
        sys.exit(f"usage: python -m bench.bare echo|fanout|chat SOCKET (not {kind!r})")
    with contextlib.suppress(KeyboardInterrupt):
        run(serve(kind, path))
