"""Router benchmark: what the provider router adds to a streamed reply, against the bare SDK.

The local wire-format peer (``tests.peers.llm_server``) runs in a child process and streams a
reply of ``DELTAS`` deltas as fast as it can. Against it, in this process:

- Sequential: time to first token and to the end for the bare OpenAI SDK
  (``AsyncOpenAI.chat.completions.create(stream=True)`` iterated) and for the same request through
  ``Router`` with one ``OpenAICompatible`` link (preset "openai" pointed at the peer), plus that
  adapter alone, which splits the overhead between adapter and router. Samples alternate in
  blocks, in rotated order, so the machine's noise hits all three; medians, overheads in ms and
  ratios are printed. The SDK parses every chunk into pydantic models, which costs far more than
  the router does: on a busy machine these medians move by more than the router's share.
- No network: a fake provider's stream iterated directly and through the router, the router's
  own cost per stream and per item, free of the SDK's and the peer's noise.
- Concurrent: ``CONCURRENT`` streams at once, bare then router, each alone: wall time, this
  process's CPU (``time.process_time``) and CPU per stream; the peer's CPU from /proc says
  whether the peer, not the client, set the pace.

Run from the repository root: ``.venv/bin/python -m bench.router``. Exits 0 unless it could not
measure; PASS/MISS against the targets is for reading.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import openai

from agent.providers.base import ChatRequest, Delta, Finished, Message, StreamItem
from agent.providers.openai_compat import OpenAICompatible
from agent.providers.presets import lookup, with_base_url
from agent.providers.router import Link, Router
from bench.loop import LOOP_NAME, run
from bench.processes import cpu_seconds, stopping
from tests.peers.llm_server import LLMServer

KEY = "sk-bench-router"
DELTAS = 40
WARMUP = 30
BLOCKS = 24
BLOCK = 10
FAKE_STREAMS = 3000
"""Streams of a fake provider (no network) timed directly and through the router."""
CONCURRENT = 200
ROUNDS = 3
"""Concurrent windows per side, alternating; the median one is shown."""
MESSAGES = (Message("system", "You are Airi."), Message("user", "Say hello to chat."))
OVERHEAD_TARGET_MS = 0.5
RATIO_TARGET = 1.05

Stream = Callable[[], Awaitable[tuple[float, float]]]
"""One streamed reply; returns (seconds to first token, seconds to the end)."""


@dataclass
class Row:
    """One line of the results table."""

    measure: str
    router: str
    bare: str
    ratio: float | None = None
    target: str = ""
    met: bool | None = None


# --- the peer, in its own process --------------------------------------------------------------


async def serve_peer() -> None:
    """Run the peer until killed; print its URL once it listens."""
    async with LLMServer(api_key=KEY) as server:
        server.script(reply=[f"word{i} " for i in range(DELTAS)])
        print(server.url("/v1"), flush=True)
        await asyncio.Event().wait()


def start_peer() -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.router", "--peer"], stdout=subprocess.PIPE
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    if not url.startswith("http://"):
        proc.kill()
        raise RuntimeError("the peer did not start: see its output above")
    return proc, url


# --- the two ways to stream --------------------------------------------------------------------


def bare_stream(client: openai.AsyncOpenAI) -> Stream:
    messages: list[Any] = [{"role": m.role, "content": m.content} for m in MESSAGES]

    async def stream() -> tuple[float, float]:
        start = time.perf_counter()
        first = 0.0
        chunks = await client.chat.completions.create(
            model="m",
            messages=messages,
            max_tokens=256,
            stream=True,
            stream_options={"include_usage": True},
        )
        async for chunk in chunks:
            if not first and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - start
        return first, time.perf_counter() - start

    return stream


def adapter_stream(adapter: OpenAICompatible) -> Stream:
    """The adapter without the router: splits the router's cost from the adapter's."""
    request = ChatRequest(messages=MESSAGES, model="m")

    async def stream() -> tuple[float, float]:
        start = time.perf_counter()
        first = 0.0
        async for item in adapter.stream(request):
            if not first and isinstance(item, Delta):
                first = time.perf_counter() - start
        return first, time.perf_counter() - start

    return stream


def router_stream(router: Router) -> Stream:
    request = ChatRequest(messages=MESSAGES, model="m")

    async def stream() -> tuple[float, float]:
        start = time.perf_counter()
        first = 0.0
        async for item in router.stream("reply", request):
            if not first and isinstance(item, Delta):
                first = time.perf_counter() - start
        return first, time.perf_counter() - start

    return stream


# --- the router alone, on a provider without a network ----------------------------------------


class FakeProvider:
    """``DELTAS`` deltas and a Finished, each after yielding to the loop as a socket read would."""

    name = "fake"
    model = "m"

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        for _ in range(DELTAS):
            await asyncio.sleep(0)
            yield Delta("word ")
        yield Finished("stop")

    async def probe(self) -> float:
        return 0.0


async def per_stream(items: Callable[[], AsyncIterator[StreamItem]]) -> float:
    """Seconds per stream, over FAKE_STREAMS streams in a row."""
    start = time.perf_counter()
    for _ in range(FAKE_STREAMS):
        async for _ in items():
            pass
    return (time.perf_counter() - start) / FAKE_STREAMS


async def fake_rows() -> list[Row]:
    fake = FakeProvider()
    router = Router({"reply": [Link(fake)]})
    request = ChatRequest(messages=MESSAGES, model="m")
    runs: dict[str, list[float]] = {"direct": [], "router": []}
    for _ in range(5):  # alternating, the median kept
        runs["direct"].append(await per_stream(lambda: fake.stream(request)))
        runs["router"].append(await per_stream(lambda: router.stream("reply", request)))
    direct, routed = (statistics.median(runs[name]) * 1e6 for name in ("direct", "router"))
    per_item = (routed - direct) / (DELTAS + 1)
    return [
        Row(
            f"no network: {DELTAS}-delta stream of a fake provider",
            f"{routed:.0f} µs",
            f"{direct:.0f} µs direct",
            routed / direct,
        ),
        Row(
            "  the router's own cost per stream | per item",
            f"{routed - direct:.0f} µs | {per_item:.1f} µs",
            "",
            target=f"< {OVERHEAD_TARGET_MS * 1e3:g} µs a stream",
            met=(routed - direct) / 1e3 < OVERHEAD_TARGET_MS,
        ),
    ]


# --- measuring ---------------------------------------------------------------------------------


async def interleaved(streams: dict[str, Stream]) -> dict[str, list[tuple[float, float]]]:
    """Warm both up, then time them in alternating blocks."""
    for stream in streams.values():
        for _ in range(WARMUP):
            await stream()
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in streams}
    names = list(streams)
    for block in range(BLOCKS):
        for name in names[block % len(names) :] + names[: block % len(names)]:  # rotated
            samples[name] += [await streams[name]() for _ in range(BLOCK)]
    return samples


@dataclass
class Burst:
    """``CONCURRENT`` streams at once: wall time and CPU, this process's and the peer's."""

    wall: float
    cpu: float
    peer_cpu: float
    failed: int


async def burst(stream: Stream, peer_pid: int) -> Burst:
    cpu, peer, wall = time.process_time(), cpu_seconds(peer_pid), time.perf_counter()
    results = await asyncio.gather(*(stream() for _ in range(CONCURRENT)), return_exceptions=True)
    wall = time.perf_counter() - wall
    cpu, peer = time.process_time() - cpu, cpu_seconds(peer_pid) - peer
    return Burst(wall, cpu, peer, sum(isinstance(r, BaseException) for r in results))


async def bursts(streams: dict[str, Stream], peer_pid: int) -> dict[str, Burst]:
    """ROUNDS windows per side, alternating; the one with the median wall time."""
    runs: dict[str, list[Burst]] = {name: [] for name in streams}
    for _ in range(ROUNDS):
        for name, stream in streams.items():
            runs[name].append(await burst(stream, peer_pid))
    return {name: sorted(b, key=lambda b: b.wall)[len(b) // 2] for name, b in runs.items()}


async def measure(url: str, peer_pid: int) -> tuple[list[Row], str]:
    client = openai.AsyncOpenAI(base_url=url, api_key=KEY, max_retries=0)
    adapter = OpenAICompatible(with_base_url(lookup("openai"), url), KEY, model="m")
    router = Router({"reply": [Link(adapter)]})
    streams = {"router": router_stream(router), "bare": bare_stream(client)}
    try:
        samples = await interleaved({**streams, "adapter": adapter_stream(adapter)})
        concurrent = await bursts(streams, peer_pid)
    finally:
        await client.close()
        await adapter.close()
    rows = sequential_rows(samples) + concurrent_rows(concurrent) + await fake_rows()
    return rows, peer_note(concurrent["bare"])


# --- the table ---------------------------------------------------------------------------------


def sequential_rows(samples: dict[str, list[tuple[float, float]]]) -> list[Row]:
    n = len(samples["router"])
    rows = []
    for index, what in ((0, "first token"), (1, "whole reply")):
        routed, bare, adapter = (
            statistics.median(s[index] for s in samples[name]) * 1e3
            for name in ("router", "bare", "adapter")
        )
        overhead = routed - bare
        rows += [
            Row(
                f"{what}, median of {n}",
                f"{routed:.2f} ms",
                f"{bare:.2f} ms",
                routed / bare,
                f"≤ {RATIO_TARGET:g}x",
                routed / bare <= RATIO_TARGET,
            ),
            Row(
                "  router overhead (median difference)",
                f"{overhead:+.3f} ms",
                "",
                target=f"< {OVERHEAD_TARGET_MS:g} ms",
                met=overhead < OVERHEAD_TARGET_MS,
            ),
            Row(
                "  of which the adapter (adapter alone - bare)",
                f"{adapter - bare:+.3f} ms",
                f"{adapter:.2f} ms alone",
            ),
            Row(
                "  of which the router (router - adapter alone)", f"{routed - adapter:+.3f} ms", ""
            ),
        ]
    return rows


def concurrent_rows(runs: dict[str, Burst]) -> list[Row]:
    routed, bare = runs["router"], runs["bare"]
    per = 1e3 / CONCURRENT
    return [
        Row(
            f"{CONCURRENT} concurrent streams, wall",
            f"{routed.wall * 1e3:.0f} ms",
            f"{bare.wall * 1e3:.0f} ms",
            routed.wall / bare.wall,
        ),
        Row(
            "  client CPU (this process)",
            f"{routed.cpu * 1e3:.0f} ms",
            f"{bare.cpu * 1e3:.0f} ms",
            routed.cpu / bare.cpu if bare.cpu else None,
        ),
        Row(
            "  client CPU per stream",
            f"{routed.cpu * per:.2f} ms",
            f"{bare.cpu * per:.2f} ms",
            routed.cpu / bare.cpu if bare.cpu else None,
        ),
        Row(
            "  peer CPU (its own process)",
            f"{routed.peer_cpu * 1e3:.0f} ms",
            f"{bare.peer_cpu * 1e3:.0f} ms",
        ),
        Row("  streams failed", f"{routed.failed}", f"{bare.failed}"),
    ]


def cells(row: Row) -> list[str]:
    ratio = f"{row.ratio:.3f}x" if row.ratio else ""
    verdict = "" if row.met is None else ("PASS" if row.met else "MISS")
    return [row.measure, row.router, row.bare, ratio, row.target, verdict]


def print_table(rows: list[Row]) -> None:
    table = [["measure", "router", "bare SDK", "ratio", "target", "result"], *map(cells, rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(table[0]))]
    for line in table:
        padded = [
            cell.rjust(width) if column in (1, 2, 3) else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(padded).rstrip())


def peer_note(bare: Burst) -> str:
    """Whether the peer, not the client, is what the concurrent wall time measures."""
    peer, client = bare.peer_cpu * 1e3, bare.cpu * 1e3
    if peer >= client:
        return (
            f"the peer used {peer:.0f} ms of CPU to the bare client's {client:.0f} ms: it dominates"
            " the concurrent wall time, so read the client CPU rows, not the wall ratio"
        )
    return f"the client used more CPU than the peer ({client:.0f} ms to {peer:.0f} ms)"


def main() -> int:
    if sys.argv[1:] == ["--peer"]:
        run(serve_peer())
        return 0
    load = os.getloadavg()[0]
    print(
        f"airi router benchmark: Python {sys.version.split()[0]}, {LOOP_NAME}, openai"
        f" {openai.__version__}, {DELTAS} deltas a reply, {os.cpu_count()} CPUs,"
        f" load {load:.2f} at start"
    )
    proc, url = start_peer()
    with stopping(proc):
        rows, note = run(measure(url, proc.pid))
    print_table(rows)
    print(note)
    print(
        "the SDK parses each chunk into pydantic models (about 0.5 ms a chunk here), so the"
        " network medians move by more than the router's share between runs; the no-network"
        " rows measure the router alone"
    )
    print(f"load {load:.2f} at start, {os.getloadavg()[0]:.2f} at the end: compare ratios, not ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
