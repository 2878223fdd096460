"""What a live show throws at the agent: stuck clients, a locked store, hostile input, crashes."""

from __future__ import annotations

import asyncio
import logging
import signal
import sqlite3
import threading
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.daemon import Agent
from agent.logs import RedactingFormatter
from agent.protocol import AgentError, Connection, encode
from agent.protocol import messages as m
from agent.secrets import Secrets
from agent.server import ServerError
from agent.supervisor import ServiceContext
from tests.conftest import AgentProcess

SECRET = "sk-live-SUPERSECRET-0123456789"


def chat(n: int, text: str = "hi") -> m.ChatMessage:
    return m.ChatMessage(id=f"c{n}", platform="twitch", author="v", text=text, ts=1.0)


async def events_until(conn: Connection, done: object, timeout: float = 10.0) -> list[m.Event]:
    seen: list[m.Event] = []
    async with asyncio.timeout(timeout):
        async for event in conn.events():
            seen.append(event)
            if done(event):  # type: ignore[operator]
                return seen
    raise AssertionError(f"session ended: {conn.close_reason}")


async def test_sigterm_exits_even_when_a_client_stopped_reading(
    agent_process: AgentProcess,
) -> None:
    agent_process.config = {"demo_chat": {"enabled": "on", "messages_per_minute": 60000}}
    agent_process.start()
    _reader, writer = await asyncio.open_unix_connection(str(agent_process.socket))
    writer.write(encode(m.Hello(protocol_version=m.PROTOCOL_VERSION, client_name="frozen")))
    await asyncio.sleep(2.0)  # a suspended `airi ctl events`: its buffers fill up
    # Under systemd, TimeoutStopSec (15 s) would SIGKILL an agent that hangs here.
    assert agent_process.signal(signal.SIGTERM) == 0
    writer.close()


async def test_a_locked_store_degrades_then_recovers_without_losing_chat(
    inproc_agent: Agent,
) -> None:
    conn = await Connection.open(inproc_agent.endpoint, "watch")
    locker = sqlite3.connect(inproc_agent.store.path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    for n in range(5):
        inproc_agent.receive_chat(chat(n))
    degraded = await events_until(
        conn, lambda e: isinstance(e, m.HealthChanged) and e.health.state == "degraded"
    )
    assert "locked" in degraded[-1].health.detail  # type: ignore[attr-defined]
    locker.execute("ROLLBACK")
    await events_until(
        conn,
        lambda e: (
            isinstance(e, m.HealthChanged) and e.health.name == "store" and e.health.state == "up"
        ),
    )
    rows = locker.execute("SELECT message_id FROM chat_log ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [f"c{n}" for n in range(5)]
    locker.close()
    await conn.close()


async def test_secrets_in_errors_never_reach_clients(tmp_path: Path) -> None:
    config = parse_config({"demo_chat": {"enabled": "off"}})
    agent = Agent(
        config,
        Secrets(openai_api_key=SECRET),
        state_dir=tmp_path / "state",
        socket_path=tmp_path / "agent.sock",
    )
    await agent.start()
    logging.getLogger().setLevel(logging.INFO)
    try:
        conn = await Connection.open(agent.endpoint, "spy")

        async def leaky(ctx: ServiceContext) -> None:
            raise RuntimeError(f"401 from https://api.example/v1?key={SECRET}")

        agent.supervisor.start("llm_probe", leaky)
        try:
            raise ConnectionError(f"Authorization: Bearer {SECRET}")
        except ConnectionError:
            logging.getLogger("agent.llm").exception("the provider refused")
        seen = await events_until(
            conn, lambda e: isinstance(e, m.LogRecorded) and "provider refused" in e.line.message
        )
        await events_until(
            conn, lambda e: isinstance(e, m.HealthChanged) and e.health.state == "down"
        )
        snapshot = (await conn.request(m.GetSnapshot())).snapshot  # type: ignore[union-attr]
        assert "********" in repr(seen)  # the error text arrived, masked
        assert SECRET not in repr(seen) + repr(snapshot)
        await conn.close()
    finally:
        await agent.supervisor.stop("llm_probe")
        await agent.stop()


def test_a_newline_in_a_log_message_cannot_forge_a_journal_entry() -> None:
    record = logging.LogRecord("agent.server", logging.INFO, __file__, 1, "%s", None, None)
    record.args = ("client x\n<0>agent.daemon: store corrupted",)
    text = RedactingFormatter([], journal=True).format(record)
    assert all(line.startswith("<6>") for line in text.splitlines())


async def test_huge_bad_requests_get_a_short_err_and_the_session_goes_on(
    inproc_agent: Agent,
) -> None:
    conn = await Connection.open(inproc_agent.endpoint, "t")
    with pytest.raises(AgentError) as refused:
        await conn.request(m.TriggerExpression(name="x" * 1_000_000))
    assert len(str(refused.value)) < 300
    with pytest.raises(AgentError, match="too long"):
        await conn.request(m.Say(text="y" * 1_000_000))
    assert (await conn.request(m.Ping())).detail == "pong"  # type: ignore[union-attr]
    await conn.close()


async def test_the_say_queue_is_bounded(inproc_agent: Agent) -> None:
    conn = await Connection.open(inproc_agent.endpoint, "t", subscribe=False)
    for n in range(inproc_agent.queue.max_size + 1):  # one is being said, the rest wait
        await conn.request(m.Say(text=f"line {n}"))
    with pytest.raises(AgentError, match="already waiting"):
        await conn.request(m.Say(text="one too many"))
    await conn.close()


async def test_a_failed_start_cleans_up_and_leaves_the_running_agent_alone(
    inproc_agent: Agent, tmp_path: Path
) -> None:
    threads = threading.active_count()
    second = Agent(
        inproc_agent.config, state_dir=tmp_path / "other", socket_path=inproc_agent.socket_path
    )
    with pytest.raises(ServerError, match="already running"):
        await second.start()
    await second.stop()
    assert inproc_agent.socket_path.exists()  # the first agent's socket was not removed
    assert threading.active_count() == threads  # the second store's thread is gone
    conn = await Connection.open(inproc_agent.endpoint, "still here")
    await conn.close()


async def test_a_shared_socket_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    agent = Agent(
        parse_config({"demo_chat": {"enabled": "off"}}),
        state_dir=tmp_path / "state",
        socket_path=shared / "agent.sock",
    )
    with pytest.raises(ServerError, match="writable by other users"):
        await agent.start()
    assert (shared.stat().st_mode & 0o777) == 0o777  # not silently changed


async def test_a_flood_of_silent_connections_does_not_count_as_clients(
    inproc_agent: Agent,
) -> None:
    watcher = await Connection.open(inproc_agent.endpoint, "watcher")
    silent = [await asyncio.open_unix_connection(str(inproc_agent.socket_path)) for _ in range(100)]
    conn = await Connection.open(inproc_agent.endpoint, "real")  # still gets in
    joined = await events_until(conn, lambda e: isinstance(e, m.ClientsChanged))
    assert joined[-1].count == 2  # type: ignore[attr-defined]
    counts = [e.count for e in watcher.drain_events() if isinstance(e, m.ClientsChanged)]
    assert counts == [1, 2]  # the watcher, then the real client: silent ones never counted
    for _, writer in silent:
        writer.close()
    await conn.close()
    await watcher.close()
