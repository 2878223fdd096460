"""Health of the agent's parts: one row per service or provider, sorted by name."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from agent.protocol import inert
from agent.protocol.messages import ServiceHealth

STATE_MARKS = {
    "up": "\u25cf",
    "starting": "\u25d4",
    "degraded": "\u25d1",
    "down": "\u2716",
    "off": "\u25cb",
}


class HealthRow(Vertical):
    """One part's name, state and restarts, with its detail below.

    The state is a class (``-up``, ``-down``, ``-off`` ...) so the stylesheet colours it; an
    ``off`` part's detail says how to configure it.
    """

    def __init__(self, health: ServiceHealth) -> None:
        super().__init__(classes=f"health-row -{health.state}")
        self.health = health

    def compose(self) -> ComposeResult:
        yield Static(markup=False, classes="health-head")
        yield Static(markup=False, classes="health-detail")

    def on_mount(self) -> None:
        self._draw(self.health)

    def show(self, health: ServiceHealth) -> None:
        """Draw ``health`` (a newer report for the same part)."""
        self.remove_class(f"-{self.health.state}")
        self.health = health
        self.add_class(f"-{health.state}")
        if self.is_mounted:
            self._draw(health)

    def _draw(self, health: ServiceHealth) -> None:
        self.query_one(".health-head", Static).update(self._head(health))
        self.query_one(".health-detail", Static).update(Text(inert(health.detail)))
        self.set_class(not health.detail, "-no-detail")

    @staticmethod
    def _head(health: ServiceHealth) -> Text:
        mark = STATE_MARKS.get(health.state, "?")
        head = Text(f"{mark} {inert(health.name, 24)} {health.state}")
        if health.restarts:
            head.append(f" \u21bb{health.restarts}")
        return head


class HealthPanel(VerticalScroll):
    """Every part's health, as the snapshot and ``HealthChanged`` events report it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, HealthRow] = {}
        self.border_title = Content("health")

    def upsert(self, healths: Iterable[ServiceHealth]) -> None:
        """Update known parts in place and add new ones in name order."""
        for health in healths:
            row = self._rows.get(health.name)
            if row is not None:
                row.show(health)
            else:
                self._add(health)

    def reset(self, healths: Iterable[ServiceHealth]) -> None:
        """Show exactly these parts, as after attaching (rows of known parts are reused)."""
        healths = list(healths)
        current = {health.name for health in healths}
        for name in [name for name in self._rows if name not in current]:
            self._rows.pop(name).remove()
        self.upsert(healths)

    def _add(self, health: ServiceHealth) -> None:
        names = sorted(self._rows)
        row = HealthRow(health)
        index = bisect.bisect(names, health.name)
        self._rows[health.name] = row
        if index < len(names):
            self.mount(row, before=self._rows[names[index]])
        else:
            self.mount(row)
