"""The autonomous persona: lines from templates, no network, never fails.

It is the last link of every default chain, so the show never goes silent: when every model is
down (or none is configured) the co-host still greets, answers and fills the quiet, in its own
voice. Slots come from the request's context (``viewer``, ``game``, ``intent``); a missing one
gets a neutral default, and what a viewer controls (their name) is made inert first.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator, Callable

from agent.protocol.text import inert
from agent.providers.base import ChatRequest, Delta, Finished, StreamItem, Usage

LINES: dict[str, list[str]] = {
    "greeting": [
        "Hi {viewer}! Welcome in, make yourself at home.",
        "Hey {viewer}, good {time_of_day}! Grab a snack, we're playing {game}.",
        "{viewer}! So glad you're here. Say hi to everyone!",
    ],
    "question": [
        "Ooh, good question, {viewer}. Let me think about that while we play {game}.",
        "Hmm, {viewer}, I'd say... it depends! What do you think, chat?",
        "{viewer}, that's a tough one. Ask me again after this round?",
    ],
    "thanks": [
        "Thank you so much, {viewer}! You're the best.",
        "{viewer}, you're amazing, thank you!",
    ],
    "raid": [
        "Welcome, raiders! Thank you {viewer} for bringing everyone over!",
        "A raid! Hi everyone, and thank you {viewer}!",
    ],
    "idle": [
        "It's a lovely {time_of_day} for some {game}. Chat, what should I try next?",
        "Okay chat, quick poll: keep going, or something new?",
        "I'm {persona}, and I'm having a great time. How's your {time_of_day} going?",
    ],
    "chat": [
        "{viewer}, I love that. Tell me more!",
        "Ha! {viewer}, you always know what to say.",
        "Noted, {viewer}! Chat, do you agree?",
    ],
}

DEFAULTS = {"viewer": "chat", "game": "this game", "persona": "Airi"}
_GREETING = re.compile(r"\b(hi|hello|hey|hiya|yo|howdy|good (morning|evening))\b", re.IGNORECASE)
_THANKS = re.compile(r"\b(thanks|thank you|ty|thx)\b", re.IGNORECASE)
_WORD = re.compile(r"\S+\s*")


class AutonomousProvider:
    """Persona lines filled from context; streamed word by word like a model would."""

    name = "autonomous"

    def __init__(
        self,
        persona: str = "Airi",
        rng: random.Random | None = None,
        clock: Callable[[], time.struct_time] = time.localtime,
        word_delay: float = 0.0,
    ) -> None:
        self.persona = persona
        self.rng = rng or random.Random()
        self.clock = clock
        self.word_delay = word_delay
        self._last: dict[str, str] = {}

    def line(self, request: ChatRequest) -> str:
        """The line this persona says to ``request`` (never the same twice in a row)."""
        intent = intent_of(request)
        choices = LINES[intent]
        fresh = [t for t in choices if t != self._last.get(intent)] or choices
        template = self.rng.choice(fresh)
        self._last[intent] = template
        return template.format_map(self._slots(request))

    def _slots(self, request: ChatRequest) -> dict[str, str]:
        slots = {**DEFAULTS, "persona": self.persona, "time_of_day": time_of_day(self.clock())}
        for key, value in request.context.items():
            if value.strip():
                slots[key] = inert(value, 40)
        return slots

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        words = _WORD.findall(self.line(request))
        for word in words:
            yield Delta(word)
            if self.word_delay:
                await asyncio.sleep(self.word_delay)
        yield Finished("stop", Usage(output_tokens=len(words)))

    async def probe(self) -> float:
        return 0.0


def intent_of(request: ChatRequest) -> str:
    """What kind of line fits: the director's ``intent`` if given, else a guess from the text."""
    intent = request.context.get("intent", "")
    if intent in LINES:
        return intent
    text = request.last_user_text
    if not text.strip():
        return "idle"
    if _THANKS.search(text):
        return "thanks"
    if _GREETING.search(text):
        return "greeting"
    if text.rstrip().endswith("?"):
        return "question"
    return "chat"


def time_of_day(now: time.struct_time) -> str:
    hour = now.tm_hour
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "afternoon"
    if 18 <= hour < 23:
        return "evening"
    return "night"
