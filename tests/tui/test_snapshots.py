"""Snapshots of the dashboard: attached (dark), demo chat (light), detached (stale), the
providers view (one provider up, one with its breaker open, one misconfigured), and the queue
(a wait playing, lines pending approval, one flagged with markup, AI lines queued, dry run on).

The clock is frozen and the agent runs on relative paths, so every run draws the same
screen. Update them with ``pytest tests/tui/test_snapshots.py --snapshot-update`` after
looking at the report.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable, Iterator

import pytest
from textual.pilot import Pilot

from agent.protocol import Backoff, Endpoint
from agent.protocol.messages import ChatMessage
from airi_tui.app import AiriApp
from airi_tui.widgets.chat_view import ChatView
from airi_tui.widgets.health_panel import HealthRow
from airi_tui.widgets.log_view import LogView
from airi_tui.widgets.providers_panel import ProvidersTable
from airi_tui.widgets.queue_panel import QueuePanel
from tests.tui.conftest import AgentThread
from tests.tui.helpers import dashboard, wait_until
from tests.tui.provider_mesh import CHAINS, THREE, StandInMesh

NOON = 1_767_268_800.0  # 2026-01-01 12:00:00 UTC
SIZE = (130, 40)
SnapCompare = Callable[..., bool]

CHAT = [
    ChatMessage(id="c1", platform="twitch", author="pixelfox", text="hi airi!", ts=NOON + 1),
    ChatMessage(id="c2", platform="twitch", author="kumo_mod", text="W stream", ts=NOON + 2),
    ChatMessage(
        id="c3",
        platform="twitch",
        author="[@click=app.quit]boss[/]",
        text="[bold red]x[/] [link=http://e]y[/link]",
        ts=NOON + 3,
    ),
]
DEMO_CHAT = [
    ChatMessage(id=f"d{i}", platform="demo", author=who, text=text, ts=NOON + i, demo=True)
    # Neutral words: a kind or hostile line moves the persona's mood, whose expression would
    # reach the screen on the director's next tick, before or after the picture is taken.
    for i, (who, text) in enumerate([("mochi", "the avatar waved"), ("nightowl", "hello")])
]


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Wall-clock time stands still (the loops run on the monotonic clock, untouched)."""
    monkeypatch.setattr(time, "time", lambda: NOON)
    monkeypatch.setattr(time, "time_ns", lambda: int(NOON * 1e9))
    caplog.set_level(logging.INFO)  # the agent's own log lines reach the log panel


QUIET_DIRECTOR = {"reply_every": 0, "idle_after": 0}
"""The AI neither answers chat nor talks on its own: its lines are picked at random."""


@pytest.fixture
def agent(agent_thread: Callable[..., AgentThread]) -> Iterator[AgentThread]:
    yield agent_thread(director=QUIET_DIRECTOR)


def app_for(theme: str = "airi-dark") -> AiriApp:
    # A fixed seed and a long first wait: the retry delay on screen is the same every run.
    backoff = Backoff(base=20.0, cap=20.0, rng=random.Random(7))
    return AiriApp(Endpoint(path="agent.sock"), theme=theme, backoff=backoff)


async def settled(pilot: Pilot[None], chat_lines: int, expression: str = "") -> None:
    """Wait until the dashboard shows the agent's state, with every event applied."""
    screen = dashboard(pilot.app)
    chat, logs = screen.query_one(ChatView), screen.query_one(LogView)
    await wait_until(pilot, lambda: screen.link_state == "attached", "attached")
    await wait_until(pilot, lambda: screen.clients == 1, "the client count arrived")
    await wait_until(pilot, lambda: chat.line_count == chat_lines, "the chat arrived")
    await wait_until(pilot, lambda: screen.expression == expression, "the expression shows")
    await wait_until(pilot, lambda: logs.line_count > 0, "the agent's log arrived")

    def started() -> bool:  # a part still starting may be drawn either way
        states = [row.health.state for row in screen.query(HealthRow)]
        return bool(states) and "starting" not in states

    await wait_until(pilot, started, "every part has started")


