"""The centre of the control room: how the director runs, what plays now, what waits, what ran.

From the top: the mode, dry run and approval gate of each source; the action running now;
the waiting actions in run order (those pending an operator's approval lit, with why they were
flagged); the line editor while one is open; then recent history. Keys live on the screen and
act on ``selected``; this panel only draws and reports what the streamer typed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, Static

from agent.protocol.messages import Action, ApprovalGate, DirectorStatus, Mode
from airi_tui.display import plain
from airi_tui.widgets.action_table import ActionTable
from airi_tui.widgets.now_playing import NowPlaying
from airi_tui.widgets.queue_table import QueueTable

T = TypeVar("T", bound=str)

MODES: tuple[Mode, ...] = ("llm", "autonomous", "external")
GATES: tuple[ApprovalGate, ...] = ("auto", "approve", "flagged")
SOURCES = ("chat", "idle", "control")
"""The sources every show has; others appear once the agent reports a gate for them."""
WAITING = frozenset({"pending", "queued"})
FACE_KINDS = frozenset({"expression", "motion"})
"""Run beside the voice, the moment they are queued: never what is "now playing"."""
MAX_EDIT_CHARS = 500
EMPTY = "nothing waits: lines the AI or you queue show here"


def next_in(options: tuple[T, ...], current: str) -> T:
    """The option after ``current``, wrapping round (the first one if ``current`` is unknown)."""
    at = options.index(current) if current in options else -1
    return options[(at + 1) % len(options)]


def gate_sources(status: DirectorStatus) -> list[str]:
    """The sources the approval line shows: the usual three, then any other the agent gates."""
    return [*SOURCES, *(source for source in status.approval if source not in SOURCES)]


class LineEditor(Input):
    """The text of one waiting line, to fix before it is said. Enter sends, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel edit", show=False)]

    @dataclass
    class Edited(Message):
        """The streamer wants ``action_id`` to say ``text`` instead."""

        action_id: str
        text: str

    class Cancelled(Message):
        """The streamer left the editor without sending."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_length=MAX_EDIT_CHARS, id=id)
        self.action_id = ""

    def open(self, action: Action) -> None:
        self.action_id = action.id
        self.value = action.detail
        self.cursor_position = len(self.value)
        self.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if text := event.value.strip():
            self.post_message(self.Edited(self.action_id, text))

    def action_cancel(self) -> None:
        self.post_message(self.Cancelled())


class QueuePanel(Vertical):
    """The queue as the agent reports it; carries ``-empty`` while nothing waits and
    ``-editing`` while the line editor is open."""

    COMPONENT_CLASSES = {"queue-panel--chosen", "queue-panel--dry-run"}

    director: reactive[DirectorStatus] = reactive(DirectorStatus, always_update=True)
    chosen_source: reactive[str] = reactive(SOURCES[0])
    """The source whose gate the gate key cycles."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="-empty")
        self.border_title = Content("queue")
        self.waiting: dict[str, Action] = {}

    def compose(self) -> ComposeResult:
        yield Static(markup=False, id="queue-director")
        yield NowPlaying(id="now-playing")
        yield QueueTable(id="queue-table")
        yield Static(Text(EMPTY), markup=False, id="queue-empty")
        yield Static(markup=False, id="queue-selected")
        yield LineEditor(id="queue-edit")
        yield Static(Text("recent"), markup=False, id="history-title")
        yield ActionTable(id="history")

    # --- what the agent reports -----------------------------------------------------------------

    @property
    def table(self) -> QueueTable:
        return self.query_one(QueueTable)

    @property
    def history(self) -> ActionTable:
        return self.query_one(ActionTable)

    @property
    def now_playing(self) -> NowPlaying:
        return self.query_one(NowPlaying)

    @property
    def selected(self) -> Action | None:
        """The waiting action under the queue's cursor."""
        return self.table.selected

    def reset(self, queue: Iterable[Action], recent: Iterable[Action]) -> None:
        """Show exactly this queue and history, as after attaching or a gap."""
        self.waiting = {}
        self.now_playing.play(None)
        self.history.reset(action for action in recent if _finished(action))
        self.upsert(queue)

    def upsert(self, actions: Iterable[Action]) -> None:
        """Apply one batch of action reports (the latest report of each action, in order)."""
        finished = []
        for action in actions:
            self.waiting.pop(action.id, None)
            if action.state in WAITING:
                self.waiting[action.id] = action
            elif action.state == "running":
                if action.kind not in FACE_KINDS:
                    self.now_playing.play(action)
            else:
                finished.append(action)
                playing = self.now_playing.action
                if playing is not None and playing.id == action.id:
                    self.now_playing.play(None)
        if finished:
            self.history.upsert(finished)
        self.table.show(self.waiting.values())
        self._count()
        self._show_selected()

    def on_data_table_row_highlighted(self, event: QueueTable.RowHighlighted) -> None:
        event.stop()
        self._show_selected()

    def _show_selected(self) -> None:
        # The whole line and why it waits: a long one is cut in its row, and the streamer
        # approves what they read.
        action = self.selected
        line = Text()
        if action is not None:
            why = f"flagged: {action.flagged} \u00b7 " if action.flagged else ""
            line = plain(f"{action.source} \u00b7 {why}{action.detail}", 600)
            line.no_wrap = False
        self.query_one("#queue-selected", Static).update(line)

    def _count(self) -> None:
        pending = sum(action.state == "pending" for action in self.waiting.values())
        queued = len(self.waiting) - pending
        self.border_subtitle = Content(f"{pending} pending \u00b7 {queued} queued")
        self.set_class(not self.waiting, "-empty")

    # --- the director line ----------------------------------------------------------------------

    def watch_director(self) -> None:
        self._show_director()

    def watch_chosen_source(self) -> None:
        self._show_director()

    def choose_next_source(self) -> str:
        """Point the gate key at the next source of the approval line."""
        self.chosen_source = next_in(tuple(gate_sources(self.director)), self.chosen_source)
        return self.chosen_source

    def _show_director(self) -> None:
        if not self.is_mounted:
            return
        status = self.director
        chosen = self._style("queue-panel--chosen")
        line = Text.assemble("mode ", plain(status.mode, 20), " \u00b7 ")
        if status.dry_run:
            line.append("DRY RUN: nothing leaves the box", self._style("queue-panel--dry-run"))
        else:
            line.append("dry run off")
        line.append("\napproval: ")
        for at, source in enumerate(gate_sources(status)):
            gate = status.approval.get(source, "auto")
            part = plain(f"{source} {gate}", 40)
            if source == self.chosen_source:
                part.stylize(chosen)
            line.append_text(Text(" \u00b7 ") if at else Text()).append_text(part)
        self.query_one("#queue-director", Static).update(line)

    def _style(self, component: str) -> Style:
        return self.get_component_rich_style(component, partial=True)

    # --- the line editor --------------------------------------------------------------------------

    def open_editor(self, action: Action) -> None:
        self.add_class("-editing")
        self.query_one(LineEditor).open(action)

    def close_editor(self) -> None:
        self.remove_class("-editing")
        self.table.focus()

    def on_line_editor_cancelled(self, event: LineEditor.Cancelled) -> None:
        event.stop()
        self.close_editor()

    @property
    def editing(self) -> str:
        """The id of the action whose line is being edited ('' when the editor is closed)."""
        return self.query_one(LineEditor).action_id if self.has_class("-editing") else ""


def _finished(action: Action) -> bool:
    return action.state not in WAITING and action.state != "running"
