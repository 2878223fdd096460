"""A long chat history of long lines never stops the agent from welcoming a client."""

from __future__ import annotations

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
