"""What actions do, until the voice and the stage take over: captions and the expression.

A line is shown as a caption for as long as it takes to read it; an expression is published
at once (the face lane of the queue never waits behind a sentence); a wait waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agent.director.queue import NotAllowed, Perform
from agent.protocol.messages import Action, CaptionShown, Event, ExpressionChanged

READ_CHARS_PER_SECOND = 15.0
MIN_CAPTION_SECONDS = 1.5
MAX_WAIT_SECONDS = 600.0


class Performers:
    """The default ``perform`` table of the action queue."""

    def __init__(self, publish: Callable[[Event], None]) -> None:
        self._publish = publish

    def table(self) -> dict[str, Perform]:
        return {"say": self.say, "expression": self.expression, "wait": self.wait}

    async def say(self, action: Action) -> None:
        self._publish(CaptionShown(text=action.detail))
        await asyncio.sleep(caption_seconds(action.detail))

    async def expression(self, action: Action) -> None:
        self._publish(ExpressionChanged(name=action.detail, source=action.source))

    async def wait(self, action: Action) -> None:
        try:
            seconds = float(action.detail)
        except ValueError:
            raise NotAllowed(f"a wait needs a number of seconds, not {action.detail!r}") from None
        await asyncio.sleep(min(max(seconds, 0.0), MAX_WAIT_SECONDS))


def caption_seconds(text: str) -> float:
    """How long a caption stays up: long enough to read it."""
    return max(MIN_CAPTION_SECONDS, len(text) / READ_CHARS_PER_SECOND)
