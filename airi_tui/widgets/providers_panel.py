"""The LLM providers: one row each, with its state, speed, errors and spend, in the order tried.

Rows follow the ``reply`` chain (the order the agent tries them for a reply), then the
providers no reply goes to, in configuration order. The agent's reports update rows in place;
only a new order (``ChainsChanged``, a snapshot with other providers) lays the rows out again,
which happens when someone moves a provider, not per request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from agent.protocol import inert
from agent.protocol.messages import ProviderStatus
from airi_tui.display import plain, sparkline

STATES = ("up", "degraded", "open", "disabled", "misconfigured", "idle")
STATE_WORDS = {
    "up": "\u25cf up",
    "degraded": "\u25d1 degraded",
    "open": "\u2716 breaker open",
    "disabled": "\u25cb disabled",
    "misconfigured": "\u2298 misconfigured",
    "idle": "\u25cc idle",
}
"""A symbol and a word per state: readable without colour."""
COLUMNS = ("state", "provider", "model", "ttft p50/p95", "recent", "tok/s", "err%", "req",
           "spend", "last error")  # fmt: skip
REPLY = "reply"
AUTONOMOUS_PRESET = "autonomous"
NONE = "\u2014"
ARROW = " \u2192 "
HOW_TO = (
    "No LLM provider is configured: the autonomous persona answers alone. Add one as "
    "[providers.NAME] in config.toml (e.g. [providers.groq]); `airi providers list` shows the "
    "names airi knows and whether their keys are set."
)


def seconds(value: float | None) -> str:
    """A duration from the wire, short: ``212ms``, ``1.4s``; a dash when there is none."""
    if value is None or not math.isfinite(value) or value < 0:
        return NONE
    if value < 1:
        return f"{value * 1000:.0f}ms"
    return f"{value:.1f}s" if value < 100 else ">99s"


def spend(status: ProviderStatus) -> str:
    """US dollars this session: ``free`` for a local model, a dash when the price is unknown."""
    if status.local:
        return "free"
    value = status.spend
    if value is None or not math.isfinite(value):
        return NONE
    return f"${value:.4f}" if abs(value) < 1e6 else f"${value:.3g}"


def error_rate(status: ProviderStatus) -> str:
    if status.requests <= 0:
        return NONE
    return f"{status.failures / status.requests:.0%}"


def rate(value: float | None) -> str:
    if value is None or not math.isfinite(value) or value < 0:
        return NONE
    return f"{value:.0f}" if value < 1e6 else f"{value:.2g}"


def chain_line(chains: Mapping[str, list[str]]) -> Text:
    """The reply chain first (``reply: groq → openai → autonomous``), then other roles whose
    order differs from it; roles that use the reply order are not repeated."""
    reply = chains.get(REPLY)
    parts = [f"{REPLY}: {_chain(reply)}"]
    parts += [
        f"{inert(role, 20)}: {_chain(names)}"
        for role, names in chains.items()
        if role != REPLY and names != reply
    ]
    return plain("   \u00b7   ".join(parts), 1000)


def _chain(names: list[str] | None) -> str:
    return ARROW.join(inert(name, 32) for name in names) if names else "(none)"


def row_order(providers: Iterable[str], chains: Mapping[str, list[str]]) -> list[str]:
    """Providers in the order a reply tries them, then the rest in their given order."""
    known = list(providers)
    tried = [name for name in dict.fromkeys(chains.get(REPLY, [])) if name in known]
    return tried + [name for name in known if name not in tried]


class ProvidersTable(DataTable[Text]):
    """One row per provider, keyed by its name; the cursor row is the selected provider."""

    COMPONENT_CLASSES = {f"providers-table--{state}" for state in STATES}

    def __init__(self) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True)
        self.statuses: dict[str, ProviderStatus] = {}

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column, key=column)
        # State colours are baked into cells, so a new theme means new cells.
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    @property
    def selected(self) -> ProviderStatus | None:
        """The provider under the cursor, as last reported."""
        if not self.statuses or not self.is_valid_row_index(self.cursor_row):
            return None
        key = self.coordinate_to_cell_key(Coordinate(self.cursor_row, 0)).row_key.value
        return self.statuses.get(key) if key is not None else None

    def update_row(self, status: ProviderStatus) -> None:
        """Redraw a known provider's cells in place."""
        if self.statuses.get(status.name) == status:
            return
        self.statuses[status.name] = status
        for column, cell in zip(COLUMNS, self._cells(status), strict=True):
            self.update_cell(status.name, column, cell, update_width=True)

    def lay_out(self, statuses: Iterable[ProviderStatus], order: list[str]) -> None:
        """Draw exactly these providers in ``order``; the cursor stays on its provider."""
        chosen = self.selected
        self.clear()
        self.statuses = {status.name: status for status in statuses}
        for name in order:
            self.add_row(*self._cells(self.statuses[name]), key=name)
        if chosen is not None and chosen.name in self.statuses:
            self.move_cursor(row=self.get_row_index(chosen.name), animate=False)

    @property
    def order(self) -> list[str]:
        """Provider names in the order the rows are drawn."""
        return [str(row.key.value) for row in self.ordered_rows]

    def _theme_changed(self, _theme: object) -> None:
        self.call_after_refresh(lambda: self.lay_out(list(self.statuses.values()), self.order))

    def _cells(self, status: ProviderStatus) -> list[Text]:
        return [
            Text(STATE_WORDS.get(status.state, f"? {status.state}"), style=self._style(status)),
            plain(status.name, 24),
            plain(status.model, 28),
            Text(f"{seconds(status.ttft_p50)}/{seconds(status.ttft_p95)}"),
            Text(sparkline(status.recent_ttft[-12:]) or NONE),
            Text(rate(status.tokens_per_second), justify="right"),
            Text(error_rate(status), justify="right"),
            Text(str(status.requests), justify="right"),
            Text(spend(status), justify="right"),
            plain(status.last_error, 24),
        ]

    def _style(self, status: ProviderStatus) -> Style:
        component = f"providers-table--{status.state}"
        if component not in self.COMPONENT_CLASSES:
            return Style()
        return self.get_component_rich_style(component, partial=True, default=Style())


