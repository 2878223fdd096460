"""Helpers for the control room's Pilot tests: wait on conditions, read what is on screen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget

from airi_tui.screens.dashboard import DashboardScreen
from airi_tui.widgets.expression_pad import ExpressionButton, ExpressionPad


async def wait_until(
    pilot: Pilot[Any], condition: Callable[[], object], what: str, timeout: float = 5.0
) -> None:
    """Let the app run until ``condition()`` holds; fail saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting until {what}")
        await pilot.pause(0.02)


def on_screen(widget: Widget) -> str:
    """The screen's text inside ``widget``'s region as composed now (children included).

    This reads what the compositor would send to the terminal, so it sees what a person
    sees: clipping, scrolling, borders and titles included.
    """
    x, y, width, height = widget.region
    strips = widget.screen._compositor.render_strips()
    return "\n".join(strip.crop(x, x + width).text for strip in strips[y : y + height])


def lit_buttons(pad: ExpressionPad) -> list[str]:
    """The expressions whose pad buttons are lit (the agent's reported expression)."""
    buttons = pad.query(ExpressionButton)
    return [button.expression for button in buttons if button.has_class("-lit")]


def flat(text: str) -> str:
    """``text`` with wrapping undone: every run of whitespace becomes one space."""
    return " ".join(text.split())


def dashboard(app: App[Any]) -> DashboardScreen:
    screen = app.screen
    assert isinstance(screen, DashboardScreen)
    return screen


async def wait_attached(pilot: Pilot[Any]) -> DashboardScreen:
    screen = dashboard(pilot.app)
    await wait_until(pilot, lambda: screen.link_state == "attached", "the link is attached")
    return screen
