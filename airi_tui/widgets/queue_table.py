"""What waits to run: actions pending an operator's approval and queued ones, in run order.

Rows are keyed by action id and follow the agent's run order, (-priority, order). A batch that
only changes cells, adds actions at the end or removes some is applied in place; only a new
order (a move, a higher-priority arrival) lays the rows out again, and that is one pass per
batch over at most the agent's queue size.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from agent.protocol.messages import Action
from airi_tui.display import plain
from airi_tui.widgets.cells import update_row

COLUMNS = ("state", "kind", "source", "detail")
STATE_WORDS = {"pending": "\u23f8 approve?", "queued": "\u00b7 queued"}
"""A symbol and a word per waiting state: readable without colour."""
FLAG = "\u2691"


def run_order(action: Action) -> tuple[int, float]:
    """The agent's order for waiting actions: higher priority first, then first come."""
    return (-action.priority, action.order)


class QueueTable(DataTable[Text]):
    """One row per waiting action; the cursor row is the action the queue keys act on."""

    COMPONENT_CLASSES = {"queue-table--pending", "queue-table--queued", "queue-table--flag"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.actions: dict[str, Action] = {}

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column, key=column)
        # State colours are baked into cells, so a new theme means new cells.
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    @property
    def selected(self) -> Action | None:
        """The action under the cursor, as last reported."""
        if not self.actions or not self.is_valid_row_index(self.cursor_row):
            return None
        key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        return self.actions.get(key) if key is not None else None

    @property
    def order(self) -> list[str]:
        """Action ids in the order the rows are drawn."""
        return [str(row.key.value) for row in self.ordered_rows]

    def show(self, actions: Iterable[Action]) -> None:
        """Draw exactly these waiting actions, in run order; the cursor stays on its action
        or, when that one left (approved and running, rejected), on the row that took its place."""
        wanted = {action.id: action for action in sorted(actions, key=run_order)}
        drawn = self.order
        kept = [action_id for action_id in drawn if action_id in wanted]
        at, chosen = self.cursor_row, self.selected
        if list(wanted)[: len(kept)] == kept:
            self._patch(wanted, drawn)
        else:
            self._lay_out(wanted)
        self.actions = wanted
        if chosen is not None and chosen.id in wanted:
            at = self.get_row_index(chosen.id)
        if self.row_count:
            self.move_cursor(row=max(0, min(at, self.row_count - 1)), animate=False)

    def _patch(self, wanted: dict[str, Action], drawn: list[str]) -> None:
        for action_id in drawn:
            if action_id not in wanted:
                self.remove_row(action_id)
        for action_id, action in wanted.items():
            if action_id not in self.actions or action_id not in drawn:
                self.add_row(*self._cells(action), key=action_id)
            elif self.actions[action_id] != action:
                update_row(self, action_id, zip(COLUMNS, self._cells(action), strict=True))

    def _lay_out(self, wanted: dict[str, Action]) -> None:
        self.clear()
        for action_id, action in wanted.items():
            self.add_row(*self._cells(action), key=action_id)

    def _theme_changed(self, _theme: object) -> None:
        self.call_after_refresh(lambda: self._lay_out(dict(self.actions)))

    def _cells(self, action: Action) -> list[Text]:
        look = self._style(f"queue-table--{action.state}")
        detail = Text()
        if action.flagged:
            # The reason goes first: a long line must not push it out of sight.
            detail.append_text(plain(f"{FLAG} {action.flagged} \u00b7 ", 80))
            detail.stylize(self._style("queue-table--flag"))
        detail.append_text(plain(action.detail, 200))
        cells = [
            Text(STATE_WORDS.get(action.state, action.state)),
            plain(action.kind, 16),
            plain(action.source, 24),
            detail,
        ]
        for cell in cells:
            cell.stylize_before(look)  # under the flag's own colour
        return cells

    def _style(self, component: str) -> Style:
        if component not in self.COMPONENT_CLASSES:
            return Style()
        return self.get_component_rich_style(component, partial=True, default=Style())
