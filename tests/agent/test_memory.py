"""Long-term memory: found by relevance and recency, written from chat by a real model call,
and gone when a viewer asks to be forgotten."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.daemon import Agent
from agent.director.memory import Memory
from agent.protocol import AgentError, Connection
from agent.protocol import messages as m
from agent.secrets import Secrets
from agent.store import Store
from tests.peers.llm_server import LLMServer

pytestmark = pytest.mark.timeout(60)

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def memory(tmp_path: Path) -> AsyncIterator[tuple[Memory, Clock]]:
    store = Store(tmp_path / "airi.sqlite3")
    await store.open()
    clock = Clock()
    memory = Memory(store, clock)
    await memory.open()
    yield memory, clock
    await store.close()


async def test_the_most_relevant_entry_comes_first(memory: tuple[Memory, Clock]) -> None:
    mem, _ = memory
    await mem.remember("fact", "loves speedruns of Celeste", viewer="pixelfox")
    await mem.remember("fact", "has a cat called Mochi", viewer="tea_enjoyer")
    await mem.remember("summary", "chat argued about pizza toppings")
    found = await mem.recall("who does speedruns?")
    assert [e.text for e in found][:1] == ["loves speedruns of Celeste"]
    assert found[0].viewer == "pixelfox"
    assert [e.text for e in await mem.recall("cat", viewer="pixelfox")] == []


async def test_recent_memories_win_over_old_ones_of_equal_relevance(
    memory: tuple[Memory, Clock],
) -> None:
    mem, clock = memory
    await mem.remember("summary", "we played Celeste chapter one")
    clock.now += 60 * DAY
    await mem.remember("summary", "we played Celeste chapter seven")
    found = await mem.recall("celeste")
    assert found[0].text == "we played Celeste chapter seven"


async def test_text_is_stored_inert_and_queries_cannot_break_the_search(
    memory: tuple[Memory, Clock],
) -> None:
    mem, _ = memory
    await mem.remember("fact", "likes \x1b[31mred\x1b[0m", viewer="x")
    for hostile in ['"unbalanced', "NEAR(", "a OR", "*", "'; DROP TABLE memory; --"]:
        await mem.recall(hostile)  # no exception: every word is quoted
    [entry] = await mem.recall("likes")
    assert "\x1b" not in entry.text


async def test_forgetting_a_viewer_removes_their_facts_and_their_chat_lines(
    memory: tuple[Memory, Clock], tmp_path: Path
) -> None:
    mem, _ = memory
    await mem.remember("fact", "lives in Lyon", viewer="private_person")
    await mem.remember("fact", "plays bass", viewer="someone_else")
    store = mem._store
    for n, author in enumerate(["private_person", "someone_else", "private_person"]):
        store.add_chat(m.ChatMessage(id=str(n), platform="t", author=author, text="hi", ts=1.0))
    await store.flush()
    gone = await mem.forget_viewer("private_person")
    assert gone == 3  # one fact, two chat lines
    assert await mem.recall("lyon") == []
    assert [e.viewer for e in await mem.recall()] == ["someone_else"]
    with sqlite3.connect(tmp_path / "airi.sqlite3") as db:
        authors = [a for (a,) in db.execute("SELECT author FROM chat_log")]
        indexed = db.execute("SELECT count(*) FROM memory_index WHERE memory_index MATCH 'lyon'")
        assert authors == ["someone_else"] and indexed.fetchone() == (0,)


# --- through the agent ---------------------------------------------------------------------------


@pytest.fixture
async def agent_with_model(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[tuple[Agent, LLMServer]] = []

    async def start(reply: str) -> tuple[Agent, LLMServer]:
        peer = LLMServer(api_key="k", models=("m",))
        await peer.start()
        peer.script([reply])
        config = parse_config(
            {
                "demo_chat": {"enabled": "off"},
                "director": {"reply_every": 0, "idle_after": 0, "summarize_every": 3},
                "providers": {"peer": {"preset": "openai", "base_url": peer.url("/v1")}},
            }
        )
        agent = Agent(
            config,
            Secrets(providers={"peer": "k"}),
            state_dir=tmp_path / "state",
            socket_path=tmp_path / "a.sock",
        )
        await agent.start()
        started.append((agent, peer))
        return agent, peer

    yield start
    for agent, peer in started:
        await agent.stop()
        await peer.close()


async def test_chat_is_summarised_by_the_model_and_facts_are_kept_per_viewer(
    agent_with_model: Callable[..., Any],
) -> None:
    agent, peer = await agent_with_model(
        "Chat talked about pets.\nFACT tea_enjoyer: has a cat called Mochi"
    )
    lines = [("tea_enjoyer", "my cat Mochi says hi"), ("kumo", "cute!"), ("lurker", "lol")]
    for n, (author, text) in enumerate(lines):
        agent.receive_chat(m.ChatMessage(id=str(n), platform="t", author=author, text=text, ts=0))
    await peer.wait_for_requests(1)
    conn = await Connection.open(agent.endpoint, "t", subscribe=False)
    for _ in range(50):
        reply = await conn.request(m.RecallMemory(query="cat"))
        assert isinstance(reply, m.Ok)
        if reply.memory:
            break
        await asyncio.sleep(0.05)
    assert reply.memory and reply.memory[0].viewer == "tea_enjoyer"
    assert reply.memory[0].text == "has a cat called Mochi"
    sent = peer.requests[0].body["messages"]
    assert "tea_enjoyer: my cat Mochi says hi" in sent[-1]["content"]
    everything = await conn.request(m.RecallMemory())
    assert {e.kind for e in everything.memory or []} == {"fact", "summary"}  # type: ignore[union-attr]
    await conn.request(m.ForgetMemory(viewer="tea_enjoyer"))
    gone = await conn.request(m.RecallMemory(query="cat"))
    assert gone.memory == []  # type: ignore[union-attr]
    with pytest.raises(AgentError, match="no memory entry 999"):
        await conn.request(m.ForgetMemory(entry_id=999))
    await conn.close()


async def test_airi_ctl_shows_and_forgets_memories(
    agent_with_model: Callable[..., Any], tmp_path: Path
) -> None:
    from tests.protocol.test_client_robustness import ctl

    agent, _ = await agent_with_model("unused")
    entry = await agent.memory.remember("fact", "speedruns [b]Celeste[/b]", viewer="pixelfox")
    code, out, _ = await ctl(tmp_path, agent.socket_path, "memory", "celeste")
    assert code == 0 and f"{entry.id:>6}" in out
    assert "fact    pixelfox: speedruns [b]Celeste[/b]" in out
    code, out, _ = await ctl(tmp_path, agent.socket_path, "forget", str(entry.id))
    assert code == 0 and f"forgot entry {entry.id}" in out
    code, out, _ = await ctl(tmp_path, agent.socket_path, "memory")
    assert "nothing remembered" in out
    code, _, err = await ctl(tmp_path, agent.socket_path, "forget")
    assert code == 2 and "--viewer" in err
