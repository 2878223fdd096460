"""What the AI did: one row per action, newest at the bottom (the queue panel's history)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

from agent.protocol.messages import Action
from airi_tui.display import clock, plain
from airi_tui.widgets.cells import update_row

# The free-length detail goes last, so time, state and kind stay visible in a narrow pane.
COLUMNS = ("time", "state", "kind", "source", "detail")
STATES = ("pending", "queued", "running", "done", "failed", "skipped", "rejected", "interrupted")


class ActionTable(DataTable[Text]):
    """The action list, bounded to ``MAX_ROWS`` (the oldest rows go first)."""

    COMPONENT_CLASSES = {f"action-table--{state}" for state in STATES}
    MAX_ROWS = 200

    def __init__(self, *, id: str | None = None) -> None:
        # No cursor: what ran cannot be acted on (the queue table above has the keys).
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self._actions: OrderedDict[str, Action] = OrderedDict()

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column, key=column)
        # State colours are baked into cells, so a new theme means new cells.
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def upsert(self, actions: Iterable[Action]) -> None:
        """Add new actions and update known ones in place."""
        at_end = self.is_vertical_scroll_end
        # Of a flood, only the rows that will stay are drawn: no row is added to be trimmed.
        for action in list(actions)[-self.MAX_ROWS :]:
            self._upsert_one(action)
        self._trim()
        if at_end:
            # After the next refresh: new rows count towards the height only from then on.
            self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)

    def reset(self, actions: Iterable[Action]) -> None:
        """Show exactly these actions, as after attaching."""
        self.clear()
        self._actions.clear()
        self.upsert(actions)

    def redraw(self) -> None:
        """Draw every row again from the actions kept (after a theme change)."""
        self.reset(list(self._actions.values()))

    def _theme_changed(self, _theme: object) -> None:
        self.call_after_refresh(self.redraw)

    def _upsert_one(self, action: Action) -> None:
        cells = self._cells(action)
        if action.id in self._actions:
            update_row(self, action.id, zip(COLUMNS, cells, strict=True))
        else:
            self.add_row(*cells, key=action.id)
        self._actions[action.id] = action

    def _trim(self) -> None:
        while len(self._actions) > self.MAX_ROWS:
            action_id, _ = self._actions.popitem(last=False)
            self.remove_row(action_id)

    def _cells(self, action: Action) -> list[Text]:
        detail = plain(action.detail, 80)
        if action.error:
            detail.append_text(plain(f" ({action.error})", 80))
        state = Text(action.state, style=self._state_style(action.state))
        kind, source = plain(action.kind, 16), plain(action.source, 24)
        return [Text(clock(action.ts)), state, kind, source, detail]

    def _state_style(self, state: str) -> Style:
        component = f"action-table--{state}"
        return self.get_component_rich_style(component, partial=True, default=Style())
