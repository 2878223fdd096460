"""Event fan-out: what a server's CPU pays to send a steady event stream to attached clients.

Two loads, each run on a real agent and on a bare peer (``bench.bare``):

- Chat (the main figure): the server makes ``CHAT_RATE`` ChatReceived events a second on its
  own 5 ms timer. On the agent that is the demo chat in steady pacing, through the real path
  (``Agent.receive_chat``, bus, state, store, every session's socket); the bare peer sends
  pre-encoded frames of the same sizes. The window is bounded by the server's ``seq``, read
  with a non-subscribed probe at its start and end: what was published in between is what each
  client must get, with no hole in ``seq`` and no Gap.
- Requests: a driver pipelines ``TriggerExpression`` (each published as three events) at the
  same event rate, so the server also decodes, handles and answers requests.

CPU comes from /proc over the window, for the whole process and split by thread.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from agent.chat.demo import STEADY_TICK
from agent.protocol import PROTOCOL_VERSION, Connection, Endpoint, encode, read_frame
from agent.protocol.framing import to_client_decoder
from agent.protocol.messages import (
    ActionQueued,
    ActionUpdated,
    ChatReceived,
    Err,
    ExpressionChanged,
    Gap,
    GetSnapshot,
    Hello,
    Ok,
    TriggerExpression,
)
from bench.bare import CHAT_RATE, EXPRESSION
from bench.processes import cpu_seconds, thread_cpu_seconds, thread_names

CLIENTS = 3
SECONDS = 5.0
SETTLE = 0.3
"""Seconds after attaching before a window opens: the attach events (ClientsChanged, logs) pass."""
DELIVERY_TIMEOUT = 3.0
EVENTS_PER_TRIGGER = 3
TRIGGERED = (ActionQueued, ExpressionChanged, ActionUpdated)
STORE_THREAD = "airi-store"


# --- CPU -----------------------------------------------------------------------------------


@dataclass
class CpuUse:
    """CPU seconds per second of a window (1.0 = one core), whole process and by thread."""

    seconds: float
    """The window's length."""
    total: float
    main: float
    store: float
    """The agent's SQLite thread (``airi-store``); 0 on a bare peer."""
    other: float
    """Every other thread, and threads that ended during the window."""


class CpuWindow:
    """A process's CPU readings at a window's start, set against its end by ``use``.

    Name the threads (``thread_names``) before the first window: that stops the process a moment.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.names = thread_names(pid)
        self.started = time.perf_counter()
        self.total = cpu_seconds(pid)
        self.threads = thread_cpu_seconds(pid)

    def use(self) -> CpuUse:
        seconds = time.perf_counter() - self.started
        total = cpu_seconds(self.pid) - self.total
        main = store = 0.0
        for tid, (name, cpu) in thread_cpu_seconds(self.pid).items():
            used = cpu - self.threads.get(tid, (name, 0.0))[1]
            if tid == self.pid:
                main += used
            elif self.names.get(tid, name).startswith(STORE_THREAD):
                store += used
        other = max(0.0, total - main - store)
        return CpuUse(seconds, total / seconds, main / seconds, store / seconds, other / seconds)


# --- clients -------------------------------------------------------------------------------


@dataclass
class Subscriber:
    """An attached client: notes the seq of every event, holes between them, and any Gap."""

    connection: Connection
    seqs: list[int] = field(default_factory=list)
    chats: list[int] = field(default_factory=list)
    """The seqs of ChatReceived events."""
    triggered: int = 0
    """ActionQueued, ExpressionChanged and ActionUpdated events (what a trigger publishes)."""
    holes: int = 0
    gaps: int = 0
    missed: int = 0

    async def count(self) -> None:
        last = self.connection.welcome.snapshot.seq
        async for event in self.connection.events():
            if isinstance(event, Gap):  # its seq is the snapshot's: the next event follows it
                self.gaps, self.missed = self.gaps + 1, self.missed + event.missed
            else:
                self.holes += event.seq != last + 1
                self.seqs.append(event.seq)
            last = event.seq
            if isinstance(event, ChatReceived):
                self.chats.append(event.seq)
            elif isinstance(event, TRIGGERED):
                self.triggered += 1

    def got(self, after: int, upto: int, seqs: list[int] | None = None) -> int:
        """How many events with ``after < seq <= upto`` arrived (of ``seqs``: all by default)."""
        seqs = self.seqs if seqs is None else seqs
        return bisect.bisect_right(seqs, upto) - bisect.bisect_right(seqs, after)


@asynccontextmanager
async def attached(path: str, clients: int) -> AsyncIterator[list[Subscriber]]:
    """``clients`` subscribed Connections, counting from the start; closed on leaving."""
    endpoint = Endpoint(path=path)
    subscribers: list[Subscriber] = []
    counting: list[asyncio.Task[None]] = []
    try:
        for number in range(clients):
            connection = await Connection.open(endpoint, f"bench-sub-{number}")
            subscribers.append(Subscriber(connection))
            counting.append(asyncio.create_task(subscribers[-1].count()))
        await asyncio.sleep(SETTLE)
        yield subscribers
    finally:
        for subscriber in subscribers:
            await subscriber.connection.close()
        await asyncio.gather(*counting)


async def delivered(subscribers: list[Subscriber], done: Callable[[Subscriber], bool]) -> None:
    """Wait until every subscriber is ``done``, or DELIVERY_TIMEOUT (then the counts tell)."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline and not all(map(done, subscribers)):
        await asyncio.sleep(0.01)


