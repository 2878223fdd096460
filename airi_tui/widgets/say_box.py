"""The caption the audience sees now, and a line for the streamer to have the AI say."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static

from airi_tui.display import plain

MAX_SAY_CHARS = 500
NO_CAPTION = "(no caption)"


class SayBox(Vertical):
    """Shows ``caption``; posts ``Said`` when the streamer submits a line."""

    @dataclass
    class Said(Message):
        """The streamer asked the AI to say ``text``."""

        text: str

    caption: reactive[str] = reactive("")
    """The line the AI is saying now, as the agent reports it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = Content("caption \u00b7 say")

    def compose(self) -> ComposeResult:
        yield Static(NO_CAPTION, id="caption", markup=False)
        yield Input(
            placeholder="have the AI say\u2026 (Enter sends, Esc leaves)",
            max_length=MAX_SAY_CHARS,
            id="say-input",
        )

    def watch_caption(self, caption: str) -> None:
        shown = plain(caption) if caption else NO_CAPTION
        self.query_one("#caption", Static).update(shown)
        self.set_class(not caption, "-no-caption")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if text := event.value.strip():
            self.post_message(self.Said(text))

    def sent(self, text: str) -> None:
        """``text`` reached the agent: empty the input, unless the streamer typed on."""
        field = self.query_one("#say-input", Input)
        if field.value.strip() == text:
            field.clear()
