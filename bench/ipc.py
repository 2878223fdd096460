"""IPC benchmark of the agent: event fan-out, request round trip, start time and idle memory.

Every figure is set against a baseline measured in the same run, on the same event loop:

- Fan-out (the main figure): an agent whose demo chat makes ``CHAT_RATE`` ChatReceived events
  a second (steady pacing, through the real path: bus, state, store, every client's socket),
  with three real ``Connection`` clients attached, then none; against a bare server sending
  pre-encoded frames of the same sizes on the same 5 ms tick. Each client checks it got every
  event published in the window, with no hole in ``seq`` and no Gap (see ``bench.fanout``).
  Requests + fan-out: the same event rate driven by pipelined ``TriggerExpression`` requests.
- Round trip: ``Connection.request(Ping())`` through a real ``airi agent`` process, against a
  bare length-prefixed echo server (``bench.bare``) driven by the same framing code
  (``encode``/``read_frame``). A raw-framing client on the agent too separates the agent's own
  cost from the client's. Samples alternate in blocks so the machine's noise hits all three.
- Start: ``Popen`` to the sd_notify ``READY=1`` datagram, against ``python -c pass``; idle RSS
  one second after READY, against the idle bare echo server.

Server CPU comes from /proc over each window. Run from the repository root:
``.venv/bin/python -m bench.ipc``. Exits 0 unless it could not measure; PASS/MISS against the
targets is for reading.
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
from agent.protocol.messages import Hello, Ping
from bench.bare import CHAT_RATE
from bench.fanout import (
    CLIENTS,
    EVENTS_PER_TRIGGER,
    ChatRun,
    CpuUse,
    TriggerRun,
    chat_window,
    trigger_window,
)
from bench.loop import LOOP_NAME, run
from bench.processes import (
    AgentProcess,
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
CHAT_CONFIG = f"""[demo_chat]
enabled = "on"
messages_per_minute = {CHAT_RATE * 60}
pacing = "steady"
"""
CHAT_WARMUP = 1.0
"""Seconds after READY (or the bare peer's start) before the first chat window."""

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


def cpu_row(measure: str, agent: float, bare: float) -> Row:
    return Row(measure, f"{agent:.1%}", f"{bare:.1%} bare", agent / bare if bare > 0 else None)


def by_thread(cpu: CpuUse) -> str:
    return f"{cpu.main:.1%} | {cpu.store:.1%} | {cpu.other:.1%}"


def same(counts: list[int]) -> str:
    """One count when every client got the same, else each client's."""
    return f"{counts[0]}" if len(set(counts)) == 1 else "|".join(map(str, counts))


def chat_received(run: ChatRun) -> str:
    """Events in the window per client, of those published (ChatReceived among them)."""
    return f"{same(run.received)}/{run.published} x{len(run.received)} ({same(run.chats)})"


def chat_rows(runs: dict[str, ChatRun]) -> list[Row]:
    agent, bare = runs[f"agent {CLIENTS}"], runs[f"bare {CLIENTS}"]
    alone, bare_alone = runs["agent 0"], runs["bare 0"]
    rate = f"{CHAT_RATE / 1000:g}k ChatReceived/s"
    rows = [
        cpu_row(f"fan-out CPU, {rate} to {CLIENTS} clients", agent.cpu.total, bare.cpu.total),
        Row("  thread: main | store | other", by_thread(agent.cpu), by_thread(bare.cpu)),
        cpu_row("  same chat rate, no client attached", alone.cpu.total, bare_alone.cpu.total),
        Row("  thread: main | store | other", by_thread(alone.cpu), by_thread(bare_alone.cpu)),
        cpu_row(
            f"  the fan-out itself ({CLIENTS} clients - none)",
            agent.cpu.total - alone.cpu.total,
            bare.cpu.total - bare_alone.cpu.total,
        ),
        Row("  got/published per client (chat)", chat_received(agent), chat_received(bare)),
        Row(
            "  holes in seq | Gap (missed)",
            f"{agent.holes} | {agent.gaps} ({agent.missed})",
            f"{bare.holes} | {bare.gaps} ({bare.missed})",
        ),
        Row(
            "  published ev/s, clients | none",
            f"{agent.rate:,.0f} | {alone.rate:,.0f}",
            f"{bare.rate:,.0f} | {bare_alone.rate:,.0f}",
        ),
        Row("  client CPU (this process)", f"{agent.client_cpu:.1%}", f"{bare.client_cpu:.1%}"),
    ]
    rows[0].target, rows[0].met = "< 15% core", agent.cpu.total < 0.15
    return rows


def trigger_rows(agent: TriggerRun, bare: TriggerRun) -> list[Row]:
    rate = f"{CHAT_RATE / EVENTS_PER_TRIGGER / 1000:.1f}k TriggerExpression/s"
    return [
        cpu_row(f"requests + fan-out, {rate} to {CLIENTS}", agent.cpu.total, bare.cpu.total),
        Row("  events received per client", trigger_delivered(agent), trigger_delivered(bare)),
    ]


def trigger_delivered(run: TriggerRun) -> str:
    missed = f" ({run.missed} missed)" if run.gaps else ""
    errors = f", {run.errors} Err" if run.errors else ""
    return (
        f"{same(run.received)}/{run.expected} x{len(run.received)}, {run.gaps} Gap{missed}{errors}"
    )


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


def socket_rows(agent: AgentProcess, tmp: Path) -> tuple[list[Row], list[Row]]:
    """Idle RSS and round trips, then requests + fan-out, each against its bare peer."""
    echo_path, fanout_path = str(tmp / "echo.sock"), str(tmp / "fanout.sock")
    echo = start_bare("echo", echo_path)
    with stopping(echo):
        time.sleep(1.0)
        rows = [rss_row(agent.proc.pid, echo.pid)]
        rows += round_trip_rows(run(round_trips(agent.socket, echo_path)))
    bare = start_bare("fanout", fanout_path)
    with stopping(bare):
        triggered = run(trigger_window(agent.socket, agent.proc.pid, CLIENTS))
        bare_triggered = run(trigger_window(fanout_path, bare.pid, CLIENTS))
    return rows, trigger_rows(triggered, bare_triggered)


def chat_runs(tmp: Path) -> dict[str, ChatRun]:
    """An agent whose demo chat runs at CHAT_RATE, then the bare chat, each alone on the CPU."""
    home = tmp / "chat"
    home.mkdir()
    agent = start_agent(home, CHAT_CONFIG)
    with stopping(agent.proc):
        runs = run(chat_windows("agent", agent.socket, agent.proc.pid))
    bare_path = str(tmp / "chat.sock")
    bare = start_bare("chat", bare_path)
    with stopping(bare):
        runs |= run(chat_windows("bare", bare_path, bare.pid))
    return runs


async def chat_windows(name: str, path: str, pid: int) -> dict[str, ChatRun]:
    await asyncio.sleep(CHAT_WARMUP)
    return {f"{name} {clients}": await chat_window(path, pid, clients) for clients in (CLIENTS, 0)}


def measure(tmp: Path) -> list[Row]:
    home = tmp / "home"
    home.mkdir()
    rows = start_rows(home)
    agent = start_agent(home)
    with stopping(agent.proc):
        socket, triggered = socket_rows(agent, tmp)
    return rows + socket + chat_rows(chat_runs(tmp)) + triggered


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
