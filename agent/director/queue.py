"""The action queue: what the AI does next, with a human able to stop any of it.

Every action (a line to say, an expression, a scene switch, a wait...) enters through
``submit``. Its source's approval gate decides whether it waits for an operator (``pending``)
or goes straight into the queue (``queued``). Waiting actions run in the order of
(-priority, order); operators approve, reject, edit, reorder, skip what runs and pull the kill
switch (``interrupt``).

Two lanes, so the face never waits behind a sentence: the *voice* lane runs lines, scene
switches, commands and waits one at a time (a scene switch therefore waits for the current
line); the *face* lane runs expressions and motions the moment they are queued.

Crash safety. Every change goes to the store; the changes that matter are awaited until they
are committed (a commit survives SIGKILL: WAL): an approval before it is acknowledged, the
``running`` mark before an action starts, ``done`` before the next one starts. After a crash,
``restore`` puts every pending, queued and running action back in order; one that was running
runs again (it had not finished), and nothing that finished runs twice.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

from msgspec.structs import replace

from agent.protocol.messages import (
    Action,
    ActionQueued,
    ActionState,
    ActionUpdated,
    ApprovalGate,
    DirectorChanged,
    DirectorStatus,
    Event,
    Mode,
)
from agent.protocol.text import inert
from agent.store import Store, StoreError
from agent.supervisor import ServiceContext

log = logging.getLogger(__name__)

FACE_KINDS = frozenset({"expression", "motion"})
WAITING: frozenset[ActionState] = frozenset({"pending", "queued"})
PRIORITY = {"control": 80, "command": 60, "chat": 40, "idle": 20}
DEFAULT_PRIORITY = 50
MAX_TEXT = 500

Perform = Callable[[Action], Awaitable[None]]


class QueueFull(RuntimeError):
    pass


class UnknownExpression(ValueError):
    pass


class UnknownAction(KeyError):
    def __str__(self) -> str:
        return f"no waiting or running action {self.args[0]!r}"


class NotAllowed(ValueError):
    """The action is not in a state where this can be done to it."""


def gate_key(source: str) -> str:
    """The approval source of an action source: ``ai:reply`` answers chat, so it is ``chat``."""
    kind, _, rest = source.partition(":")
    if kind == "ai":
        return "chat" if rest == "reply" else rest or "chat"
    return kind


class ActionQueue:
    """See the module docstring. ``perform`` maps an action kind to what does it."""

    def __init__(
        self,
        publish: Callable[[Event], None],
        store: Store,
        perform: Mapping[str, Perform],
        *,
        max_size: int = 100,
        gates: Mapping[str, ApprovalGate] | None = None,
        dry_run: bool = False,
        mode: Mode = "llm",
        expressions: list[str] | None = None,
    ) -> None:
        self._publish = publish
        self._store = store
        self.perform = dict(perform)
        self.max_size = max_size
        self.expressions = expressions or []
        self.status = DirectorStatus(mode=mode, dry_run=dry_run, approval=dict(gates or {}))
        self._waiting: dict[str, Action] = {}
        self.current: Action | None = None
        self._current_task: asyncio.Task[None] | None = None
        self._face_tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._orders = itertools.count(1)

    # --- what is in it ------------------------------------------------------------------------

    def listing(self) -> list[Action]:
        """Waiting and running actions, in the order they will run (the running one first)."""
        ordered = sorted(self._waiting.values(), key=_run_order)
        return [self.current, *ordered] if self.current else ordered

    def get(self, action_id: str) -> Action:
        if self.current is not None and self.current.id == action_id:
            return self.current
        try:
            return self._waiting[action_id]
        except KeyError:
            raise UnknownAction(action_id) from None

    # --- in -----------------------------------------------------------------------------------

    def submit(
        self,
        kind: str,
        detail: str,
        source: str,
        *,
        priority: int | None = None,
        flagged: str = "",
        turn: str = "",
    ) -> Action:
        """Add an action; it waits for approval if its source's gate says so."""
        if len(self._waiting) >= self.max_size:
            raise QueueFull(
                f"{self.max_size} actions are already waiting: approve, reject or clear some"
            )
        held = self.holds(source, flagged)
        action = Action(
            id=uuid.uuid4().hex[:16],  # random: two agents started in one second never collide
            kind=kind,
            detail=detail,
            source=source,
            state="pending" if held else "queued",
            ts=time.time(),
            priority=PRIORITY.get(gate_key(source), DEFAULT_PRIORITY)
            if priority is None
            else priority,
            order=float(next(self._orders)),
            flagged=flagged,
            turn=turn,
        )
        self._waiting[action.id] = action
        self._publish(ActionQueued(action=action))
        self._after_change(action)
        return action

    def say(self, text: str, source: str, *, flagged: str = "", turn: str = "") -> Action:
        return self.submit("say", text, source, flagged=flagged, turn=turn)

    def express(self, name: str, source: str, *, turn: str = "") -> Action:
        if name not in self.expressions:
            known = ", ".join(self.expressions)
            raise UnknownExpression(f"unknown expression {inert(name, 40)!r} (known: {known})")
        return self.submit("expression", name, source, turn=turn)

    def holds(self, source: str, flagged: str = "") -> bool:
        """Would an action from ``source`` wait for an operator?"""
        gate = self.status.approval.get(gate_key(source), "auto")
        return gate == "approve" or (gate == "flagged" and bool(flagged))

    def restore(self, actions: list[Action]) -> None:
        """Put back what a crash left waiting or running (before the bus has listeners)."""
        for action in actions:
            if action.state == "running":
                action = replace(action, state="queued", error="ran again after a restart")
            self._waiting[action.id] = action
            self._store.put_action(action)
        top = max((a.order for a in actions), default=0.0)
        self._orders = itertools.count(int(top) + 1)
        self._changed.set()

    # --- operators ------------------------------------------------------------------------------

    def approve(self, action_id: str) -> Action:
        action = self._waiting_action(action_id)
        if action.state != "pending":
            raise NotAllowed(f"{action_id} is already approved")
        return self._update(action, state="queued")

    def reject(self, action_id: str) -> Action:
        action = self._waiting_action(action_id)
        del self._waiting[action_id]
        return self._update(action, state="rejected", keep=False)

    def edit(self, action_id: str, text: str) -> Action:
        action = self._waiting_action(action_id)
        if action.kind != "say":
            raise NotAllowed(f"only lines can be edited; {action_id} is a {action.kind}")
        line = inert(text.strip(), MAX_TEXT)
        if not line:
            raise NotAllowed("the new text is empty")
        return self._update(action, detail=line)

    def move(self, action_id: str, offset: int) -> list[Action]:
        """Swap places with the neighbour ``offset`` steps away (clamped at the ends)."""
        action = self._waiting_action(action_id)
        ordered = sorted(self._waiting.values(), key=_run_order)
        at = ordered.index(action)
        to = max(0, min(len(ordered) - 1, at + offset))
        if to == at:
            raise NotAllowed(f"{action_id} is already at that end of the queue")
        other = ordered[to]
        moved = self._update(action, priority=other.priority, order=other.order)
        swapped = self._update(other, priority=action.priority, order=action.order)
        return [moved, swapped]

    def skip_current(self) -> Action | None:
        """Stop what runs now; the queue goes on with the next action."""
        if self._current_task is None or self._current_task.done():
            return None
        self._current_task.cancel()
        return self.current

    def interrupt(self) -> int:
        """The kill switch: stop the running line and clear every waiting AI action."""
        cleared = 0
        for action in list(self._waiting.values()):
            if action.source.startswith("ai:"):
                del self._waiting[action.id]
                self._update(
                    action, state="skipped", error="cleared by the kill switch", keep=False
                )
                cleared += 1
        if self.skip_current() is not None:
            cleared += 1
        return cleared

    def set_gate(self, source: str, gate: ApprovalGate) -> None:
        self.status.approval[source] = gate
        self._publish(DirectorChanged(status=self.status))

    def set_dry_run(self, enabled: bool) -> None:
        self.status.dry_run = enabled
        self._publish(DirectorChanged(status=self.status))

    def set_mode(self, mode: Mode) -> None:
        self.status.mode = mode
        self._publish(DirectorChanged(status=self.status))

    async def durable(self) -> None:
        """Wait until every change so far is committed (so an acknowledgement means it)."""
        try:
            await self._store.flush()
        except StoreError as exc:  # the store service reports it as degraded and retries
            log.warning("the queue could not be saved right now: %s", exc)

    # --- running --------------------------------------------------------------------------------

    async def run(self, ctx: ServiceContext) -> None:
        """The voice lane: one action at a time, in order."""
        ctx.up("dry run: nothing leaves the box" if self.status.dry_run else "running")
        try:
            while True:
                action = self._next_voice()
                if action is None:
                    self._changed.clear()
                    await self._changed.wait()
                    continue
                await self._run_voice(action)
        finally:
            for task in self._face_tasks:
                task.cancel()

    def _next_voice(self) -> Action | None:
        ready = [a for a in self._waiting.values() if a.state == "queued"]
        return min(ready, key=_run_order, default=None)

    async def _run_voice(self, action: Action) -> None:
        del self._waiting[action.id]
        self.current = await self._settle(replace(action, state="running"))
        self._current_task = asyncio.create_task(self._perform(self.current))
        state, error = "done", ""
        try:
            await asyncio.shield(self._current_task)
        except asyncio.CancelledError:
            if not self._current_task.cancelled():  # the agent is stopping, not a skip
                self._current_task.cancel()
                raise
            state, error = "interrupted", "stopped by an operator"
        except Exception as exc:
            state, error = "failed", str(exc) or type(exc).__name__
        finished, self.current, self._current_task = self.current, None, None
        await self._settle(replace(finished, state=state, error=error))

    async def _settle(self, action: Action) -> Action:
        """Commit a change, then tell everyone: whoever saw ``done`` can count on it."""
        self._store.put_action(action)
        await self.durable()
        self._publish(ActionUpdated(action=action))
        self._changed.set()
        return action

    def _run_face(self, action: Action) -> None:
        del self._waiting[action.id]
        running = self._update(action, state="running", keep=False)
        task = asyncio.create_task(self._finish_face(running))
        self._face_tasks.add(task)
        task.add_done_callback(self._face_tasks.discard)

    async def _finish_face(self, action: Action) -> None:
        try:
            await self._perform(action)
        except Exception as exc:
            self._update(action, state="failed", error=str(exc), keep=False)
        else:
            self._update(action, state="done", keep=False)

    async def _perform(self, action: Action) -> None:
        if self.status.dry_run:
            return
        perform = self.perform.get(action.kind)
        if perform is None:
            raise NotAllowed(f"nothing here can do a {action.kind} yet")
        await perform(action)

    # --- bookkeeping ------------------------------------------------------------------------------

    def _waiting_action(self, action_id: str) -> Action:
        try:
            return self._waiting[action_id]
        except KeyError:
            if self.current is not None and self.current.id == action_id:
                raise NotAllowed(f"{action_id} is running: skip it instead") from None
            raise UnknownAction(action_id) from None

    def _update(self, action: Action, *, keep: bool = True, **changes: object) -> Action:
        updated = replace(action, **changes)
        if keep:
            self._waiting[updated.id] = updated
        self._publish(ActionUpdated(action=updated))
        self._after_change(updated)
        return updated

    def _after_change(self, action: Action) -> None:
        if action.state == "queued" and action.kind in FACE_KINDS and action.id in self._waiting:
            self._run_face(action)
        self._changed.set()


def _run_order(action: Action) -> tuple[int, float]:
    return (-action.priority, action.order)
