"""The action running now, with a progress bar while a line is being said.

The agent shows a line as a caption for ``max(1.5, len(text) / 15)`` seconds; the bar runs
over that estimate from the moment this room saw the line start (a batch later than the agent
at most, so the bar is never ahead of the voice by more than that).
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import ProgressBar, Static

from agent.protocol.messages import Action
from airi_tui.display import plain

READ_CHARS_PER_SECOND = 15.0
MIN_LINE_SECONDS = 1.5
TICK_SECONDS = 0.1
NOTHING = "nothing playing"


def line_seconds(text: str) -> float:
    """How long the agent keeps a line up: long enough to read it."""
    return max(MIN_LINE_SECONDS, len(text) / READ_CHARS_PER_SECOND)


class NowPlaying(Vertical):
    """One line saying what runs, and a bar with elapsed / estimated seconds for a line.

    Carries ``-idle`` while nothing runs and ``-no-bar`` while what runs has no estimate (a
    scene switch, a command): the stylesheet hides what does not apply.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="-idle -no-bar")
        self.action: Action | None = None
        self.started = 0.0
        self.duration = 0.0
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(NOTHING), markup=False, id="now-line")
        with Horizontal(id="now-bar"):
            yield ProgressBar(show_percentage=False, show_eta=False, id="now-progress")
            yield Static(markup=False, id="now-time")

    def on_mount(self) -> None:
        self._timer = self.set_interval(TICK_SECONDS, self._tick, pause=True)

    def play(self, action: Action | None) -> None:
        """Show ``action`` as running now (None: nothing runs)."""
        same = action is not None and self.action is not None and action.id == self.action.id
        self.action = action
        if action is not None and not same:
            self.started = time.monotonic()
            self.duration = line_seconds(action.detail) if action.kind == "say" else 0.0
        self.set_class(action is None, "-idle")
        self.set_class(action is None or not self.duration, "-no-bar")
        self.query_one("#now-line", Static).update(self._line())
        if self._timer is not None:
            if action is not None and self.duration:
                self._timer.resume()
            else:
                self._timer.pause()
        self._tick()

    def _line(self) -> Text:
        action = self.action
        if action is None:
            return Text(NOTHING)
        return Text.assemble(
            "\u25b6 ", plain(action.kind, 16), " \u00b7 ", plain(action.source, 24), "  ",
            plain(action.detail, 300),
        )  # fmt: skip

    def _tick(self) -> None:
        if self.action is None or not self.duration:
            return
        elapsed = min(time.monotonic() - self.started, self.duration)
        self.query_one(ProgressBar).update(total=self.duration, progress=elapsed)
        shown = f"{elapsed:.1f} / {self.duration:.1f} s"
        self.query_one("#now-time", Static).update(Text(shown))
