"""The control room facing an agent it cannot read, and numbers from the wire no clock can show.

The peer here is a scripted fake speaking the real framing (``tests.protocol.fake_agent``): a
newer agent's unknown messages, or values a real agent would never send, must leave the room
open and say what is wrong instead of ending it with a traceback.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from agent.protocol import Backoff, encode
from agent.protocol.messages import ChatMessage
from airi_tui.app import AiriApp
from airi_tui.display import NO_CLOCK, clock
from airi_tui.widgets.action_table import ActionTable
from airi_tui.widgets.chat_view import ChatView, chat_line
from airi_tui.widgets.health_panel import HealthPanel
from airi_tui.widgets.log_view import LogView
from airi_tui.widgets.status_bar import StatusBar
from tests.protocol.fake_agent import SNAPSHOT, FakeAgent, says, welcome
from tests.tui.helpers import dashboard, flat, on_screen, wait_until

SIZE = (160, 40)
NAN, INF = float("nan"), float("inf")
NONSENSE_TIMES = [NAN, INF, -INF, 1e20, -1e20, 1e17]
BIGGEST = 2**64 - 1  # the largest integer MessagePack carries
NEXT_STEP = "run the same airi version on both sides"
FAST = Backoff(base=0.01, cap=0.02)
SNAPSHOT_FIELDS = msgspec.structs.asdict(SNAPSHOT)


@pytest.mark.parametrize("ts", NONSENSE_TIMES)
def test_a_timestamp_no_clock_can_show_is_dashes(ts: float) -> None:
    assert clock(ts) == NO_CLOCK
    line = chat_line(ChatMessage(id="1", platform="t", author="kumo", text="hi", ts=ts, demo=True))
    assert line == f"demo {NO_CLOCK} kumo: hi"
    match = ChatView.PATTERN.match(line)  # still coloured like every other line
    assert match is not None and match["author"] == "kumo" and match["demo"] == "demo"


def test_a_sane_timestamp_is_still_a_clock() -> None:
    assert clock(3661.0) == "01:01:01"  # the tests' clock is UTC


async def test_an_unreadable_welcome_is_shown_and_the_room_stays_open(tmp_path: Path) -> None:
    paused = {**SNAPSHOT_FIELDS, "health": [{"name": "twitch", "state": "paused"}]}
    async with FakeAgent(tmp_path / "s", says(welcome(paused))) as agent:
        app = AiriApp(agent.endpoint, backoff=FAST)
        async with app.run_test(size=SIZE) as pilot:
            screen = dashboard(app)
            status = screen.query_one(StatusBar)
            await wait_until(pilot, lambda: NEXT_STEP in flat(on_screen(status)), "it says why")
            shown = flat(on_screen(status))
            assert screen.link_state == "fatal"
            assert "cannot attach: the agent at" in shown
            assert "cannot read" in shown and "'paused'" in shown
            await pilot.pause(0.2)
            assert app.is_running and app.return_code is None
        assert agent.sessions == 1


async def test_an_unknown_event_mid_session_is_fatal_once_and_keeps_the_last_state(
    tmp_path: Path,
) -> None:
    chat = [{"id": "c1", "platform": "twitch", "author": "kumo", "text": "hello", "ts": 0.0}]
    frames = (
        welcome({**SNAPSHOT_FIELDS, "chat": chat}),
        encode({"type": "ViewerJoined", "name": "kumo", "seq": 1}),
    )
    async with FakeAgent(tmp_path / "s", says(*frames, then="listen")) as agent:
        app = AiriApp(agent.endpoint, backoff=FAST)
        async with app.run_test(size=SIZE) as pilot:
            screen = dashboard(app)
            status = screen.query_one(StatusBar)
            await wait_until(pilot, lambda: NEXT_STEP in flat(on_screen(status)), "it says why")
            assert screen.link_state == "fatal"
            assert "'ViewerJoined'" in flat(on_screen(status))
            assert screen.has_class("-stale")
            assert "00:00:00 kumo: hello" in on_screen(screen.query_one(ChatView))
            await pilot.pause(0.2)  # room for a reconnect that must not come
            assert app.is_running
        assert agent.sessions == 1


def _nonsense_snapshot() -> dict[str, object]:
    return {
        **SNAPSHOT_FIELDS,
        "started_at": NAN,
        "seq": BIGGEST,
        "clients": BIGGEST,
        "chat": [_chat(f"viewer{i}", ts) for i, ts in enumerate(NONSENSE_TIMES)],
        "logs": [_log(f"line{i}", ts) for i, ts in enumerate(NONSENSE_TIMES)],
        "actions": [_action(f"a{i}", ts) for i, ts in enumerate(NONSENSE_TIMES[:3])],
        "health": [{"name": "tw", "state": "up", "since": NAN, "restarts": BIGGEST}],
    }


def _nonsense_events() -> list[bytes]:
    events: list[dict[str, object]] = [
        {"type": "ChatReceived", "message": _chat("late", INF)},
        {"type": "LogRecorded", "line": _log("late", -1e20)},
        {"type": "ActionQueued", "action": _action("late", NAN)},
        {"type": "HealthChanged", "health": {"name": "obs", "state": "down", "since": -INF}},
        {"type": "ClientsChanged", "count": -(2**63)},
    ]
    return [encode({**event, "seq": BIGGEST}) for event in events]


def _chat(author: str, ts: float) -> dict[str, object]:
    return {"id": author, "platform": "twitch", "author": author, "text": "hi", "ts": ts}


def _log(message: str, ts: float) -> dict[str, object]:
    return {"ts": ts, "level": "info", "logger": "wire", "message": message}


def _action(action_id: str, ts: float) -> dict[str, object]:
    fields = {"kind": "say", "detail": action_id, "source": "ctl", "state": "done"}
    return {"id": action_id, **fields, "ts": ts}


async def test_numbers_no_clock_can_show_leave_the_room_running(tmp_path: Path) -> None:
    frames = (welcome(_nonsense_snapshot()), *_nonsense_events())
    async with FakeAgent(tmp_path / "s", says(*frames, then="listen")) as agent:
        app = AiriApp(agent.endpoint, backoff=FAST)
        async with app.run_test(size=SIZE) as pilot:
            screen = dashboard(app)
            chat, log = screen.query_one(ChatView), screen.query_one(LogView)
            await wait_until(pilot, lambda: "late: hi" in on_screen(chat), "the last line shows")
            health = screen.query_one(HealthPanel)
            await wait_until(pilot, lambda: "obs down" in on_screen(health), "obs is down")
            assert screen.link_state == "attached"
            for i in range(len(NONSENSE_TIMES)):
                assert f"{NO_CLOCK} viewer{i}: hi" in on_screen(chat)
                assert f"{NO_CLOCK} info    wire: line{i}" in on_screen(log)
            assert f"{NO_CLOCK} info    wire: late" in on_screen(log)
            actions = on_screen(screen.query_one(ActionTable))
            assert actions.count(NO_CLOCK) == 4, actions
            status = flat(on_screen(screen.query_one(StatusBar)))
            assert f"seq {BIGGEST}" in status and f"{-(2**63)} clients" in status
            assert f"tw up \u21bb{BIGGEST}" in on_screen(health)
            assert app.is_running
