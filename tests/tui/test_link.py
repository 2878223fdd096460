"""Losing the agent and finding it again: stale state, notices, reattaching, fatal refusals."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from textual.app import App, ComposeResult
from textual.widgets import Input
from textual.widgets._toast import Toast

from agent.protocol import Endpoint
from agent.protocol.messages import ChatMessage
from airi_tui.app import AiriApp
from airi_tui.link import AgentLink
from airi_tui.widgets.chat_view import ChatView
from airi_tui.widgets.expression_pad import ExpressionButton, ExpressionPad
from airi_tui.widgets.status_bar import StatusBar
from tests.tui.conftest import StartAgent
from tests.tui.helpers import dashboard, flat, lit_buttons, on_screen, wait_attached, wait_until

SIZE = (160, 36)


def notices(app: App[Any]) -> str:
    """The text of every notification toast on screen (``run_test(notifications=True)``)."""
    return " ".join(flat(on_screen(toast)) for toast in app.screen.query(Toast))


async def test_reattaches_to_a_restarted_agent(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        status, chat = screen.query_one(StatusBar), screen.query_one(ChatView)
        agent.receive_chat(ChatMessage(id="m1", platform="twitch", author="a", text="before", ts=0))
        await wait_until(pilot, lambda: "a: before" in on_screen(chat), "the line shows")

        await agent.stop("maintenance")
        await wait_until(pilot, lambda: screen.link_state == "detached", "the link is down")
        assert screen.has_class("-stale")
        shown = flat(on_screen(status))
        assert "detached: the agent stopped (maintenance)" in shown
        assert "retrying in" in shown
        assert "a: before" in on_screen(chat)  # the last state stays visible, greyed

        second = await start_agent()
        await wait_until(pilot, lambda: screen.link_state == "attached", "the link is back")
        assert not screen.has_class("-stale")
        assert "\u25cf attached" in on_screen(status)
        second.receive_chat(ChatMessage(id="m2", platform="twitch", author="b", text="after", ts=1))
        await wait_until(pilot, lambda: "b: after" in on_screen(chat), "the new agent's chat shows")


async def test_agent_stopping_is_shown_with_its_reason(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE) as pilot:
        screen = await wait_attached(pilot)
        status = screen.query_one(StatusBar)
        stopping = asyncio.create_task(agent.stop("upgrading to 0.2"))
        await wait_until(pilot, lambda: screen.link_state != "attached", "the link changes")
        if screen.link_state == "stopping":  # shown until the agent closes the socket
            assert "\u25d0 agent stopping: upgrading to 0.2" in flat(on_screen(status))
        await stopping
        await wait_until(pilot, lambda: screen.link_state == "detached", "the link is down")
        # The reason outlives the socket: it is why the control room is detached.
        assert "the agent stopped (upgrading to 0.2)" in flat(on_screen(status))


async def test_status_bar_says_agent_stopping_with_the_reason() -> None:
    class Bar(App[None]):
        def compose(self) -> ComposeResult:
            yield StatusBar()

    async with Bar().run_test() as pilot:
        status = pilot.app.query_one(StatusBar)
        status.link_state = "stopping"
        status.link_detail = "upgrading to 0.2"
        await pilot.pause()
        assert "agent stopping: upgrading to 0.2" in on_screen(status)
        assert status.has_class("-stopping")


async def test_requests_while_detached_are_not_sent_and_say_so(start_agent: StartAgent) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE, notifications=True) as pilot:
        screen = await wait_attached(pilot)
        await agent.stop("maintenance")
        await wait_until(pilot, lambda: screen.link_state == "detached", "the link is down")
        pad = screen.query_one(ExpressionPad)
        await pilot.press("2")
        await wait_until(pilot, lambda: "not sent" in notices(pilot.app), "a notice shows")
        assert f"expression {pad.pad[1].expression} not sent" in notices(pilot.app)
        await pilot.press("s", *"anyone there?", "enter")
        await wait_until(pilot, lambda: "anyone there?" in notices(pilot.app), "a say notice")
        assert screen.query_one("#say-input", Input).value == "anyone there?"  # kept for a retry
        assert not [b for b in pad.query(ExpressionButton) if b.has_class("-lit")]
        assert pilot.app.is_running


async def test_a_refusal_is_fatal_shown_and_not_retried(start_agent: StartAgent) -> None:
    port = free_port()
    await start_agent(control={"tcp_port": port})
    wrong = Endpoint(host="127.0.0.1", port=port, token="not-the-token")
    async with AiriApp(wrong).run_test(size=SIZE, notifications=True) as pilot:
        app = pilot.app
        screen = dashboard(app)
        await wait_until(pilot, lambda: screen.link_state == "fatal", "the refusal is fatal")
        status = screen.query_one(StatusBar)
        assert status.has_class("-fatal")
        assert "cannot attach" in flat(on_screen(status))
        assert "not retrying" in flat(on_screen(status))
        await wait_until(pilot, lambda: "cannot attach" in notices(app), "a notice says so too")
        link = screen.query_one(AgentLink)
        await wait_until(
            pilot,
            lambda: not [w for w in app.workers if w.node is link and not w.is_finished],
            "the link gave up",
        )


async def test_attaches_over_tcp_with_the_token(start_agent: StartAgent) -> None:
    port = free_port()
    agent = await start_agent(control={"tcp_port": port})
    token = (agent.state_dir / "control.token").read_text().strip()
    async with AiriApp(Endpoint(host="127.0.0.1", port=port, token=token)).run_test() as pilot:
        screen = await wait_attached(pilot)
        assert f"tcp://127.0.0.1:{port}" in on_screen(screen.query_one(StatusBar))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_restarted_agent_with_other_hotkeys_rebinds_the_pad(
    start_agent: StartAgent,
) -> None:
    agent = await start_agent()
    async with AiriApp(agent.endpoint).run_test(size=SIZE, notifications=True) as pilot:
        screen = await wait_attached(pilot)
        pad = screen.query_one(ExpressionPad)
        await agent.stop("new config")
        await wait_until(pilot, lambda: screen.link_state == "detached", "the link is down")
        second = await start_agent(pad={"hotkeys": {"x": "angry", "q": "wink"}})
        await wait_until(pilot, lambda: len(pad.query(ExpressionButton)) == 2, "two buttons")
        taken = "pad key 'q' (wink) is taken by the control room"
        await wait_until(pilot, lambda: taken in notices(pilot.app), "the clash is reported")
        await pilot.press("1")  # no longer a hotkey: nothing is sent
        await pilot.press("x")
        await wait_until(pilot, lambda: second.state.expression == "angry", "x fired angry")
        await wait_until(pilot, lambda: lit_buttons(pad) == ["angry"], "angry is lit")
        actions = [a for a in second.state.actions.values() if a.kind == "expression"]
        assert [a.detail for a in actions] == ["angry"]  # "1" sent nothing
        await pilot.press("q")  # still quit, not wink
        await wait_until(pilot, lambda: not pilot.app.is_running, "the app quit")
        assert second.state.expression == "angry"
