"""IPC benchmark of the agent: request round trip, event fan-out, start time and idle memory.

Every figure is set against a baseline measured in the same run, on the same event loop:

- Round trip: ``Connection.request(Ping())`` through a real ``airi agent`` process, against a
  bare length-prefixed echo server (``bench.bare``) driven by the same framing code
  (``encode``/``read_frame``). A raw-framing client on the agent too separates the agent's own
  cost from the client's. Samples alternate in blocks so the machine's noise hits all three.
- Fan-out: a driver pipelines ``TriggerExpression`` at a steady rate (each one is published as
  ActionQueued, ExpressionChanged and ActionUpdated) and three real clients count what arrives.
  The server's CPU comes from /proc over the window; the baseline is a bare fan-out server fed
  the same requests that sends equally sized frames.
- Start: ``Popen`` to the sd_notify ``READY=1`` datagram, against ``python -c pass``; idle RSS
  one second after READY, against the idle bare echo server.

Run from the repository root: ``.venv/bin/python -m bench.ipc``. Exits 0 unless it could not
measure; PASS/MISS against the targets is for reading.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from agent.protocol import PROTOCOL_VERSION, Connection, Endpoint, encode, read_frame
from agent.protocol.framing import to_client_decoder
from agent.protocol.messages import (
    ActionQueued,
    ActionUpdated,
    Err,
    ExpressionChanged,
    Gap,
    Hello,
    Ping,
    TriggerExpression,
)
from bench.bare import EXPRESSION
from bench.loop import LOOP_NAME, run
from bench.processes import (
    AgentProcess,
    cpu_seconds,
    python_startup_seconds,
    rss_mib,
    start_agent,
    start_bare,
    stop,
    stopping,
)

STARTS = 5
RTT_WARMUP = 500
RTT_BLOCKS = 30
RTT_BLOCK = 100
EVENT_RATE = 10_000.0
EVENTS_PER_TRIGGER = 3
FANOUT_CLIENTS = 3
FANOUT_SECONDS = 5.0
TICK = 0.005
"""The driver sends what is due every 5 ms: a steady rate, ~50 events per agent wake-up."""

COUNTED = (ActionQueued, ExpressionChanged, ActionUpdated)
Call = Callable[[], Awaitable[object]]


@dataclass
class Row:
    """One line of the results table."""

    measure: str
    agent: str
    baseline: str
    ratio: float | None = None
    target: str = ""
    met: bool | None = None


# --- round trip ----------------------------------------------------------------------------


async def handshake(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw connection that has said Hello (an echo server answers with the Hello itself)."""
    reader, writer = await asyncio.open_unix_connection(path)
    hello = Hello(protocol_version=PROTOCOL_VERSION, client_name="bench", subscribe=False)
    writer.write(encode(hello))
    await read_frame(reader)
    return reader, writer


def raw_ping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Call:
    """One request-reply with nothing but the framing code."""
    frame = encode(Ping(id=1))

    async def ping() -> bytes:
        writer.write(frame)
        return await read_frame(reader)

    return ping


