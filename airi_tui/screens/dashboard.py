"""The dashboard: everything one agent is doing, and the controls to steer it.

The screen owns the agent's scalar state as reactives and binds them into its widgets; the
link's batches are folded here, once per batch, into the widgets' batch methods. While the
link is down the screen carries the ``-stale`` class: the stylesheet greys the last state.

The queue panel is the centre: its keys (approve, reject, edit, move, skip, the kill switch,
mode, dry run, approval gates) come from the ``QueueControls`` base and act on the selected
waiting action in either view. The lower row
shows one of two views, switched with ``v``: the overview (health, pad, log) or the LLM
providers, whose keys act on the selected provider while that view is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Footer, Input

from agent.protocol import Backoff, Endpoint, inert
from agent.protocol.messages import (
    Action,
    ActionQueued,
    ActionUpdated,
    AgentStopping,
    CaptionShown,
    ChainsChanged,
    ChatMessage,
    ChatReceived,
    ClientsChanged,
    DirectorChanged,
    Event,
    ExpressionChanged,
    Gap,
    HealthChanged,
    LogLine,
    LogRecorded,
    MoveProvider,
    PadButton,
    ProbeProvider,
    ProviderChanged,
    ProviderStatus,
    Say,
    ServiceHealth,
    SetProviderEnabled,
    Snapshot,
    TriggerExpression,
)
from airi_tui.link import AgentLink
from airi_tui.messages import EventsArrived, LinkAttached, LinkDetached
from airi_tui.screens.queue_controls import QueueControls
from airi_tui.widgets.chat_view import ChatView
from airi_tui.widgets.expression_pad import ExpressionPad
from airi_tui.widgets.health_panel import HealthPanel
from airi_tui.widgets.log_view import LogView
from airi_tui.widgets.providers_panel import ProvidersPanel, ProvidersTable
from airi_tui.widgets.queue_panel import QueuePanel
from airi_tui.widgets.queue_table import QueueTable
from airi_tui.widgets.say_box import SayBox
from airi_tui.widgets.status_bar import LinkState, StatusBar

FATAL_HINT = "not retrying: fix this, then start the control room again"
DEMO_SERVICE = "demo_chat"
"""The service name under which the agent reports its simulated chat."""
PROBE_TIMEOUT = 30.0
"""A probe waits on a remote model: give it longer than an ordinary request."""

View = Literal["overview", "providers"]
PROVIDER_ACTIONS = {"toggle_provider", "probe_provider", "move_provider"}
VIEW_ONLY_ACTIONS = {
    "overview": {"show_providers", "clear_log"},
    "providers": {"show_overview", *PROVIDER_ACTIONS},
}
"""Actions that only make sense while their view is on screen (the others hide them)."""


@dataclass
class _Lines:
    """What one batch changed, applied in one go after the batch is folded: chat and log
    lines, and the latest report of each action, provider and of the chains."""

    chat: list[ChatMessage] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    actions: dict[str, Action] = field(default_factory=dict)
    """By id, in the order of each action's latest report."""
    providers: dict[str, ProviderStatus] = field(default_factory=dict)
    chains: dict[str, list[str]] | None = None

    def clear(self) -> None:
        """Forget what a fresh snapshot already holds."""
        self.chat.clear()
        self.logs.clear()
        self.actions.clear()
        self.providers.clear()
        self.chains = None


