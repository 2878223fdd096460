"""The queue panel against a real in-process agent whose control lines wait for approval.

What a streamer notices: a line they asked for waits, lit, with why; the keys on it do what
they say in the agent (approve, reject, edit, move, skip, the kill switch, mode, dry run, a
gate), the panel follows the agent's answer, and a viewer's markup shows as the text it is.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input

from agent.daemon import Agent
from agent.protocol.messages import (
    Action,
    ActionQueued,
    ActionUpdated,
    DirectorStatus,
    Event,
    Gap,
)
from airi_tui.app import AiriApp
from airi_tui.messages import EventsArrived
from airi_tui.screens.dashboard import DashboardScreen
from airi_tui.widgets.action_table import ActionTable
from airi_tui.widgets.now_playing import NowPlaying, line_seconds
from airi_tui.widgets.queue_panel import LineEditor, QueuePanel
from airi_tui.widgets.status_bar import StatusBar
from tests.tui.conftest import StartAgent
from tests.tui.helpers import flat, on_screen, wait_attached, wait_until
from tests.tui.test_link import notices
from tests.tui.test_untrusted_text import ESCAPES, MARKUP

SIZE = (140, 44)
HELD = {"approval": {"control": "approve"}, "reply_every": 0, "idle_after": 0}
"""Lines from the control room wait for an operator; the AI says nothing of its own."""
LONG = "a line long enough to keep the voice busy for a good few seconds, on purpose " * 2


@pytest.fixture
async def agent(start_agent: StartAgent) -> Agent:
    return await start_agent(director=HELD)


@asynccontextmanager
async def room(agent: Agent) -> AsyncIterator[tuple[Pilot[None], DashboardScreen, QueuePanel]]:
    async with AiriApp(agent.endpoint).run_test(size=SIZE, notifications=True) as pilot:
        screen = await wait_attached(pilot)
        yield pilot, screen, screen.query_one(QueuePanel)


def waiting(agent: Agent) -> list[tuple[str, str]]:
    """The agent's queue as (text, state), in run order."""
    return [(action.detail, action.state) for action in agent.snapshot().queue]


def rows(panel: QueuePanel) -> list[str]:
    """The waiting lines as the panel draws them, top to bottom."""
    return [panel.table.actions[action_id].detail for action_id in panel.table.order]


async def say(pilot: Pilot[None], text: str) -> None:
    """Type a line into the say box and send it, then give the keys back to the queue."""
    await pilot.press("s", *text, "enter", "escape")