async def time_calls(call: Call, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def interleaved(calls: dict[str, Call]) -> dict[str, list[float]]:
    """Warm every call up, then time them in alternating blocks."""
    for call in calls.values():
        await time_calls(call, RTT_WARMUP)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(RTT_BLOCKS):
        for name, call in calls.items():
            samples[name] += await time_calls(call, RTT_BLOCK)
    return samples


async def round_trips(agent_path: str, echo_path: str) -> dict[str, list[float]]:
    connection = await Connection.open(Endpoint(path=agent_path), "bench-rtt", subscribe=False)
    agent_raw = await handshake(agent_path)
    echo_raw = await handshake(echo_path)
    try:
        return await interleaved(
            {
                "agent": lambda: connection.request(Ping()),
                "agent_raw": raw_ping(*agent_raw),
                "echo": raw_ping(*echo_raw),
            }
        )
    finally:
        await connection.close()
        agent_raw[1].close()
        echo_raw[1].close()


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p90 and p99, in microseconds."""
    cuts = statistics.quantiles(samples, n=100)
    return cuts[49] * 1e6, cuts[89] * 1e6, cuts[98] * 1e6


def round_trip_rows(samples: dict[str, list[float]]) -> list[Row]:
    agent, raw, echo = (percentiles(samples[k]) for k in ("agent", "agent_raw", "echo"))
    n = len(samples["agent"])
    rows = [
        Row(f"ping p{p}, Connection.request (n={n})", f"{a:.0f} µs", f"{e:.0f} µs echo", a / e)
        for p, a, e in zip((50, 90, 99), agent, echo, strict=True)
    ]
    rows[0].target, rows[0].met = "≤ 3x", agent[0] <= 3 * echo[0]
    rows.append(Row("ping p50, raw framing client", f"{raw[0]:.0f} µs", "", raw[0] / echo[0]))
    rows[-1].target = "(agent alone)"
    return rows


# --- fan-out -------------------------------------------------------------------------------


@dataclass
class Subscriber:
    """An attached client counting the driver's events (and any Gap) as they arrive."""

    connection: Connection
    received: int = 0
    gaps: int = 0
    missed: int = 0

    async def count(self) -> None:
        async for event in self.connection.events():
            if isinstance(event, COUNTED):
                self.received += 1
            elif isinstance(event, Gap):
                self.gaps += 1
                self.missed += event.missed


@dataclass
class FanOut:
    """What one fan-out run cost the server and what its clients got."""

    cpu: float
    """Server CPU seconds per second of traffic (1.0 = one core)."""
    client_cpu: float
    """The same for this process (driver and clients): near 1.0 means the clients are the limit."""
    expected: int
    received: list[int]
    gaps: int
    missed: int
    errors: int


async def send_paced(writer: asyncio.StreamWriter, requests: int, rate: float) -> float:
    """Send ``requests`` triggers at ``rate`` per second, what is due each tick in one write."""
    start = time.perf_counter()
    sent = 0
    while sent < requests:
        await asyncio.sleep(TICK)
        due = min(requests, int((time.perf_counter() - start) * rate))
        triggers = (TriggerExpression(name=EXPRESSION, id=i) for i in range(sent + 1, due + 1))
        writer.write(b"".join(map(encode, triggers)))
        sent = due
    return time.perf_counter() - start


async def count_errors(reader: asyncio.StreamReader, replies: int) -> int:
    frames = [to_client_decoder.decode(await read_frame(reader)) for _ in range(replies)]
    return sum(isinstance(frame, Err) for frame in frames)


async def drive(path: str, requests: int) -> tuple[float, int]:
    """Pipeline the triggers; return the seconds taken to send them and how many failed."""
    reader, writer = await handshake(path)
    try:
        replies = asyncio.create_task(count_errors(reader, requests))
        elapsed = await send_paced(writer, requests, EVENT_RATE / EVENTS_PER_TRIGGER)
        async with asyncio.timeout(10):
            return elapsed, await replies
    finally:
        writer.close()


async def all_delivered(subscribers: list[Subscriber], expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(s.received < expected for s in subscribers):
        await asyncio.sleep(0.01)


async def fan_out(path: str, pid: int, clients: int) -> FanOut:
    """Drive FANOUT_SECONDS of events through the server at ``path`` to ``clients`` clients."""
    endpoint = Endpoint(path=path)
    subscribers = [
        Subscriber(await Connection.open(endpoint, f"bench-sub-{i}")) for i in range(clients)
    ]
    requests = int(EVENT_RATE / EVENTS_PER_TRIGGER * FANOUT_SECONDS)
    counting = [asyncio.create_task(s.count()) for s in subscribers]
    try:
        await asyncio.sleep(0.3)  # let the attach events (ClientsChanged, logs) pass
        server_start, own_start = cpu_seconds(pid), time.process_time()
        elapsed, errors = await drive(path, requests)
        expected = (requests - errors) * EVENTS_PER_TRIGGER
        await all_delivered(subscribers, expected, timeout=3.0)
        server, own = cpu_seconds(pid) - server_start, time.process_time() - own_start
    finally:
        for subscriber in subscribers:
            await subscriber.connection.close()
    await asyncio.gather(*counting)
    gaps, missed = sum(s.gaps for s in subscribers), sum(s.missed for s in subscribers)
    received = [s.received for s in subscribers]
    return FanOut(server / elapsed, own / elapsed, expected, received, gaps, missed, errors)


async def fan_outs(agent: tuple[str, int], bare: tuple[str, int]) -> dict[str, FanOut]:
    """The agent and the bare server, alternately, with clients attached and then none."""
    servers = {"agent": agent, "bare": bare}
    return {
        f"{name} {clients}": await fan_out(path, pid, clients)
        for clients in (FANOUT_CLIENTS, 0)
        for name, (path, pid) in servers.items()
    }


def delivered(run: FanOut) -> str:
    """Events received of those expected, per client, and what went wrong."""
    counts = set(run.received)
    got = str(counts.pop()) if len(counts) == 1 else "|".join(map(str, run.received))
    missed = f" ({run.missed} missed)" if run.gaps else ""
    errors = f", {run.errors} Err" if run.errors else ""
    return f"{got}/{run.expected} x{len(run.received)}, {run.gaps} Gap{missed}{errors}"


def cpu_row(measure: str, agent: FanOut, bare: FanOut) -> Row:
    ratio = agent.cpu / bare.cpu if bare.cpu else None
    return Row(measure, f"{agent.cpu:.1%}", f"{bare.cpu:.1%} bare", ratio)


def fan_out_rows(runs: dict[str, FanOut]) -> list[Row]:
    agent, bare = runs[f"agent {FANOUT_CLIENTS}"], runs[f"bare {FANOUT_CLIENTS}"]
    rate = f"{EVENT_RATE / 1000:g}k ev/s to {FANOUT_CLIENTS} clients"
    rows = [
        cpu_row(f"fan-out CPU, {rate}", agent, bare),
        cpu_row("  same requests, no client attached", runs["agent 0"], runs["bare 0"]),
        Row("  events received per client", delivered(agent), delivered(bare)),
        Row(
            "  client-side CPU (this process)", f"{agent.client_cpu:.1%}", f"{bare.client_cpu:.1%}"
        ),
    ]
    rows[0].target, rows[0].met = "< 15% core", agent.cpu < 0.15
    return rows


# --- start and memory ----------------------------------------------------------------------


def start_rows(home: Path) -> list[Row]:
    """Median time to READY=1 over STARTS starts of the agent, against ``python -c pass``."""
    ready = []
    for _ in range(STARTS):
        agent = start_agent(home)
        stop(agent.proc)
        ready.append(agent.ready_seconds)
    agent_s = statistics.median(ready)
    python_s = statistics.median(python_startup_seconds() for _ in range(STARTS))
    spread = f"{min(ready):.2f}-{max(ready):.2f}"
    return [
        Row(
            f"start to READY=1, median of {STARTS}",
            f"{agent_s:.2f} s ({spread})",
            f"{python_s:.3f} s python",
            agent_s / python_s,
            "< 1.5 s",
            agent_s < 1.5,
        )
    ]


def rss_row(agent_pid: int, bare_pid: int) -> Row:
    agent, bare = rss_mib(agent_pid), rss_mib(bare_pid)
    return Row(
        "idle RSS, 1 s after READY", f"{agent:.1f} MiB", f"{bare:.1f} MiB bare", agent / bare
    )


# --- the run -------------------------------------------------------------------------------


def socket_rows(agent: AgentProcess, tmp: Path) -> list[Row]:
    """Idle RSS, round trips and fan-out, each against its bare peer."""
    echo_path, fanout_path = str(tmp / "echo.sock"), str(tmp / "fanout.sock")
    echo = start_bare("echo", echo_path)
    with stopping(echo):
        time.sleep(1.0)
        rows = [rss_row(agent.proc.pid, echo.pid)]
        rows += round_trip_rows(run(round_trips(agent.socket, echo_path)))
    bare = start_bare("fanout", fanout_path)
    with stopping(bare):
        runs = run(fan_outs((agent.socket, agent.proc.pid), (fanout_path, bare.pid)))
    return rows + fan_out_rows(runs)


def measure(tmp: Path) -> list[Row]:
    home = tmp / "home"
    home.mkdir()
    rows = start_rows(home)
    agent = start_agent(home)
    with stopping(agent.proc):
        rows += socket_rows(agent, tmp)
    return rows


def cells(row: Row) -> list[str]:
    ratio = f"{row.ratio:.1f}x" if row.ratio else ""
    verdict = "" if row.met is None else ("PASS" if row.met else "MISS")
    return [row.measure, row.agent, row.baseline, ratio, row.target, verdict]


def print_table(rows: list[Row]) -> None:
    """Text columns left-aligned, figures right-aligned."""
    table = [["measure", "agent", "baseline", "ratio", "target", "result"], *map(cells, rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    for line in table:
        padded = [
            cell.rjust(width) if column in (1, 2, 3) else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(padded).rstrip())


def main() -> int:
    load = os.getloadavg()[0]
    print(
        f"airi IPC benchmark: Python {sys.version.split()[0]}, {LOOP_NAME} on both sides,"
        f" {os.cpu_count()} CPUs, load {load:.2f} at start"
    )
    with tempfile.TemporaryDirectory(prefix="airi-bench-") as tmp:
        rows = measure(Path(tmp))
    print_table(rows)
    print(f"load {load:.2f} at start, {os.getloadavg()[0]:.2f} at the end: compare ratios, not µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
