"""The expression pad: one button per expression, lit by what the agent reports.

Pressing a button only asks; the lit button is the agent's current expression as it reports
it back (``Snapshot.expression``, ``ExpressionChanged``), so the pad never shows a face the
avatar is not wearing.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.containers import Grid
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button

from agent.protocol import inert
from agent.protocol.messages import PadButton


class ExpressionButton(Button):
    """One pad button: its hotkey and the expression it asks for."""

    def __init__(self, button: PadButton, active: bool) -> None:
        label = Content.assemble((inert(button.key, 12), "bold"), " ", inert(button.expression, 24))
        super().__init__(label, classes="-lit" if active else "", compact=True)
        self.expression = button.expression


class ExpressionPad(Grid):
    """Buttons from the snapshot's pad; posts ``Fired`` when one is pressed."""

    @dataclass
    class Fired(Message):
        """The user asked for ``expression`` (by click, Enter or hotkey)."""

        expression: str

    active: reactive[str] = reactive("")
    """The expression the agent reports it is showing."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pad: list[PadButton] = []
        self.border_title = Content("expressions")

    def set_buttons(self, pad: list[PadButton]) -> None:
        """Lay out these buttons (unchanged pads are left alone, so focus stays put)."""
        if pad == self.pad:
            return
        self.pad = list(pad)
        self.query(ExpressionButton).remove()
        self.mount_all(ExpressionButton(button, button.expression == self.active) for button in pad)

    def watch_active(self, active: str) -> None:
        for button in self.query(ExpressionButton):
            # Not "-active": Button sets and clears that itself for its press flash, which would
            # unlight a button the agent confirmed within the flash.
            button.set_class(button.expression == active, "-lit")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if isinstance(event.button, ExpressionButton):
            self.post_message(self.Fired(event.button.expression))
