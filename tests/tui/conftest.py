"""Fixtures for the control room's tests: real in-process agents on a tmp socket, UTC clock."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agent.config import parse_config
from agent.daemon import Agent

StartAgent = Callable[..., Awaitable[Agent]]
T = TypeVar("T")


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times on screen are local time: pin it, so lines and snapshots read the same anywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
async def start_agent(tmp_path: Path) -> AsyncIterator[StartAgent]:
    """Start a real agent on ``tmp_path/agent.sock``; call again after a stop to restart it.

    Extra keyword arguments are config sections (``control={"tcp_port": ...}``). Demo chat is
    off unless asked for, so what is on screen is what the test put there.
    """
    started: list[Agent] = []

    async def start(**sections: Any) -> Agent:
        config = parse_config({"demo_chat": {"enabled": "off"}, **sections})
        agent = Agent(config, state_dir=tmp_path / "state", socket_path=tmp_path / "agent.sock")
        await agent.start()
        started.append(agent)
        return agent

    yield start
    for agent in started:
        await agent.stop("test finished")


class AgentThread:
    """A real agent on an event loop of its own, in a thread.

    ``snap_compare`` runs the app in a loop it creates itself, so an agent living in the
    test's loop would never be served; this one runs beside it. ``call`` runs a coroutine
    on the agent's loop and waits for it from any thread; ``soon`` schedules a plain call.
    """

    def __init__(self, config: dict[str, Any], state_dir: Path, socket_path: Path) -> None:
        self.config = parse_config(config)
        self.state_dir = state_dir
        self.socket_path = socket_path
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="agent", daemon=True)
        self.agent: Agent | None = None

    def start(self) -> Agent:
        self.thread.start()
        self.agent = self.call(self._start())
        return self.agent

    async def _start(self) -> Agent:
        agent = Agent(self.config, state_dir=self.state_dir, socket_path=self.socket_path)
        await agent.start()
        return agent

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def acall(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """``call`` for a coroutine running on another loop (the app's)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self.loop))

    def soon(self, function: Callable[..., object], *args: object) -> None:
        self.loop.call_soon_threadsafe(function, *args)

    def close(self) -> None:
        if self.agent is not None:
            self.call(self.agent.stop("test finished"))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def agent_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., AgentThread]]:
    """Start an ``AgentThread`` with extra config sections; it is stopped after the test.

    It runs in ``tmp_path`` on relative paths (``agent.sock``, ``state/``), so no path that
    differs between runs reaches the screen.
    """
    monkeypatch.chdir(tmp_path)
    threads: list[AgentThread] = []

    def start(**sections: Any) -> AgentThread:
        config = {"demo_chat": {"enabled": "off"}, **sections}
        thread = AgentThread(config, Path("state"), Path("agent.sock"))
        threads.append(thread)
        thread.start()
        return thread

    yield start
    for thread in threads:
        thread.close()