class ProvidersPanel(Vertical):
    """The providers and their chains, as the snapshot and provider events report them.

    The panel carries ``-none`` while it lists no provider at all, and ``-unconfigured`` while
    nothing but the built-in autonomous persona is there: the stylesheet then shows how to add
    a provider.
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.chains: dict[str, list[str]] = {}
        self.border_title = Content("providers")

    def compose(self) -> ComposeResult:
        yield Static(markup=False, id="provider-chains")
        yield ProvidersTable()
        yield Static(markup=False, id="provider-detail")
        yield Static(Text(HOW_TO), markup=False, id="providers-how-to")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_selected()

    def _show_selected(self) -> None:
        # The last error in full width: on a narrow terminal its column is scrolled off.
        status = self.selected
        line = Text()
        if status is not None:
            error = f"last error: {status.last_error}" if status.last_error else "no error"
            line = plain(f"{status.name} \u00b7 {error}", 300)
        self.query_one("#provider-detail", Static).update(line)

    @property
    def table(self) -> ProvidersTable:
        return self.query_one(ProvidersTable)

    @property
    def selected(self) -> ProviderStatus | None:
        return self.table.selected

    def reset(self, statuses: Iterable[ProviderStatus], chains: Mapping[str, list[str]]) -> None:
        """Show exactly these providers and chains, as after attaching or a gap."""
        statuses = list(statuses)
        table = self.table
        self.chains = dict(chains)
        order = row_order((status.name for status in statuses), self.chains)
        if order == table.order:
            for status in statuses:
                table.update_row(status)
        else:
            table.lay_out(statuses, order)
        self._show_chains()

    def upsert(self, statuses: Iterable[ProviderStatus]) -> None:
        """Update known providers in place; a new one is laid out with the rest."""
        statuses = list(statuses)
        if not statuses:
            return  # most batches carry no provider report: leave the widgets alone
        table = self.table
        fresh = []
        for status in statuses:
            if status.name in table.statuses:
                table.update_row(status)
            else:
                fresh.append(status)
        if fresh:
            known = [*table.statuses.values(), *fresh]
            table.lay_out(known, row_order((status.name for status in known), self.chains))
            self._show_chains()
        self._show_selected()

    def set_chains(self, chains: Mapping[str, list[str]]) -> None:
        """A new order: the rows follow the reply chain."""
        self.chains = dict(chains)
        table = self.table
        order = row_order(table.statuses, self.chains)
        if order != table.order:
            table.lay_out(list(table.statuses.values()), order)
        self._show_chains()

    def _show_chains(self) -> None:
        statuses = self.table.statuses.values()
        self.query_one("#provider-chains", Static).update(chain_line(self.chains))
        self.set_class(not statuses, "-none")
        configured = any(status.preset != AUTONOMOUS_PRESET for status in statuses)
        self.set_class(not configured, "-unconfigured")
        self._show_selected()