def test_dashboard_attached(snap_compare: SnapCompare, agent: AgentThread) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await wait_until(pilot, lambda: dashboard(pilot.app).link_state == "attached", "attached")
        for message in CHAT:
            agent.soon(agent.agent.receive_chat, message)  # type: ignore[union-attr]
        await pilot.press("2")
        await settled(pilot, len(CHAT), "happy")

    assert snap_compare(app_for(), terminal_size=SIZE, run_before=run_before)


def test_dashboard_demo_chat_light(snap_compare: SnapCompare, agent: AgentThread) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await wait_until(pilot, lambda: dashboard(pilot.app).link_state == "attached", "attached")
        for message in DEMO_CHAT:
            agent.soon(agent.agent.receive_chat, message)  # type: ignore[union-attr]
        await settled(pilot, len(DEMO_CHAT))

    assert snap_compare(app_for("airi-light"), terminal_size=SIZE, run_before=run_before)


def test_dashboard_detached_is_stale(snap_compare: SnapCompare, agent: AgentThread) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await wait_until(pilot, lambda: dashboard(pilot.app).link_state == "attached", "attached")
        agent.soon(agent.agent.receive_chat, CHAT[0])  # type: ignore[union-attr]
        await settled(pilot, 1)
        await agent.acall(agent.agent.stop("maintenance"))  # type: ignore[union-attr]
        await wait_until(pilot, lambda: dashboard(pilot.app).link_state == "detached", "detached")

    assert snap_compare(app_for(), terminal_size=SIZE, run_before=run_before)


def test_providers_view(
    snap_compare: SnapCompare, agent_thread: Callable[..., AgentThread]
) -> None:
    agent = agent_thread(router={"autonomous_last": False}, director=QUIET_DIRECTOR)
    mesh = StandInMesh(agent.agent, THREE, CHAINS)  # type: ignore[arg-type]

    async def run_before(pilot: Pilot[None]) -> None:
        await wait_until(pilot, lambda: dashboard(pilot.app).link_state == "attached", "attached")
        agent.soon(mesh.publish_all)
        await settled(pilot, 0)
        screen = dashboard(pilot.app)
        table = screen.query_one(ProvidersTable)
        await pilot.press("v")
        await wait_until(pilot, lambda: table.row_count == 3, "the providers are listed")
        bus = agent.agent.bus  # type: ignore[union-attr]
        await wait_until(pilot, lambda: screen.seq == bus.seq, "every event is applied")

    assert snap_compare(app_for(), terminal_size=SIZE, run_before=run_before)


def test_queue_view(snap_compare: SnapCompare, agent_thread: Callable[..., AgentThread]) -> None:
    director = {**QUIET_DIRECTOR, "approval": {"control": "approve"}}
    agent = agent_thread(director=director)
    queue = agent.agent.queue  # type: ignore[union-attr]

    async def run_before(pilot: Pilot[None]) -> None:
        screen = dashboard(pilot.app)
        await wait_until(pilot, lambda: screen.link_state == "attached", "attached")
        # A long wait plays (no bar: only a line has a reading time), so the rest stays put.
        agent.soon(functools.partial(queue.submit, "wait", "600", "command"))
        agent.soon(queue.say, "thanks for the raid, everyone!", "ai:reply")
        agent.soon(queue.say, "let us play another round", "ai:idle")
        agent.soon(queue.say, "good evening, chat", "control")
        flagged = functools.partial(queue.say, flagged="first-time viewer [b]x[/b]")
        agent.soon(flagged, "[bold red]welcome[/], new friend", "control")
        panel = screen.query_one(QueuePanel)
        await wait_until(pilot, lambda: panel.table.row_count == 4, "four actions wait")
        await pilot.press("down", "d")  # the flagged line, read whole under the rows
        await wait_until(pilot, lambda: screen.director.dry_run, "dry run is on")
        await settled(pilot, 0)
        bus = agent.agent.bus  # type: ignore[union-attr]
        await wait_until(pilot, lambda: screen.seq == bus.seq, "every event is applied")

    assert snap_compare(app_for(), terminal_size=SIZE, run_before=run_before)
