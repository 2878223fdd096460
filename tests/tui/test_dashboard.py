"""The dashboard against a real in-process agent: chat, pad, say box, actions, health."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from pytest import LogCaptureFixture
from textual.app import App, ComposeResult
from textual.message import Message
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input

from agent.protocol import Connection, Endpoint
from agent.protocol.messages import Action, ChatMessage, Gap, Ok, Ping
from airi_tui.app import AiriApp
from airi_tui.messages import EventsArrived
from airi_tui.widgets.action_table import ActionTable
from airi_tui.widgets.chat_view import ChatView
from airi_tui.widgets.expression_pad import ExpressionButton, ExpressionPad
from airi_tui.widgets.health_panel import HealthPanel, HealthRow
from airi_tui.widgets.log_view import LogView
from airi_tui.widgets.queue_panel import QueuePanel
from airi_tui.widgets.say_box import SayBox
from airi_tui.widgets.status_bar import StatusBar
from tests.tui.conftest import StartAgent
from tests.tui.helpers import (
    dashboard,
    flat,
    lit_buttons,
    on_screen,
    wait_attached,
    wait_until,
)

SIZE = (120, 36)


async def test_chat_from_the_agent_shows_up(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        await wait_attached(pilot)
        chat = pilot.app.screen.query_one(ChatView)
        agent.receive_chat(
            ChatMessage(id="m1", platform="twitch", author="viewer", text="hi airi", ts=0.0)
        )
        await wait_until(pilot, lambda: "viewer: hi airi" in on_screen(chat), "the line shows")
        assert "00:00:00 viewer: hi airi" in chat.lines
        assert "DEMO" not in on_screen(chat)


async def test_demo_chat_is_labelled_as_demo(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        await wait_attached(pilot)
        chat = pilot.app.screen.query_one(ChatView)
        demo = ChatMessage(id="d1", platform="demo", author="pixelfox", text="W", ts=0.0, demo=True)
        agent.receive_chat(demo)
        await wait_until(pilot, lambda: "pixelfox" in on_screen(chat), "the demo line shows")
        shown = on_screen(chat)
        assert "demo 00:00:00 pixelfox: W" in shown
        assert "simulated viewers, not real chat" in shown
        assert "set [twitch] channel in config.toml" in shown


async def test_hotkey_lights_the_expression_the_agent_reports(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        pad = screen.query_one(ExpressionPad)
        second = pad.pad[1]
        assert second.key == "2"
        await pilot.press("2")
        await wait_until(pilot, lambda: lit_buttons(pad) == [second.expression], "2 is lit")
        assert agent.state.expression == second.expression


async def test_the_pad_follows_the_agent_not_the_keyboard(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        pad = screen.query_one(ExpressionPad)
        agent.queue.express("sad", "midi")  # another client (a MIDI pad) changes the face
        await wait_until(pilot, lambda: lit_buttons(pad) == ["sad"], "the pad shows sad")


async def test_hotkeys_come_from_the_snapshot(start_agent: StartAgent) -> None:
    agent = await start_agent(pad={"hotkeys": {"f5": "wink", "x": "angry"}})
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        pad = screen.query_one(ExpressionPad)
        assert [(b.key, b.expression) for b in pad.pad] == [("f5", "wink"), ("x", "angry")]
        await pilot.press("x")
        await wait_until(pilot, lambda: lit_buttons(pad) == ["angry"], "x lights angry")
        await pilot.press("2")  # not a hotkey of this agent: nothing is sent
        await pilot.press("f5")
        await wait_until(pilot, lambda: lit_buttons(pad) == ["wink"], "f5 lights wink")


async def settled_layout(pilot: Pilot[None], widget: Widget) -> None:
    """Wait until ``widget`` stays in place for a few frames, so a click lands on it."""
    last = None
    for _ in range(100):
        if widget.region == last:
            return
        last = widget.region
        await pilot.pause(0.05)


async def test_clicking_a_pad_button_fires_it(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        pad = screen.query_one(ExpressionPad)
        button = pad.query(ExpressionButton)[2]
        await wait_until(pilot, lambda: button.region.area > 0, "the button is laid out")
        await settled_layout(pilot, button)  # health rows arriving can still move the pad
        await pilot.click(button)
        third = pad.pad[2].expression
        await wait_until(pilot, lambda: lit_buttons(pad) == [third], "the clicked one is lit")
        assert agent.state.expression == third


async def test_say_input_queues_a_line_that_becomes_the_caption(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        actions = screen.query_one(QueuePanel)
        say_box = screen.query_one(SayBox)
        await pilot.press("s")
        field = screen.query_one("#say-input", Input)
        assert field.has_focus
        await pilot.press(*"sing 2 songs", "enter")  # keys typed here are text, not hotkeys
        await wait_until(pilot, lambda: "sing 2 songs" in on_screen(actions), "the action shows")
        row = on_screen(actions).splitlines()
        assert any("say" in line and "sing 2 songs" in line and "control" in line for line in row)
        await wait_until(pilot, lambda: "sing 2 songs" in on_screen(say_box), "the caption shows")
        assert field.value == ""
        assert agent.state.expression == ""
        await pilot.press("escape", "1")  # leaving the input gives the keys back to the pad
        pad = screen.query_one(ExpressionPad)
        await wait_until(pilot, lambda: lit_buttons(pad) == [pad.pad[0].expression], "1 fired")


async def test_health_shows_how_to_configure_what_is_off(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        panel = screen.query_one(HealthPanel)
        rows = {row.health.name: row for row in panel.query(HealthRow)}
        twitch = rows["twitch"]
        assert twitch.has_class("-off")
        hint = "set [twitch] channel and client_id in config.toml"

        def shown() -> bool:  # the last row: scroll to it (again, if rows came in meanwhile)
            panel.scroll_to_widget(twitch, animate=False)
            return hint in flat(on_screen(twitch))

        await wait_until(pilot, shown, "the twitch row is drawn whole")
        assert rows["control"].has_class("-up")
        assert list(rows) == sorted(rows)


async def test_status_bar_names_agent_endpoint_and_clients(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        status = screen.query_one(StatusBar)
        await wait_until(pilot, lambda: "1 client" in on_screen(status), "one client is counted")
        shown = on_screen(status)
        assert "airi 0.1.0" in shown
        assert agent.endpoint.describe() in shown
        assert "attached" in shown
        assert f"seq {screen.seq}" in shown
        assert screen.seq > 0


async def test_demo_chat_says_so_before_its_first_line(start_agent: StartAgent) -> None:
    agent = await start_agent(demo_chat={"enabled": "on", "messages_per_minute": 0.001})
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        chat = screen.query_one(ChatView)
        await wait_until(pilot, lambda: "DEMO" in on_screen(chat), "the chat says it is demo")
        assert chat.line_count == 0
        assert chat.has_class("-demo")


async def test_a_chat_burst_arrives_in_a_few_batches(start_agent: StartAgent) -> None:
    agent = await start_agent()
    batches: list[int] = []

    def count_batches(message: Message) -> None:
        if isinstance(message, EventsArrived):
            batches.append(len(message.events))

    app = AiriApp(agent.endpoint)
    async with app.run_test(size=SIZE, message_hook=count_batches) as pilot:
        screen = await wait_attached(pilot)
        chat = screen.query_one(ChatView)
        batches.clear()
        for n in range(1000):
            agent.receive_chat(ChatMessage(id=f"b{n}", platform="t", author="v", text=str(n), ts=0))
        await wait_until(pilot, lambda: chat.line_count == 1000, "every line arrived")
        assert chat.lines[-1] == "00:00:00 v: 999"
        assert sum(batches) >= 1000
        assert len(batches) <= 20  # one redraw per batch, not one per line


async def test_a_client_that_fell_behind_redraws_from_the_gap(start_agent: StartAgent) -> None:
    agent = await start_agent(control={"client_queue": 16})
    gaps: list[Gap] = []

    def note_gaps(message: Message) -> None:
        if isinstance(message, EventsArrived):
            gaps.extend(event for event in message.events if isinstance(event, Gap))

    async with AiriApp(agent.endpoint).run_test(size=SIZE, message_hook=note_gaps) as pilot:
        screen = await wait_attached(pilot)
        chat = screen.query_one(ChatView)
        for n in range(100):  # in one go: far more than the agent queues for one client
            agent.receive_chat(ChatMessage(id=f"g{n}", platform="t", author="v", text=str(n), ts=0))
        await wait_until(pilot, lambda: bool(gaps), "the agent sent a gap")
        await wait_until(pilot, lambda: chat.line_count == 100, "the chat is whole again")
        assert chat.lines == [f"00:00:00 v: {n}" for n in range(100)]  # none lost, none twice
        await wait_until(pilot, lambda: screen.seq == agent.bus.seq, "the seq caught up")


async def test_the_action_list_is_bounded() -> None:
    class Table(App[None]):
        def compose(self) -> ComposeResult:
            yield ActionTable()

    async with Table().run_test() as pilot:
        table = pilot.app.query_one(ActionTable)
        table.upsert(Action(f"a{n}", "say", str(n), "test", "done", 0.0) for n in range(250))
        await pilot.pause()
        assert table.row_count == ActionTable.MAX_ROWS
        assert table.get_row_at(0)[-1].plain == "50"  # the oldest went first


async def test_ctrl_l_clears_the_log(start_agent: StartAgent, caplog: LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        log_view = screen.query_one(LogView)
        await wait_until(pilot, lambda: log_view.line_count > 0, "the agent's log shows")
        await pilot.press("ctrl+l")
        assert log_view.line_count == 0


async def test_quitting_detaches_and_leaves_the_agent_running(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        await wait_attached(pilot)
        assert agent.server.client_count == 1
        await pilot.press("q")
        await wait_until(pilot, lambda: not pilot.app.is_running, "the app quit")
    for _ in range(100):
        if agent.server.client_count == 0:
            break
        await asyncio.sleep(0.02)
    assert agent.server.client_count == 0
    probe = await Connection.open(agent.endpoint, "probe", subscribe=False)
    try:
        reply = await probe.request(Ping())
    finally:
        await probe.close()
    assert isinstance(reply, Ok)
    assert reply.detail == "pong"  # the agent is still serving


async def test_starting_before_the_agent_attaches_once_it_is_up(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    endpoint = Endpoint(path=str(tmp_path / "agent.sock"))  # where start_agent will listen
    async with AiriApp(endpoint).run_test(size=SIZE) as pilot:
        screen = dashboard(pilot.app)
        status = screen.query_one(StatusBar)
        await wait_until(pilot, lambda: screen.link_state == "detached", "it says detached")
        why = f"no agent is listening at {endpoint.path}: start one with `airi agent` or `airi up`"
        await wait_until(pilot, lambda: why in flat(on_screen(status)), "it says why")
        assert screen.has_class("-stale")
        await start_agent()
        await wait_attached(pilot)
        assert not screen.has_class("-stale")
