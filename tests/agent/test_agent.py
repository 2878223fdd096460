"""A real agent process on a temporary socket, driven by the real client."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import stat
import struct
import subprocess
import sys

import msgspec
import pytest

from agent.protocol import AgentError, Connection, Endpoint, encode
from agent.protocol import messages as m
from agent.protocol.framing import MAX_FRAME, read_frame, to_client_decoder
from tests.conftest import AgentProcess

pytestmark = pytest.mark.timeout(60)


async def attach(endpoint: Endpoint, name: str = "test", **kw: object) -> Connection:
    return await Connection.open(endpoint, name, **kw)  # type: ignore[arg-type]


async def next_event(conn: Connection, kind: type, timeout: float = 5.0) -> m.Event:
    async with asyncio.timeout(timeout):
        async for event in conn.events():
            if isinstance(event, kind):
                return event
    raise AssertionError(f"session ended before a {kind.__name__}: {conn.close_reason}")


async def test_attach_gets_a_snapshot_of_the_whole_state(agent_process: AgentProcess) -> None:
    agent_process.start()
    conn = await attach(agent_process.endpoint)
    snap = conn.welcome.snapshot
    assert snap.agent_name == "airi" and snap.pid == agent_process.proc.pid  # type: ignore[union-attr]
    health = {h.name: h.state for h in snap.health}
    assert health["control"] == "up" and health["store"] == "up"
    assert health["twitch"] == "off" and "demo_chat" not in health  # demo chat was turned off
    assert [b.key for b in snap.pad] == [str(i) for i in range(1, 10)]
    await conn.close()


async def test_socket_is_private(agent_process: AgentProcess) -> None:
    agent_process.start()
    assert stat.S_IMODE(agent_process.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(agent_process.socket.parent.stat().st_mode) == 0o700


async def test_requests_and_their_events_reach_every_client(agent_process: AgentProcess) -> None:
    agent_process.start()
    tui = await attach(agent_process.endpoint, "tui")
    other = await attach(agent_process.endpoint, "other")
    reply = await tui.request(m.TriggerExpression(name="happy"))
    assert isinstance(reply, m.Ok)
    for conn in (tui, other):
        changed = await next_event(conn, m.ExpressionChanged)
        assert changed.name == "happy"  # type: ignore[attr-defined]
    await tui.request(m.Say(text="hello chat"))
    caption = await next_event(other, m.CaptionShown)
    assert caption.text == "hello chat"  # type: ignore[attr-defined]
    snap = (await other.request(m.GetSnapshot())).snapshot  # type: ignore[union-attr]
    assert snap.expression == "happy" and snap.caption == "hello chat"
    assert snap.clients == 2
    await tui.close()
    await other.close()


async def test_bad_requests_get_a_clear_err_and_the_session_goes_on(
    agent_process: AgentProcess,
) -> None:
    agent_process.start()
    conn = await attach(agent_process.endpoint)
    with pytest.raises(AgentError, match="unknown expression 'nope'"):
        await conn.request(m.TriggerExpression(name="nope"))
    with pytest.raises(AgentError, match="empty"):
        await conn.request(m.Say(text="   "))
    assert (await conn.request(m.Ping())).detail == "pong"  # type: ignore[union-attr]
    await conn.close()


async def raw_session(endpoint: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(endpoint.path)
    writer.write(encode(m.Hello(protocol_version=m.PROTOCOL_VERSION, client_name="raw")))
    assert isinstance(to_client_decoder.decode(await read_frame(reader)), m.Welcome)
    return reader, writer


async def next_reply(reader: asyncio.StreamReader) -> m.Reply:
    while True:
        message = to_client_decoder.decode(await read_frame(reader))
        if isinstance(message, m.Ok | m.Err | m.Welcome):
            return message


async def test_unknown_and_malformed_messages_get_err_and_the_session_continues(
    agent_process: AgentProcess,
) -> None:
    agent_process.start()
    reader, writer = await raw_session(agent_process.endpoint)
    for body, code in [
        (msgspec.msgpack.encode({"type": "FormatDisk", "id": 5}), "unknown_request"),
        (msgspec.msgpack.encode({"type": "Say", "id": 6, "text": 1}), "bad_request"),
        (b"\xc1\xc1\xc1", "bad_request"),
    ]:
        writer.write(struct.pack(">I", len(body)) + body)
        reply = await next_reply(reader)
        assert isinstance(reply, m.Err) and reply.code == code
    writer.write(encode(m.Ping(id=7)))
    assert await next_reply(reader) == m.Ok(id=7, detail="pong")
    writer.close()


async def test_oversized_frame_closes_only_that_connection(agent_process: AgentProcess) -> None:
    agent_process.start()
    bystander = await attach(agent_process.endpoint, "bystander")
    reader, writer = await raw_session(agent_process.endpoint)
    writer.write(struct.pack(">I", MAX_FRAME + 1) + b"x" * 1024)
    reply = await next_reply(reader)
    assert isinstance(reply, m.Err) and reply.code == "frame_too_large"
    assert await reader.read() == b""  # the agent closed this connection
    assert (await bystander.request(m.Ping())).detail == "pong"  # type: ignore[union-attr]
    await bystander.close()


async def test_protocol_mismatch_is_refused_with_a_reason(agent_process: AgentProcess) -> None:
    agent_process.start()
    reader, writer = await asyncio.open_unix_connection(str(agent_process.socket))
    writer.write(encode(m.Hello(protocol_version=99, client_name="future")))
    reply = to_client_decoder.decode(await read_frame(reader))
    assert isinstance(reply, m.Err) and reply.code == "protocol_mismatch"
    assert f"protocol {m.PROTOCOL_VERSION}" in reply.message and "99" in reply.message
    writer.close()


async def test_a_client_that_stops_reading_gets_a_gap_and_others_are_unharmed(
    agent_process: AgentProcess,
) -> None:
    agent_process.config = {
        "demo_chat": {"enabled": "on", "messages_per_minute": 60000},
        "control": {"client_queue": 16, "client_stall_seconds": 30},
    }
    agent_process.start()
    reader, writer = await asyncio.open_unix_connection(str(agent_process.socket))
    writer.write(encode(m.Hello(protocol_version=m.PROTOCOL_VERSION, client_name="slow")))
    healthy = await attach(agent_process.endpoint, "healthy")
    # ~1000 events/s while the slow client reads nothing: more than the kernel's socket
    # buffers and the 16-frame queue can hold.
    await asyncio.sleep(3.0)
    assert (await healthy.request(m.Ping())).detail == "pong"  # type: ignore[union-attr]
    gap = None
    async with asyncio.timeout(10):
        while gap is None:
            message = to_client_decoder.decode(await read_frame(reader))
            if isinstance(message, m.Gap):
                gap = message
    assert gap.missed > 0
    assert gap.snapshot.seq == gap.seq and len(gap.snapshot.chat) > 0
    await healthy.close()
    writer.close()


async def test_sigterm_exits_0_tells_clients_and_leaves_a_consistent_store(
    agent_process: AgentProcess,
) -> None:
    agent_process.config = {"demo_chat": {"enabled": "on", "messages_per_minute": 6000}}
    agent_process.start()
    conn = await attach(agent_process.endpoint)
    seen = [await next_event(conn, m.ChatReceived) for _ in range(5)]
    assert agent_process.signal(signal.SIGTERM) == 0
    stopping = await next_event(conn, m.AgentStopping)
    assert "signal" in stopping.reason  # type: ignore[attr-defined]
    assert not agent_process.socket.exists()
    db = sqlite3.connect(agent_process.store_path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = {row[0] for row in db.execute("SELECT message_id FROM chat_log")}
    assert {e.message.id for e in seen} <= stored  # type: ignore[attr-defined]
    assert (
        not os.path.exists(f"{agent_process.store_path}-wal")
        or os.path.getsize(f"{agent_process.store_path}-wal") == 0
    )  # checkpointed on the way out
    await conn.close()


async def test_sigkill_then_restart_keeps_the_chat_log(agent_process: AgentProcess) -> None:
    agent_process.config = {"demo_chat": {"enabled": "on", "messages_per_minute": 6000}}
    agent_process.start()
    conn = await attach(agent_process.endpoint)
    seen = [await next_event(conn, m.ChatReceived) for _ in range(5)]
    await asyncio.sleep(0.5)  # more than one store flush interval
    assert agent_process.signal(signal.SIGKILL) == -signal.SIGKILL
    await conn.close()
    agent_process.config = {"demo_chat": {"enabled": "off"}}
    agent_process.start()  # the stale socket left by the killed agent must not stop it
    again = await attach(agent_process.endpoint)
    ids = {message.id for message in again.welcome.snapshot.chat}
    assert {e.message.id for e in seen} <= ids  # type: ignore[attr-defined]
    await again.close()


async def test_a_second_agent_on_the_same_socket_refuses_clearly(
    agent_process: AgentProcess,
) -> None:
    agent_process.start()
    config = agent_process.tmp_path / "config.toml"
    second = subprocess.run(
        [sys.executable, "-m", "agent.cli", "agent", "--config", str(config)],
        env=agent_process.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert second.returncode == 1
    assert "already running" in second.stderr and "Traceback" not in second.stderr
    assert (await attach(agent_process.endpoint)).welcome  # the first one is unharmed


async def test_a_client_that_floods_requests_and_never_reads_is_cut_off(
    agent_process: AgentProcess,
) -> None:
    agent_process.config = {"demo_chat": {"enabled": "off"}, "control": {"client_stall_seconds": 1}}
    agent_process.start()
    bystander = await attach(agent_process.endpoint, "bystander")
    _reader, writer = await raw_session(agent_process.endpoint)
    flood = encode(m.GetSnapshot(id=1)) * 2000  # each reply is a whole snapshot
    with pytest.raises(ConnectionError):
        async with asyncio.timeout(20):
            while True:  # the agent stops reading us once it cuts us off
                writer.write(flood)
                await writer.drain()
    assert (await bystander.request(m.Ping())).detail == "pong"  # type: ignore[union-attr]
    await bystander.close()
    writer.close()
