"""Actions the AI performs, in order: lines to say, expressions to show.

For now a line is shown as a caption for as long as it takes to read it; speech engines and
the full approval queue build on this later. Expressions apply at once: a pad press must
change the face without waiting behind a sentence.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from msgspec.structs import replace

from agent.protocol.messages import (
    Action,
    ActionQueued,
    ActionState,
    ActionUpdated,
    CaptionShown,
    Event,
    ExpressionChanged,
)
from agent.protocol.text import inert
from agent.supervisor import ServiceContext

READ_CHARS_PER_SECOND = 15.0
MIN_CAPTION_SECONDS = 1.5


MAX_WAITING_LINES = 50


class UnknownExpression(ValueError):
    pass


class QueueFull(RuntimeError):
    pass


class ActionRunner:
    def __init__(self, publish: Callable[[Event], None], expressions: list[str]) -> None:
        self.publish = publish
        self.expressions = expressions
        self._lines: asyncio.Queue[Action] = asyncio.Queue()

    def _new(self, kind: str, detail: str, source: str) -> Action:
        # Random ids: two agents started within the same second must never collide.
        return Action(uuid.uuid4().hex[:16], kind, detail, source, state="queued", ts=time.time())

    def say(self, text: str, source: str) -> Action:
        """Queue a line; it is captioned when the lines before it are done."""
        if self._lines.qsize() >= MAX_WAITING_LINES:
            raise QueueFull(
                f"{MAX_WAITING_LINES} lines are already waiting to be said: try again shortly"
            )
        action = self._new("say", text, source)
        self.publish(ActionQueued(action=action))
        self._lines.put_nowait(action)
        return action

    def express(self, name: str, source: str) -> Action:
        """Show an expression now."""
        if name not in self.expressions:
            known = ", ".join(self.expressions)
            raise UnknownExpression(f"unknown expression {inert(name, 40)!r} (known: {known})")
        action = self._new("expression", name, source)
        self.publish(ActionQueued(action=action))
        self.publish(ExpressionChanged(name=name, source=source))
        self._finish(action, "done")
        return action

    def _finish(self, action: Action, state: ActionState, error: str = "") -> None:
        self.publish(ActionUpdated(action=replace(action, state=state, error=error)))

    async def run(self, ctx: ServiceContext) -> None:
        """Perform queued lines one after another."""
        ctx.up("captions only (no voice configured)")
        while True:
            action = await self._lines.get()
            self.publish(ActionUpdated(action=replace(action, state="running")))
            self.publish(CaptionShown(text=action.detail))
            try:
                await asyncio.sleep(caption_seconds(action.detail))
            except asyncio.CancelledError:
                self._finish(action, "skipped", "the agent stopped")
                raise
            self._finish(action, "done")


def caption_seconds(text: str) -> float:
    """How long a caption stays up: long enough to read it."""
    return max(MIN_CAPTION_SECONDS, len(text) / READ_CHARS_PER_SECOND)
