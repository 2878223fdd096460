"""A viewer's bytes show as the characters they are: no markup, no escapes, no actions."""

from __future__ import annotations

import logging

import pytest
from textual.app import App, ComposeResult

from agent.protocol.messages import Action, ChatMessage, LogLine, ServiceHealth
from airi_tui.app import AiriApp
from airi_tui.widgets.action_table import ActionTable
from airi_tui.widgets.chat_view import ChatView
from airi_tui.widgets.health_panel import HealthPanel
from airi_tui.widgets.log_view import LogView
from airi_tui.widgets.queue_panel import QueuePanel
from tests.tui.conftest import StartAgent
from tests.tui.helpers import flat, on_screen, wait_attached, wait_until

MARKUP = "[bold red]x[/] [link=http://e]y[/link] [@click=app.quit]z[/]"
HOSTILE_NAME = "[@click=app.quit]boss[/]"
ESCAPES = "\x1b[2J\x1b]8;;http://e\x07ok\x1b]8;;\x07\rover\u202eevil\u2028next"


class Harness(App[None]):
    """The widgets alone, fed straight from Python: proves they defuse text themselves."""

    CSS = "ChatView, LogView, ActionTable, HealthPanel { height: 6; }"

    def compose(self) -> ComposeResult:
        yield ChatView()
        yield LogView()
        yield ActionTable()
        yield HealthPanel()


async def test_viewer_markup_shows_literally_and_does_nothing(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=(260, 36)) as pilot:
        screen = await wait_attached(pilot)
        chat = screen.query_one(ChatView)
        message = ChatMessage(id="h1", platform="twitch", author=HOSTILE_NAME, text=MARKUP, ts=0)
        agent.receive_chat(message)
        await wait_until(pilot, lambda: "boss" in on_screen(chat), "the hostile line shows")
        assert f"{HOSTILE_NAME}: {MARKUP}" in on_screen(chat)
        await pilot.click(chat, offset=(30, 1))  # clicking the [@click] text quits nothing
        await pilot.pause()
        assert pilot.app.is_running


async def test_a_said_line_with_markup_shows_literally(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=(160, 36)) as pilot:
        screen = await wait_attached(pilot)
        await pilot.press("s", *"[bold]loud[/]", "enter")
        actions = screen.query_one(QueuePanel)
        await wait_until(pilot, lambda: "[bold]loud[/]" in on_screen(actions), "the action shows")
        say_box = screen.query_one("#caption")
        await wait_until(pilot, lambda: "[bold]loud[/]" in on_screen(say_box), "the caption too")


async def test_agent_log_lines_show_literally(
    start_agent: StartAgent, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=(160, 36)) as pilot:
        screen = await wait_attached(pilot)
        logging.getLogger("airi.test").warning("viewer said %s", MARKUP + ESCAPES)
        log_view = screen.query_one(LogView)
        await wait_until(pilot, lambda: "viewer said" in on_screen(log_view), "the record shows")
        shown = next(line for line in log_view.lines if "viewer said" in line)
        assert MARKUP in shown
        assert not {"\x1b", "\x07", "\r", "\u202e", "\u2028"} & set(shown)


async def test_widgets_defuse_escapes_on_their_own() -> None:
    async with Harness().run_test(size=(200, 30)) as pilot:
        app = pilot.app
        chat, log_view = app.query_one(ChatView), app.query_one(LogView)
        chat.show([ChatMessage(id="e1", platform="x", author=ESCAPES, text=ESCAPES, ts=0)])
        log_view.show([LogLine(ts=0, level="error\x1b[5m", logger=ESCAPES, message=ESCAPES)])
        app.query_one(ActionTable).upsert(
            [Action("a1", "say", MARKUP + ESCAPES, ESCAPES, "queued", 0.0)]
        )
        health = ServiceHealth(name=HOSTILE_NAME, state="off", detail=MARKUP + ESCAPES)
        app.query_one(HealthPanel).upsert([health])
        await pilot.pause()
        for line in [*chat.lines, *log_view.lines]:
            assert not {"\x1b", "\x07", "\r", "\u202e", "\u2028", "\n"} & set(line)
            assert "\ufffd[2J" in line  # the escape is a visible stand-in, the rest is kept
        panel = app.query_one(HealthPanel)
        await wait_until(pilot, lambda: HOSTILE_NAME in on_screen(panel), "the health row shows")
        assert MARKUP in flat(on_screen(panel))
        everything = "".join(on_screen(widget) for widget in app.query("*"))
        assert "\x1b" not in everything
        assert "\u202e" not in everything
        assert MARKUP in flat(on_screen(app.query_one(ActionTable)))