async def test_a_held_line_waits_lit_with_why(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        await say(pilot, "hello chat")
        agent.queue.say("welcome, new friend", "control", flagged="first-time viewer")
        table = panel.table
        await wait_until(pilot, lambda: table.row_count == 2, "both lines wait")
        shown = on_screen(panel)
        assert "\u23f8 approve?  say   control  hello chat" in shown
        assert "\u2691 first-time viewer \u00b7 welcome, new friend" in shown
        assert "2 pending \u00b7 0 queued" in shown
        assert waiting(agent) == [("hello chat", "pending"), ("welcome, new friend", "pending")]


async def test_approve_sends_the_line_to_now_playing(agent: Agent) -> None:
    async with room(agent) as (pilot, screen, panel):
        await say(pilot, "good evening everyone")
        await wait_until(pilot, lambda: panel.table.row_count == 1, "the line waits")
        await pilot.press("a")
        playing = panel.now_playing
        await wait_until(pilot, lambda: playing.action is not None, "the line plays")
        line = on_screen(playing)
        assert "\u25b6 say \u00b7 control  good evening everyone" in line
        assert f"/ {line_seconds('good evening everyone'):.1f} s" in line  # the bar's estimate
        assert not playing.has_class("-no-bar")
        assert panel.table.row_count == 0
        assert agent.state.caption == "good evening everyone"
        await wait_until(pilot, lambda: playing.action is None, "the line ends")
        assert "done" in on_screen(panel.history)
        assert "nothing playing" in on_screen(playing)
        assert screen.queue.selected is None


async def test_reject_drops_the_line_unsaid(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        await say(pilot, "something regrettable")
        await wait_until(pilot, lambda: panel.table.row_count == 1, "the line waits")
        await pilot.press("r")
        await wait_until(pilot, lambda: panel.table.row_count == 0, "the row goes")
        assert waiting(agent) == []
        history = on_screen(panel.history)
        assert "rejected" in history and "something regrettable" in history
        assert agent.state.caption == ""  # never said


async def test_edit_changes_what_the_ai_says(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        await say(pilot, "helo wrold")
        await wait_until(pilot, lambda: panel.table.row_count == 1, "the line waits")
        await pilot.press("i")
        editor = panel.query_one(LineEditor)
        assert editor.has_focus and editor.value == "helo wrold"  # prefilled
        await pilot.press("ctrl+u", *"hello world", "enter")
        await wait_until(pilot, lambda: waiting(agent) == [("hello world", "pending")], "edited")
        await wait_until(pilot, lambda: not panel.has_class("-editing"), "the editor closes")
        assert "hello world" in on_screen(panel.table)
        await pilot.press("a")
        await wait_until(pilot, lambda: agent.state.caption == "hello world", "it is said")


async def test_escape_leaves_the_editor_and_changes_nothing(agent: Agent) -> None:
    async with room(agent) as (pilot, screen, panel):
        await say(pilot, "keep me as I am")
        await wait_until(pilot, lambda: panel.table.row_count == 1, "the line waits")
        await pilot.press("i", "x", "y", "escape")
        await wait_until(pilot, lambda: not panel.has_class("-editing"), "the editor closes")
        assert screen.focused is panel.table
        assert waiting(agent) == [("keep me as I am", "pending")]


async def test_move_reorders_the_queue(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        for text in ("first", "second", "third"):
            agent.queue.say(text, "control")
        table = panel.table
        await wait_until(pilot, lambda: table.row_count == 3, "three lines wait")
        await pilot.press("down", "down", "less_than_sign")  # third, one earlier
        order = ["first", "third", "second"]
        await wait_until(pilot, lambda: [t for t, _ in waiting(agent)] == order, "moved")
        await wait_until(pilot, lambda: rows(panel) == order, "the rows follow")
        assert panel.selected is not None and panel.selected.detail == "third"  # it stays lit
        await pilot.press("greater_than_sign", "greater_than_sign")
        order = ["first", "second", "third"]
        await wait_until(pilot, lambda: [t for t, _ in waiting(agent)] == order, "moved back")
        await wait_until(pilot, lambda: "already at that end" in notices(pilot.app), "refused")
        assert rows(panel) == order


async def test_skip_stops_the_current_line_and_the_next_plays(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        agent.queue.say(LONG, "ai:reply")
        agent.queue.say("next up", "ai:reply")
        playing = panel.now_playing
        await wait_until(pilot, lambda: playing.action is not None, "the long line plays")
        await pilot.press("n")
        await wait_until(pilot, lambda: agent.state.caption == "next up", "the next one plays")
        assert "interrupted" in on_screen(panel.history)


async def test_the_kill_switch_stops_speech_and_clears_ai_lines(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        agent.queue.say("mine, held for approval", "control")
        for n in range(3):
            agent.queue.say(f"{n}: {LONG}", "ai:reply")
        playing = panel.now_playing
        await wait_until(pilot, lambda: playing.action is not None, "an AI line plays")
        await wait_until(pilot, lambda: panel.table.row_count == 3, "the rest wait")
        await pilot.press("s", *"half a sent")  # the streamer is typing: the switch still works
        await pilot.press("ctrl+k")
        await wait_until(pilot, lambda: playing.action is None, "the voice stopped")
        assert waiting(agent) == [("mine, held for approval", "pending")]  # not an AI line
        await wait_until(pilot, lambda: panel.table.row_count == 1, "the AI lines are gone")
        history = on_screen(panel.history)
        assert history.count("skipped") == 2 and "interrupted" in history
        assert "kill switch: 3 actions stopped or cleared" in flat(notices(pilot.app))
        assert pilot.app.screen.query_one("#say-input", Input).value == "half a sent"


async def test_mode_cycles_and_shows_in_the_status_bar(agent: Agent) -> None:
    async with room(agent) as (pilot, screen, panel):
        status = screen.query_one(StatusBar)
        await wait_until(pilot, lambda: "mode llm" in on_screen(status), "the mode shows")
        for mode in ("autonomous", "external", "llm"):
            await pilot.press("m")
            await wait_until(pilot, lambda m=mode: agent.snapshot().mode == m, f"mode {mode}")
            shown = f"mode {mode}"
            await wait_until(pilot, lambda s=shown: s in on_screen(status), "the bar says")
            assert f"mode {mode}" in on_screen(panel)


async def test_dry_run_toggles(agent: Agent) -> None:
    async with room(agent) as (pilot, screen, panel):
        status = screen.query_one(StatusBar)
        await pilot.press("d")
        await wait_until(pilot, lambda: agent.queue.status.dry_run, "dry run is on")
        await wait_until(pilot, lambda: "DRY RUN" in on_screen(status), "the bar says so")
        assert "DRY RUN: nothing leaves the box" in on_screen(panel)
        await pilot.press("d")
        await wait_until(pilot, lambda: not agent.queue.status.dry_run, "dry run is off")
        await wait_until(pilot, lambda: "DRY RUN" not in on_screen(status), "the bar too")
        assert "dry run off" in on_screen(panel)


async def test_a_sources_gate_cycles(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        line = panel.query_one("#queue-director")
        await wait_until(pilot, lambda: "control approve" in on_screen(line), "the gates show")
        assert "approval: chat auto \u00b7 idle auto \u00b7 control approve" in on_screen(line)
        await pilot.press("o", "g")  # idle: auto -> approve
        await wait_until(pilot, lambda: agent.queue.status.approval.get("idle") == "approve", "")
        await wait_until(pilot, lambda: "idle approve" in on_screen(line), "the line follows")
        await pilot.press("g")
        await wait_until(pilot, lambda: "idle flagged" in on_screen(line), "flagged next")
        assert panel.chosen_source == "idle"


async def test_markup_in_a_line_and_its_flag_shows_literally(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        agent.queue.say(MARKUP, "control", flagged="[bold]new[/] viewer" + ESCAPES)
        await wait_until(pilot, lambda: panel.table.row_count == 1, "the line waits")
        shown = flat(on_screen(panel))
        assert "\u2691 [bold]new[/] viewer" in shown
        assert "\x1b" not in shown and "\u202e" not in shown
        await pilot.press("i")
        assert panel.query_one(LineEditor).value == MARKUP  # the editor holds it as typed
        await pilot.press("escape", "a")
        playing = panel.now_playing
        await wait_until(pilot, lambda: playing.action is not None, "the line plays")
        assert MARKUP in flat(on_screen(playing))
        assert pilot.app.is_running


async def test_cell_changes_are_applied_in_place(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with room(agent) as (pilot, _screen, panel):
        first = agent.queue.say("one", "control")
        agent.queue.say("two", "control")
        table = panel.table
        await wait_until(pilot, lambda: table.row_count == 2, "two lines wait")
        layouts: list[object] = []
        monkeypatch.setattr(table, "_lay_out", layouts.append)
        agent.queue.edit(first.id, "one, fixed")
        await wait_until(pilot, lambda: "one, fixed" in on_screen(table), "the edit shows")
        assert layouts == []


async def test_a_flood_of_actions_stays_bounded_and_the_keys_answer(agent: Agent) -> None:
    async with room(agent) as (pilot, screen, panel):
        agent.queue.say("the one that matters", "control")
        await wait_until(pilot, lambda: panel.table.row_count == 1, "the line waits")
        flood: list[Event] = []
        for n in range(1000):
            action = Action(f"f{n}", "say", f"line {n}", "ai:idle", "queued", 0.0, order=1e6 + n)
            flood += [ActionQueued(action=action), ActionUpdated(action=_done(action))]
        began = time.monotonic()
        screen.post_message(EventsArrived(flood))
        history = panel.query_one(ActionTable)
        await wait_until(pilot, lambda: "line 999" in on_screen(history), "the flood is shown")
        assert time.monotonic() - began < 2.0
        assert history.row_count == ActionTable.MAX_ROWS
        assert panel.table.row_count == 1  # all of them finished within the batch
        await pilot.press("a")
        await wait_until(pilot, lambda: agent.state.caption == "the one that matters", "said")


def _done(action: Action) -> Action:
    return Action(action.id, action.kind, action.detail, action.source, "done", action.ts)


async def test_a_running_expression_is_not_now_playing(agent: Agent) -> None:
    async with room(agent) as (pilot, _screen, panel):
        agent.queue.express("happy", "control")  # held: the control gate asks for approval
        await wait_until(pilot, lambda: panel.table.row_count == 1, "the expression waits")
        await pilot.press("a")
        await wait_until(pilot, lambda: agent.state.expression == "happy", "it shows")
        await wait_until(pilot, lambda: "happy" in on_screen(panel.history), "it is history")
        assert isinstance(panel.now_playing, NowPlaying) and panel.now_playing.action is None


async def test_a_gap_redraws_the_queue_from_its_snapshot(agent: Agent) -> None:
    async with room(agent) as (pilot, screen, panel):
        agent.queue.say("stale line", "control")
        await wait_until(pilot, lambda: rows(panel) == ["stale line"], "the line waits")
        kept = agent.queue.say("still here", "control")
        fresh = agent.snapshot()
        fresh.queue = [kept]
        fresh.director = DirectorStatus(mode="external", dry_run=True)
        screen.post_message(EventsArrived([Gap(missed=5, snapshot=fresh)]))
        await wait_until(pilot, lambda: rows(panel) == ["still here"], "the snapshot's queue")
        assert "mode external \u00b7 DRY RUN" in on_screen(screen.query_one(StatusBar))


class Harness(App[None]):
    """The panel alone, fed straight from Python: proves it defuses text itself."""

    def compose(self) -> ComposeResult:
        yield QueuePanel()


async def test_the_panel_defuses_escapes_on_its_own() -> None:
    async with Harness().run_test(size=(160, 30)) as pilot:
        panel = pilot.app.query_one(QueuePanel)
        hostile = MARKUP + ESCAPES
        panel.upsert(
            [
                Action("p", "say", hostile, hostile, "pending", 0.0, flagged=hostile),
                Action("r", "say", hostile, hostile, "running", 0.0),
                Action("d", "say", hostile, hostile, "failed", 0.0, error=hostile),
            ]
        )
        await wait_until(pilot, lambda: "[bold red]x[/]" in on_screen(panel), "the rows show")
        everything = on_screen(panel)
        assert not {"\x1b", "\x07", "\r", "\u202e", "\u2028"} & set(everything)
        assert MARKUP in flat(on_screen(panel.now_playing))
        assert pilot.app.is_running
