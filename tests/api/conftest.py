"""A real in-process agent with its REST server on a free port, and a client holding the token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.api.config import RestSection
from agent.api.rest import RestServer
from agent.config import parse_config
from agent.daemon import Agent
from agent.protocol import messages as m


@dataclass
class Api:
    """The agent, its REST server and an authorized client session."""

    agent: Agent
    server: RestServer
    http: aiohttp.ClientSession

    @property
    def token(self) -> str:
        return self.server.token_path.read_text().strip()

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"

    async def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.url(path), json=body, **kw) as response:
            assert response.content_type == "application/json", await response.text()
            return response.status, await response.json()

    async def action(self, action_id: str, state: str, timeout: float = 10.0) -> m.Action:
        """Wait until the agent has ``action_id`` in ``state`` (in its queue or its history)."""
        async with asyncio.timeout(timeout):
            while True:
                for action in [*self.agent.queue.listing(), *self.agent.state.actions.values()]:
                    if action.id == action_id and action.state == state:
                        return action
                await asyncio.sleep(0.02)


def rest_config(**director: Any) -> dict[str, Any]:
    return {
        "demo_chat": {"enabled": "off"},
        "director": {"reply_every": 0, "idle_after": 0, **director},
    }


@pytest.fixture
async def api_for(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Api] = []

    async def make(**director: Any) -> Api:
        agent = Agent(
            parse_config(rest_config(**director)),
            state_dir=tmp_path / f"state{len(made)}",
            socket_path=tmp_path / f"a{len(made)}.sock",
        )
        await agent.start()
        server = RestServer(agent, RestSection(enabled=True, port=0))
        # What Agent does when it builds its REST server: the brain defers to the external one.
        agent.brain.external_connected = lambda: server.external.connected
        agent.brain.hand_over = server.external.offer
        await server.start()
        token = server.token_path.read_text().strip()
        http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        made.append(Api(agent, server, http))
        return made[-1]

    yield make
    for api in made:
        await api.http.close()
        await api.server.close()
        await api.agent.stop("test finished")


@pytest.fixture
async def api(api_for: Callable[..., Any]) -> Api:
    made: Api = await api_for()
    return made
