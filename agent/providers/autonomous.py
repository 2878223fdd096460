"""The autonomous persona: lines from templates, no network, never fails.

It is the last link of every default chain, so the show never goes silent: when every model is
down (or none is configured) the co-host still greets, answers and fills the quiet, in its own
voice. Slots come from the request's context (``viewer``, ``game``, ``amount``, ``intent``); a
missing one gets a neutral default, and what a viewer controls (their name) is made inert first.

The persona file shapes it (``shape``): its greetings replace the lines for stream events, its
topics fill ``{topic}`` in idle talk, its timed segments add ``segment:NAME`` intents. The
request's ``emotion`` picks a line of that mood when there is one (``MOODS``).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

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
    "follow": [
        "Thanks for the follow, {viewer}! Welcome aboard.",
        "{viewer}, thank you for following! Glad you're here.",
    ],
    "sub": [
        "{viewer}, thank you for the sub! You're wonderful.",
        "A sub from {viewer}! Thank you, that means a lot.",
    ],
    "gift": ["{viewer} gifted {amount} subs! Thank you, that's so generous!"],
    "cheer": ["{amount} bits from {viewer}! Thank you so much!"],
    "redemption": ["{viewer} redeemed something! Coming right up."],
    "milestone": ["Chat, we just hit {amount}! Thank you all, this is amazing!"],
    "idle": [
        "It's a lovely {time_of_day} for some {game}. Chat, what should I try next?",
        "Okay chat, quick poll: keep going, or something new?",
        "I'm {persona}, and I'm having a great time. How's your {time_of_day} going?",
        "So, chat, let's talk about {topic}. What do you think?",
    ],
    "chat": [
        "{viewer}, I love that. Tell me more!",
        "Ha! {viewer}, you always know what to say.",
        "Noted, {viewer}! Chat, do you agree?",
    ],
}

#: Lines of a mood, preferred over the plain ones when the request carries that ``emotion``.
MOODS: dict[str, dict[str, list[str]]] = {
    "excited": {
        "idle": ["Okay, I'm way too hyped right now. Chat, keep the energy up!"],
        "chat": ["{viewer}, yes! I love that energy!"],
    },
    "bored": {
        "idle": [
            "It's so quiet in here... chat, say something, anything!",
            "Hello? Is anyone out there? Let's talk about {topic}!",
        ],
    },
    "annoyed": {
        "chat": ["Okay {viewer}, let's keep it nice in here.", "Let's keep it friendly, chat."],
    },
    "sad": {"chat": ["Aw, {viewer}. Sending you a big hug."]},
    "happy": {"chat": ["{viewer}, you just made my {time_of_day}!"]},
}

DEFAULTS = {
    "viewer": "chat",
    "game": "this game",
    "persona": "Airi",
    "amount": "a bunch",
    "topic": "this game",
}
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
        self.lines: dict[str, list[str]] = {k: list(v) for k, v in LINES.items()}
        self.topics: list[str] = []
        self._last: dict[str, str] = {}

    def shape(
        self,
        persona: str,
        *,
        lines: Mapping[str, Sequence[str]] | None = None,
        topics: Sequence[str] = (),
    ) -> None:
        """Speak as a persona file says: its ``lines`` replace those of their intent."""
        self.persona = persona
        self.lines = {k: list(v) for k, v in LINES.items()}
        self.lines.update({k: list(v) for k, v in (lines or {}).items() if v})
        self.topics = list(topics)

    def line(self, request: ChatRequest) -> str:
        """The line this persona says to ``request`` (never the same twice in a row)."""
        intent = intent_of(request, self.lines)
        mood = request.context.get("emotion", "")
        choices = MOODS.get(mood, {}).get(intent) or self.lines[intent]
        fresh = [t for t in choices if t != self._last.get(intent)] or choices
        template = self.rng.choice(fresh)
        self._last[intent] = template
        return template.format_map(self._slots(request))

    def _slots(self, request: ChatRequest) -> dict[str, str]:
        slots = {**DEFAULTS, "persona": self.persona, "time_of_day": time_of_day(self.clock())}
        if self.topics:
            slots["topic"] = self.rng.choice(self.topics)
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


def intent_of(request: ChatRequest, lines: Mapping[str, Sequence[str]] = LINES) -> str:
    """What kind of line fits: the director's ``intent`` if given, else a guess from the text."""
    intent = request.context.get("intent", "")
    if intent in lines:
        return intent
    if intent.startswith("segment:"):  # a segment with no lines of its own: idle talk
        return "idle"
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
