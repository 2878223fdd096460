"""When the AI talks on its own: idle talk, timed segments, and stream milestones.

The scheduler never speaks itself: it offers inputs (kind ``idle``, ``segment``,
``milestone``) to the router like any other source, so the policy, expiry and the control
room's counts apply to them too. Its budget is the show's: ``tick(busy=True)`` (an AI line is
running or waiting) offers nothing, so the AI never queues its own talk over itself; a segment
that falls due meanwhile waits for the next free moment rather than being lost, and only one
thing of its own is offered per free moment.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from agent.director.inputs import PRIORITY, Input
from agent.director.persona import Persona

#: Counts this stream that are worth celebrating, per counted kind.
MILESTONES: dict[str, tuple[int, ...]] = {
    "follow": (10, 25, 50, 100, 250, 500, 1000),
    "sub": (5, 10, 25, 50, 100, 250),
    "cheer": (1000, 5000, 10000, 50000),
}
_COUNTED = {"follow": "follow", "sub": "sub", "gift": "sub", "cheer": "cheer"}
_WHAT = {"follow": "new followers", "sub": "subs", "cheer": "bits"}


class Scheduler:
    """See the module docstring. ``offer`` is the router's; ``idle_after`` 0: no idle talk."""

    def __init__(
        self,
        persona: Persona,
        offer: Callable[[Input], bool],
        *,
        idle_after: float,
        clock: Callable[[], float] = time.monotonic,
        milestones: Mapping[str, Sequence[int]] = MILESTONES,
    ) -> None:
        self._offer = offer
        self.idle_after = idle_after
        self._clock = clock
        self._milestones = milestones
        start = clock()
        self._last_activity = start
        self._segments = list(persona.segments)
        self._due = {s.name: start + s.every * 60 for s in self._segments}
        self._counts: Counter[str] = Counter()

    def activity(self) -> None:
        """Someone talked (a viewer, the streamer, the AI): the silence starts again."""
        self._last_activity = self._clock()

    def quiet_for(self) -> float:
        return self._clock() - self._last_activity

    def tick(self, *, busy: bool) -> Input | None:
        """Offer at most one thing of the AI's own, unless it is ``busy`` talking already."""
        if busy:
            return None
        now = self._clock()
        item = self._due_segment(now) or self._idle(now)
        if item is not None:
            self._offer(item)
        return item

    def count(self, item: Input) -> Input | None:
        """A stream event happened: offer a milestone when this stream's count reaches one."""
        counted = _COUNTED.get(item.kind)
        if counted is None:
            return None
        before = self._counts[counted]
        step = item.amount if counted == "cheer" or item.kind == "gift" else 1
        self._counts[counted] = after = before + max(step, 1)
        reached = [m for m in self._milestones.get(counted, ()) if before < m <= after]
        if not reached:
            return None
        now = self._clock()
        milestone = Input(
            source="scheduler",
            kind="milestone",
            author=item.author,
            text=f"{reached[-1]} {_WHAT[counted]} this stream",
            amount=reached[-1],
            priority=PRIORITY["milestone"],
            ts=now,
        )
        self._offer(milestone)
        return milestone

    def _due_segment(self, now: float) -> Input | None:
        due = [s for s in self._segments if self._due[s.name] <= now]
        if not due:
            return None
        segment = min(due, key=lambda s: self._due[s.name])
        self._due[segment.name] = now + segment.every * 60  # a late one does not run twice
        return Input(
            source="scheduler",
            kind="segment",
            text=segment.prompt,
            detail=segment.name,
            priority=PRIORITY["segment"],
            ts=now,
            expires_at=now + segment.every * 30,
        )

    def _idle(self, now: float) -> Input | None:
        if not self.idle_after or now - self._last_activity < self.idle_after:
            return None
        self._last_activity = now  # the next idle line comes after another full silence
        return Input(
            source="scheduler",
            kind="idle",
            priority=PRIORITY["idle"],
            ts=now,
            expires_at=now + self.idle_after / 2,
        )
