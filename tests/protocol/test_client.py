"""The client: request timeouts, failing pending calls on loss, and reattaching with backoff."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.daemon import Agent
from agent.protocol import (
    Attached,
    Backoff,
    Connection,
    ConnectionLost,
    Detached,
    Endpoint,
    encode,
    follow,
)
from agent.protocol import messages as m
from agent.protocol.framing import read_frame

SNAPSHOT = m.Snapshot(agent_name="a", agent_version="0", pid=1, started_at=0, mode="x", seq=0)


async def mute_agent(path: Path, hang_up_after_hello: bool = False) -> asyncio.Server:
    """Says Welcome, then never answers (or hangs up)."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_frame(reader)
        writer.write(
            encode(m.Welcome(id=0, agent_version="0", protocol_version=1, snapshot=SNAPSHOT))
        )
        if hang_up_after_hello:
            await read_frame(reader)
            writer.close()
            return
        await reader.read()

    return await asyncio.start_unix_server(serve, path=str(path))


async def test_a_request_the_agent_never_answers_times_out(tmp_path: Path) -> None:
    server = await mute_agent(tmp_path / "s")
    conn = await Connection.open(Endpoint(path=str(tmp_path / "s")), "t")
    with pytest.raises(TimeoutError):
        await conn.request(m.Ping(), timeout=0.2)
    await conn.close()
    server.close()


async def test_pending_requests_fail_at_once_when_the_agent_goes_away(tmp_path: Path) -> None:
    server = await mute_agent(tmp_path / "s", hang_up_after_hello=True)
    conn = await Connection.open(Endpoint(path=str(tmp_path / "s")), "t")
    with pytest.raises(ConnectionLost, match="closed"):
        await conn.request(m.Ping(), timeout=30)
    await conn.close()
    server.close()


def test_backoff_is_full_jitter_under_a_growing_cap() -> None:
    backoff = Backoff(base=0.5, cap=4.0, rng=random.Random(1))
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    delays = [backoff.next_delay() for _ in ceilings]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    backoff.reset()
    assert backoff.next_delay() <= 0.5


async def test_follow_waits_for_an_agent_then_reattaches_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "agent.sock"
    config = parse_config({"demo_chat": {"enabled": "off"}})
    updates = follow(Endpoint(path=str(path)), "t", Backoff(base=0.01, cap=0.05))
    first = await anext(updates)
    assert isinstance(first, Detached) and "no agent is listening" in first.reason
    agent = Agent(config, state_dir=tmp_path, socket_path=path)
    await agent.start()
    attached = await asyncio.wait_for(_next_attached(updates), 10)
    await agent.stop("restart")
    async for _ in attached.connection.events():
        pass  # the session ends with the agent
    assert isinstance(await anext(updates), Detached)
    agent = Agent(config, state_dir=tmp_path, socket_path=path)
    await agent.start()
    again = await asyncio.wait_for(_next_attached(updates), 10)
    assert again.welcome.snapshot.started_at > attached.welcome.snapshot.started_at  # the new agent
    await updates.aclose()
    await agent.stop()


async def _next_attached(updates: object) -> Attached:
    async for update in updates:  # type: ignore[attr-defined]
        if isinstance(update, Attached):
            return update
    raise AssertionError("follow() ended")
