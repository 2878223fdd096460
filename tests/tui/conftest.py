"""Fixtures for the control room's tests: real in-process agents on a tmp socket, UTC clock."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.daemon import Agent

StartAgent = Callable[..., Awaitable[Agent]]


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
