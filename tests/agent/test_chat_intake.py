"""Chat coming in: deduplicated, and never too much for a welcome snapshot."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import msgspec

from agent.config import parse_config
from agent.daemon import Agent
from agent.protocol import MAX_FRAME, Connection, GetSnapshot
from agent.protocol import messages as m


async def test_welcome_and_snapshot_fit_a_frame_and_keep_the_newest_chat(tmp_path: Path) -> None:
    config = parse_config({"demo_chat": {"enabled": "off"}, "store": {"chat_history": 2000}})
    agent = Agent(config, state_dir=tmp_path / "state", socket_path=tmp_path / "agent.sock")
    await agent.start()
    try:
        for n in range(2000):  # ~4 MB of chat: four times the frame limit
            agent.receive_chat(
                m.ChatMessage(
                    id=f"m{n}", platform="twitch", author="v", text="🎉" * 500, ts=time.time()
                )
            )
        conn = await Connection.open(agent.endpoint, "big")
        chat = conn.welcome.snapshot.chat
        assert 0 < len(chat) < 2000 and chat[-1].id == "m1999"
        assert len(msgspec.msgpack.encode(conn.welcome)) <= MAX_FRAME
        reply = await conn.request(GetSnapshot())
        assert reply.snapshot is not None and reply.snapshot.chat[-1].id == "m1999"  # type: ignore[union-attr]
        await conn.close()
    finally:
        await agent.stop()


async def test_a_message_delivered_twice_shows_and_is_stored_once(inproc_agent: Agent) -> None:
    conn = await Connection.open(inproc_agent.endpoint, "dedupe")
    for text in ("first", "first again", "second"):
        message_id = "m2" if text == "second" else "m1"
        inproc_agent.receive_chat(
            m.ChatMessage(id=message_id, platform="twitch", author="v", text=text, ts=1.0)
        )
    inproc_agent.receive_chat(
        m.ChatMessage(id="m1", platform="demo", author="v", text="other", ts=1)
    )
    got = []
    async with asyncio.timeout(5):
        async for event in conn.events():
            if isinstance(event, m.ChatReceived):
                got.append(event.message.text)
                if len(got) == 3:
                    break
    assert got == ["first", "second", "other"]  # same id on another platform is another message
    await inproc_agent.store.flush()
    stored = await inproc_agent.store.recent_chat(10)
    assert [c.text for c in stored] == ["first", "second", "other"]
    await conn.close()