class DashboardScreen(QueueControls):
    """The control room for the agent at ``endpoint``."""

    # The queue has the keys: arrows pick an action; the pad's hotkeys work from there too.
    AUTO_FOCUS = "QueueTable"
    BINDINGS = [
        Binding("s,slash", "focus_say", "Say"),
        Binding("escape", "leave_input", "Leave input", show=False),
        Binding("ctrl+l", "clear_log", "Clear log", show=False),
        Binding("v", "show_providers", "Providers"),
        Binding("v", "show_overview", "Health \u00b7 log"),
        Binding("e", "toggle_provider", "On/off"),
        Binding("p", "probe_provider", "Probe"),
        Binding("left_square_bracket", "move_provider(-1)", "Move up", key_display="["),
        Binding("right_square_bracket", "move_provider(1)", "Move down", key_display="]"),
    ]

    agent: reactive[str] = reactive("")
    link_state: reactive[LinkState] = reactive[LinkState]("attaching")
    link_detail: reactive[str] = reactive("")
    clients: reactive[int] = reactive(0)
    seq: reactive[int] = reactive(0)
    expression: reactive[str] = reactive("")
    caption: reactive[str] = reactive("")
    view: reactive[View] = reactive[View]("overview", init=False)

    def __init__(self, endpoint: Endpoint, backoff: Backoff | None = None) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.backoff = backoff
        self._pad_keys: list[str] = []
        self._stopped_because = ""

    def compose(self) -> ComposeResult:
        yield AgentLink(self.endpoint, self.backoff)
        yield StatusBar(id="status").data_bind(
            DashboardScreen.agent,
            DashboardScreen.link_state,
            DashboardScreen.link_detail,
            DashboardScreen.clients,
            DashboardScreen.seq,
            DashboardScreen.director,
            endpoint=self.endpoint.describe(),
        )
        with Horizontal(id="upper"):
            yield ChatView(id="chat")
            with Vertical(id="stage"):
                yield QueuePanel(id="queue").data_bind(DashboardScreen.director)
                yield SayBox(id="say").data_bind(DashboardScreen.caption)
        with ContentSwitcher(id="lower", initial="overview"):
            with Horizontal(id="overview"):
                yield HealthPanel(id="health")
                yield ExpressionPad(id="pad").data_bind(active=DashboardScreen.expression)
                yield LogView(id="log")
            yield ProvidersPanel(id="providers")
        yield Footer(show_command_palette=False)

    # --- the link -----------------------------------------------------------------------------

    def on_link_attached(self, message: LinkAttached) -> None:
        self.remove_class("-stale")
        self.link_state = "attached"
        self.link_detail = ""
        self._stopped_because = ""
        self.redraw(message.welcome.snapshot)

    def on_link_detached(self, message: LinkDetached) -> None:
        self.add_class("-stale")
        if message.fatal:
            self.link_state = "fatal"
            self.link_detail = f"{message.reason} \u00b7 {FATAL_HINT}"
            self.notify(
                self.link_detail,
                title="cannot attach",
                severity="error",
                timeout=3600,
                markup=False,
            )
            return
        if self.link_state == "stopping":
            self._stopped_because = self.link_detail
        reason = message.reason
        if self._stopped_because:
            # Keep saying why the agent went away while the retries fail for other reasons.
            reason = f"the agent stopped ({self._stopped_because}); {reason}"
        self.link_state = "detached"
        self.link_detail = f"{reason} \u00b7 retrying in {message.retry_in:.1f} s"

    def on_events_arrived(self, message: EventsArrived) -> None:
        lines = _Lines()
        for event in message.events:
            self._fold(event, lines)
        self.query_one(ChatView).show(lines.chat)
        self.query_one(LogView).show(lines.logs)
        if lines.actions:
            self.query_one(QueuePanel).upsert(lines.actions.values())
        providers = self.query_one(ProvidersPanel)
        if lines.chains is not None:
            providers.set_chains(lines.chains)
        providers.upsert(lines.providers.values())
        self.seq = max(self.seq, *(event.seq for event in message.events))

    def _fold(self, event: Event, lines: _Lines) -> None:
        match event:
            case ChatReceived(message=chat):
                lines.chat.append(chat)
            case LogRecorded(line=line):
                lines.logs.append(line)
            case ActionQueued(action=action) | ActionUpdated(action=action):
                lines.actions.pop(action.id, None)
                lines.actions[action.id] = action
            case DirectorChanged(status=status):
                self.director = status
            case HealthChanged(health=health):
                self.query_one(HealthPanel).upsert([health])
                self._note_demo_chat([health])
            case ExpressionChanged(name=name):
                self.expression = name
            case CaptionShown(text=text):
                self.caption = text
            case ClientsChanged(count=count):
                self.clients = count
            case ProviderChanged(status=status):
                lines.providers[status.name] = status
            case ChainsChanged(chains=chains):
                lines.chains = chains
            case AgentStopping(reason=reason):
                self.link_state = "stopping"
                self.link_detail = inert(reason)
            case Gap(snapshot=snapshot):
                # What was gathered before the gap is in the fresh snapshot already.
                lines.clear()
                self.redraw(snapshot)

    def redraw(self, snapshot: Snapshot) -> None:
        """Draw everything from a whole-state snapshot (after attaching, or a gap)."""
        self.query_one(ChatView).reset(snapshot.chat)
        self.query_one(LogView).reset(snapshot.logs)
        self.query_one(QueuePanel).reset(snapshot.queue, snapshot.actions)
        self.director = snapshot.director
        self.query_one(HealthPanel).reset(snapshot.health)
        self.query_one(ProvidersPanel).reset(snapshot.providers, snapshot.chains)
        self._note_demo_chat(snapshot.health)
        self.query_one(ExpressionPad).set_buttons(snapshot.pad)
        self._bind_pad_keys(snapshot.pad)
        self.agent = f"{snapshot.agent_name} {snapshot.agent_version}"
        self.expression = snapshot.expression
        self.caption = snapshot.caption
        self.clients = snapshot.clients
        self.seq = snapshot.seq

    def _note_demo_chat(self, healths: list[ServiceHealth]) -> None:
        # Say "demo" from the moment the simulated chat runs, not only from its first line.
        if any(h.name == DEMO_SERVICE and h.state in ("starting", "up") for h in healths):
            self.query_one(ChatView).demo = True

    # --- the pad and the say box ----------------------------------------------------------------

    def _bind_pad_keys(self, pad: list[PadButton]) -> None:
        # The hotkeys come from the agent's config, so they are bound when a snapshot says
        # what they are. Textual has no public API to rebind a screen at run time; this is
        # the one place that edits the screen's own binding map.
        bindings = self._bindings.key_to_bindings
        for key in self._pad_keys:
            bindings.pop(key, None)
        self._pad_keys = []
        taken = set(bindings) | set(self.app._bindings.key_to_bindings)
        for index, button in enumerate(pad):
            key = button.key
            if key in taken or not key or "," in key or key.strip() != key:
                self.notify(
                    f"pad key {key!r} ({button.expression}) is taken by the control room or "
                    "not a key name: choose another in [pad] hotkeys of the agent's config",
                    severity="warning",
                    markup=False,
                )
                continue
            self._bindings.bind(key, f"fire_pad({index})", show=False)
            self._pad_keys.append(key)
            taken.add(key)
        self.refresh_bindings()

    def action_fire_pad(self, index: int) -> None:
        """Ask for the expression of the pad's ``index``-th button."""
        pad = self.query_one(ExpressionPad).pad
        if 0 <= index < len(pad):
            self._trigger(pad[index].expression)

    @on(ExpressionPad.Fired)
    def _pad_fired(self, event: ExpressionPad.Fired) -> None:
        self._trigger(event.expression)

    def _trigger(self, expression: str) -> None:
        self.run_worker(self.link.send(TriggerExpression(name=expression)), group="requests")

    @on(SayBox.Said)
    def _said(self, event: SayBox.Said) -> None:
        self.run_worker(self._say(event.text), group="requests")

    async def _say(self, text: str) -> None:
        if await self.link.send(Say(text=text)):
            self.query_one(SayBox).sent(text)

    # --- the providers --------------------------------------------------------------------------

    def action_toggle_provider(self) -> None:
        """Switch the selected provider off, or on again; the row flips when the agent says."""
        if status := self.query_one(ProvidersPanel).selected:
            request = SetProviderEnabled(name=status.name, enabled=not status.enabled)
            self.run_worker(self.link.send(request), group="requests")

    def action_probe_provider(self) -> None:
        if status := self.query_one(ProvidersPanel).selected:
            self.run_worker(self._probe(status.name), group="requests")

    async def _probe(self, name: str) -> None:
        shown = inert(name, 40)
        self.notify(f"probing {shown}\u2026", timeout=2, markup=False)
        reply = await self.link.ask(ProbeProvider(name=name), PROBE_TIMEOUT)
        if reply is not None:
            detail = inert(reply.detail, 200) or "answered"
            self.notify(detail, title=f"probe {shown}", markup=False)

    def action_move_provider(self, offset: int) -> None:
        """Move the selected provider up (-1) or down (1) every chain it is in."""
        if status := self.query_one(ProvidersPanel).selected:
            request = MoveProvider(name=status.name, offset=offset)
            self.run_worker(self.link.send(request), group="requests")

    # --- keys -------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Two views share the lower row: keys for the hidden one are off and out of the footer.
        other: View = "providers" if self.view == "overview" else "overview"
        return action not in VIEW_ONLY_ACTIONS[other]

    def action_show_providers(self) -> None:
        self.view = "providers"

    def action_show_overview(self) -> None:
        self.view = "overview"

    def watch_view(self, view: View) -> None:
        self.query_one(ContentSwitcher).current = view
        if view == "providers":
            self.query_one(ProvidersTable).focus()
        elif self.focused is not None and self.query_one(ProvidersPanel) in self.focused.ancestors:
            self.query_one(QueueTable).focus()
        self.refresh_bindings()

    def action_focus_say(self) -> None:
        self.query_one("#say-input", Input).focus()

    def action_leave_input(self) -> None:
        # Back to the view's table: arrows pick a provider, or an action in the queue.
        table = ProvidersTable if self.view == "providers" else QueueTable
        self.query_one(table).focus()

    def action_clear_log(self) -> None:
        self.query_one(LogView).clear()