# --- chat ----------------------------------------------------------------------------------


@dataclass
class ChatRun:
    """What one window of the server's chat cost it, and what its clients got."""

    cpu: CpuUse
    client_cpu: float
    """This process's CPU (probe and clients): near 1.0 means the clients are the limit."""
    published: int
    """Events the server published in the window: its seq rose by this much."""
    received: list[int]
    """Per client: events that arrived with a seq inside the window."""
    chats: list[int]
    """Per client: of those, ChatReceived."""
    holes: int
    gaps: int
    missed: int

    @property
    def rate(self) -> float:
        """Events published per second."""
        return self.published / self.cpu.seconds


async def chat_window(path: str, pid: int, clients: int) -> ChatRun:
    """SECONDS of the server's own chat, with ``clients`` clients attached."""
    thread_names(pid)  # before SETTLE: the dump stops the server for a moment
    probe = await Connection.open(Endpoint(path=path), "bench-probe", subscribe=False)
    try:
        async with attached(path, clients) as subscribers:
            return await measure_chat(probe, pid, subscribers)
    finally:
        await probe.close()


async def measure_chat(probe: Connection, pid: int, subscribers: list[Subscriber]) -> ChatRun:
    cpu, own = CpuWindow(pid), time.process_time()
    first = await published_seq(probe)
    await asyncio.sleep(SECONDS)
    last = await published_seq(probe)
    use, own = cpu.use(), time.process_time() - own
    await delivered(subscribers, lambda s: bool(s.seqs) and s.seqs[-1] >= last)
    return ChatRun(
        use,
        own / use.seconds,
        last - first,
        [s.got(first, last) for s in subscribers],
        [s.got(first, last, s.chats) for s in subscribers],
        sum(s.holes for s in subscribers),
        sum(s.gaps for s in subscribers),
        sum(s.missed for s in subscribers),
    )


async def published_seq(probe: Connection) -> int:
    """The seq of the last event the server published."""
    reply = await probe.request(GetSnapshot())
    assert isinstance(reply, Ok) and reply.snapshot is not None, reply
    return reply.snapshot.seq


# --- requests ------------------------------------------------------------------------------


@dataclass
class TriggerRun:
    """What one window of driven requests cost the server, and what its clients got."""

    cpu: CpuUse
    client_cpu: float
    """This process's CPU (driver and clients)."""
    expected: int
    received: list[int]
    gaps: int
    missed: int
    errors: int


async def trigger_window(path: str, pid: int, clients: int) -> TriggerRun:
    """Drive SECONDS of triggers (CHAT_RATE events a second) with ``clients`` attached."""
    requests = int(CHAT_RATE / EVENTS_PER_TRIGGER * SECONDS)
    thread_names(pid)  # before SETTLE: the dump stops the server for a moment
    async with attached(path, clients) as subscribers:
        cpu, own = CpuWindow(pid), time.process_time()
        errors = await drive(path, requests)
        use, own = cpu.use(), time.process_time() - own
        expected = (requests - errors) * EVENTS_PER_TRIGGER
        await delivered(subscribers, lambda s: s.triggered >= expected)
        received = [s.triggered for s in subscribers]
        gaps, missed = sum(s.gaps for s in subscribers), sum(s.missed for s in subscribers)
    return TriggerRun(use, own / use.seconds, expected, received, gaps, missed, errors)


async def drive(path: str, requests: int) -> int:
    """Pipeline the triggers and wait for every reply; return how many were Err."""
    reader, writer = await asyncio.open_unix_connection(path)
    try:
        hello = Hello(protocol_version=PROTOCOL_VERSION, client_name="bench-drive", subscribe=False)
        writer.write(encode(hello))
        await read_frame(reader)
        replies = asyncio.create_task(count_errors(reader, requests))
        await send_paced(writer, requests, CHAT_RATE / EVENTS_PER_TRIGGER)
        async with asyncio.timeout(10):
            return await replies
    finally:
        writer.close()


async def send_paced(writer: asyncio.StreamWriter, requests: int, rate: float) -> None:
    """Send ``requests`` triggers at ``rate`` per second, what is due each tick in one write."""
    start = time.perf_counter()
    sent = 0
    while sent < requests:
        await asyncio.sleep(STEADY_TICK)  # as the demo chat paces
        due = min(requests, int((time.perf_counter() - start) * rate))
        triggers = (TriggerExpression(name=EXPRESSION, id=i) for i in range(sent + 1, due + 1))
        writer.write(b"".join(map(encode, triggers)))
        sent = due


async def count_errors(reader: asyncio.StreamReader, replies: int) -> int:
    frames = [to_client_decoder.decode(await read_frame(reader)) for _ in range(replies)]
    return sum(isinstance(frame, Err) for frame in frames)
