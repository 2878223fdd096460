"""A demo chat: simulated viewers, so the control room is alive before Twitch is set up.

Every message it makes is marked ``demo`` and comes from the ``demo`` platform, so nothing
can mistake it for a real viewer. The rate varies like a real chat: a Poisson stream around the
configured average, with an occasional burst when "everyone" reacts at once.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable

from agent.protocol.messages import ChatMessage
from agent.supervisor import ServiceContext

VIEWERS: list[tuple[str, list[str]]] = [
    ("pixelfox", ["subscriber"]),
    ("kumo_mod", ["moderator"]),
    ("lurker_42", []),
    ("tea_enjoyer", ["vip"]),
    ("nightowl", ["subscriber"]),
    ("first_timer", []),
    ("speedrunner_ai", []),
    ("mochi", ["subscriber"]),
]

LINES = [
    "hi {ai}!",
    "what are we playing today?",
    "LOL",
    "{ai} say hi to chat",
    "can you do the happy face?",
    "how old are you {ai}?",
    "first time here, this is cool",
    "lmao the timing",
    "W stream",
    "{ai} what's your favourite food?",
    "is this AI for real?",
    "gg",
    "the avatar is so cute",
    "brb getting snacks",
    "{ai} tell us a joke",
    "that was close",
]

STEADY_TICK = 0.005

BURST = ["POG", "POGGERS", "no way", "LETS GO", "clip it!"]


class DemoChat:
    """Simulated viewers at ``per_minute`` messages per minute on average."""

    def __init__(
        self,
        deliver: Callable[[ChatMessage], None],
        ai_name: str,
        per_minute: float,
        rng: random.Random | None = None,
        steady: bool = False,
    ) -> None:
        self.deliver = deliver
        self.lines = [line.format(ai=ai_name) for line in LINES]
        self.per_second = per_minute / 60.0
        self.rng = rng or random.Random()
        self.steady = steady
        self.per_tick = max(1, int(self.per_second * STEADY_TICK * 2))
        self._ids = itertools.count(1)
        self._id_prefix = f"demo-{time.time_ns()}-"  # unique per run: no clash after a restart

    async def run(self, ctx: ServiceContext) -> None:
        ctx.up("simulated viewers (demo): not real chat; set [twitch] channel to go live")
        if self.steady:
            await self._run_steady()
            return
        while True:
            await asyncio.sleep(self.rng.expovariate(self.per_second))
            if self.rng.random() < 0.03:
                await self._burst()
            else:
                self.deliver(self.message(self.rng.choice(self.lines)))

    async def _run_steady(self) -> None:
        """An even rate with no bursts: every tick delivers what is due since the start."""
        started = time.monotonic()
        delivered = 0
        while True:
            await asyncio.sleep(STEADY_TICK)
            due = int((time.monotonic() - started) * self.per_second)
            # After a stall, catch up by one tick's worth at most: a long pause must not
            # come back as a flood larger than any client's queue.
            count = min(due - delivered, self.per_tick)
            texts = self.rng.choices(self.lines, k=count)
            viewers = self.rng.choices(VIEWERS, k=count)
            now = time.time()
            for text, (author, badges) in zip(texts, viewers, strict=True):
                self.deliver(self._chat(text, author, badges, now))
            delivered = due

    async def _burst(self) -> None:
        for _ in range(self.rng.randint(3, 6)):
            self.deliver(self.message(self.rng.choice(BURST)))
            await asyncio.sleep(self.rng.expovariate(self.per_second * 5))

    def message(self, text: str) -> ChatMessage:
        author, badges = self.rng.choice(VIEWERS)
        return self._chat(text, author, badges, time.time())

    def _chat(self, text: str, author: str, badges: list[str], ts: float) -> ChatMessage:
        return ChatMessage(
            id=f"{self._id_prefix}{next(self._ids)}",
            platform="demo",
            author=author,
            text=text,
            ts=ts,
            badges=badges,
            demo=True,
        )
