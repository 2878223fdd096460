"""The queue's keys, as the base of the dashboard screen: approve, reject, edit, move, skip,
the kill switch, mode, dry run and the approval gate of a source.

They act on the queue panel's selected action whichever view the lower row shows, and go to
the agent as requests; the panel changes when the agent reports the change, never before.
"""

from __future__ import annotations

from textual import on
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from agent.protocol import inert
from agent.protocol.messages import (
    Action,
    ApproveAction,
    DirectorStatus,
    EditAction,
    Interrupt,
    MoveAction,
    RejectAction,
    Request,
    SetApproval,
    SetDryRun,
    SetMode,
    SkipCurrent,
)
from airi_tui.link import AgentLink
from airi_tui.widgets.queue_panel import GATES, MODES, LineEditor, QueuePanel, next_in

MOVE = Binding.Group("Move")
GATE = Binding.Group("Gate")


class QueueControls(Screen[None]):
    """A screen holding an ``AgentLink`` and a ``QueuePanel``, with the queue's keys."""

    BINDINGS = [
        # Priority: the kill switch works even while typing a line. Ctrl+K, never a lone key.
        Binding("ctrl+k", "kill_switch", "KILL", priority=True),
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("i", "edit", "Edit"),
        Binding("less_than_sign,comma", "move_action(-1)", "Earlier", key_display="<", group=MOVE),
        Binding(
            "greater_than_sign,full_stop", "move_action(1)", "Later", key_display=">", group=MOVE
        ),
        Binding("n", "skip_current", "Skip"),
        Binding("m", "cycle_mode", "Mode"),
        Binding("d", "toggle_dry_run", "Dry run"),
        Binding("o", "next_source", "Source", group=GATE),
        Binding("g", "cycle_gate", "Gate", group=GATE),
    ]

    director: reactive[DirectorStatus] = reactive(DirectorStatus)
    """How the director runs, as the agent last reported it."""

    @property
    def link(self) -> AgentLink:
        return self.query_one(AgentLink)

    @property
    def queue(self) -> QueuePanel:
        return self.query_one(QueuePanel)

    def _request(self, request: Request) -> None:
        self.run_worker(self.link.send(request), group="requests")

    def _selected(self, doing: str) -> Action | None:
        """The waiting action the queue keys act on; says so when there is none."""
        action = self.queue.selected
        if action is None:
            self.notify(f"nothing to {doing}: no action waits", timeout=3)
        return action

    def action_approve(self) -> None:
        if action := self._selected("approve"):
            self._request(ApproveAction(action_id=action.id))

    def action_reject(self) -> None:
        if action := self._selected("reject"):
            self._request(RejectAction(action_id=action.id))

    def action_edit(self) -> None:
        """Open the selected line in the editor, prefilled with its text."""
        if (action := self._selected("edit")) is None:
            return
        if action.kind != "say":
            self.notify(f"only lines can be edited; this is a {action.kind}", markup=False)
            return
        self.queue.open_editor(action)

    @on(LineEditor.Edited)
    def _edited(self, event: LineEditor.Edited) -> None:
        self.run_worker(self._edit(event.action_id, event.text), group="requests")

    async def _edit(self, action_id: str, text: str) -> None:
        # On a refusal the editor stays open with the text, to fix it or leave with Esc.
        sent = await self.link.send(EditAction(action_id=action_id, text=text))
        if sent and self.queue.editing == action_id:
            self.queue.close_editor()

    def action_move_action(self, offset: int) -> None:
        """Move the selected action earlier (-1) or later (1) in the queue."""
        if action := self._selected("move"):
            self._request(MoveAction(action_id=action.id, offset=offset))

    def action_skip_current(self) -> None:
        self._request(SkipCurrent())

    def action_kill_switch(self) -> None:
        """Stop speech now and clear every waiting AI action: no confirmation, on purpose."""
        self.run_worker(self._kill(), group="requests")

    async def _kill(self) -> None:
        reply = await self.link.ask(Interrupt())
        if reply is not None:
            self.notify(inert(reply.detail, 200), title="kill switch", markup=False)

    def action_cycle_mode(self) -> None:
        self._request(SetMode(mode=next_in(MODES, self.director.mode)))

    def action_toggle_dry_run(self) -> None:
        self._request(SetDryRun(enabled=not self.director.dry_run))

    def action_next_source(self) -> None:
        self.queue.choose_next_source()

    def action_cycle_gate(self) -> None:
        """Move the chosen source's approval gate on: auto, approve, flagged."""
        source = self.queue.chosen_source
        gate = next_in(GATES, self.director.approval.get(source, "auto"))
        self._request(SetApproval(source=source, gate=gate))
