"""The co-host's mood: moved by what happens on stream, fading back to neutral.

Each feeling has a level from 0 to 1. Events push levels up (a raid excites, a sub or kind
words cheer, hostile words annoy, a long silence bores) and every level halves each
``half_life`` seconds, so a mood passes unless something keeps it up. The strongest feeling
above ``THRESHOLD`` is the mood; below it the co-host is neutral. The mood colours the prompt
(``prompt_line``), the offline persona's choice of lines, and the avatar's expression.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

EMOTIONS = ("neutral", "happy", "excited", "bored", "annoyed", "sad")
THRESHOLD = 0.2
HALF_LIFE = 60.0

#: How far each kind of input moves which feeling.
NUDGES: dict[str, tuple[str, float]] = {
    "raid": ("excited", 0.8),
    "milestone": ("excited", 0.5),
    "sub": ("happy", 0.4),
    "gift": ("happy", 0.5),
    "cheer": ("happy", 0.4),
    "follow": ("happy", 0.2),
    "redemption": ("happy", 0.15),
    "kind": ("happy", 0.15),
    "hostile": ("annoyed", 0.3),
    "sad": ("sad", 0.3),
}

_KIND = re.compile(
    r"\b(love|loved|lovely|great|awesome|amazing|cute|best|thank(s| you)|ty|gg|nice|wholesome|<3)",
    re.IGNORECASE,
)
_HOSTILE = re.compile(
    r"\b(hate|stupid|dumb|idiot|trash|garbage|shut up|boring|cringe|sucks?|worst|annoying)\b",
    re.IGNORECASE,
)
_SAD = re.compile(r"\b(sad|miss (you|her|him)|rip|sorry for your loss|bad day)\b", re.IGNORECASE)


def tone(text: str) -> str:
    """The feeling a chat line carries, roughly: hostile, sad, kind, or '' for none."""
    if _HOSTILE.search(text):
        return "hostile"
    if _SAD.search(text):
        return "sad"
    if _KIND.search(text):
        return "kind"
    return ""


class EmotionState:
    """See the module docstring. ``bored_after``: seconds of silence before boredom starts."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        half_life: float = HALF_LIFE,
        bored_after: float = 120.0,
    ) -> None:
        self._clock = clock
        self._half_life = half_life
        self._bored_after = bored_after
        self._levels = dict.fromkeys(EMOTIONS[1:], 0.0)
        self._at = clock()

    def feel(self, kind: str, weight: float = 1.0) -> None:
        """Something happened (``NUDGES`` names what moves the mood); other kinds do nothing."""
        nudge = NUDGES.get(kind)
        if nudge is None:
            return
        self._decay()
        feeling, amount = nudge
        self._levels[feeling] = min(1.0, self._levels[feeling] + amount * weight)
        self._levels["bored"] = 0.0  # anything happening is the end of boredom

    def hear(self, text: str) -> None:
        """A chat line: kind words cheer, hostile ones annoy, sad ones sadden."""
        self._decay()
        self._levels["bored"] = 0.0
        self.feel(tone(text))

    def quiet(self, seconds: float) -> None:
        """Nothing has happened for ``seconds``: boredom grows past ``bored_after``."""
        self._decay()
        if seconds > self._bored_after:
            grown = (seconds - self._bored_after) / (2 * self._bored_after)
            self._levels["bored"] = max(self._levels["bored"], min(1.0, grown))

    def current(self) -> tuple[str, float]:
        """The mood now and how strong it is (0 to 1); ("neutral", 0.0) when nothing stands out."""
        self._decay()
        feeling, level = max(self._levels.items(), key=lambda kv: kv[1])
        if level < THRESHOLD:
            return "neutral", 0.0
        return feeling, round(level, 2)

    def prompt_line(self) -> str:
        """One sentence for the prompt, so the model's answer carries the mood."""
        feeling, level = self.current()
        if feeling == "neutral":
            return "Your mood right now: calm and neutral."
        strength = "very " if level >= 0.7 else "a little " if level < 0.4 else ""
        return f"Your mood right now: {strength}{feeling}. Let it colour how you answer."

    def _decay(self) -> None:
        now = self._clock()
        elapsed, self._at = now - self._at, now
        if elapsed <= 0:
            return
        factor = 0.5 ** (elapsed / self._half_life)
        for feeling in self._levels:
            if feeling != "bored":  # boredom follows the silence itself, see quiet()
                self._levels[feeling] *= factor


_TAG = re.compile(r"\[([A-Za-z][\w-]{0,23})\]")
_SPACES = re.compile(r"\s{2,}")


def read_tags(sentence: str) -> tuple[str, list[str]]:
    """``sentence`` without its emotion tags (``[happy]``), and the tags in order, lowercased.

    Every tag-shaped word in brackets goes, known or not: a voice must never say "bracket
    happy bracket", and a model that invents ``[laughs]`` is no reason to.
    """
    tags = [t.lower() for t in _TAG.findall(sentence)]
    if not tags:
        return sentence, []
    text = _SPACES.sub(" ", _TAG.sub("", sentence)).strip()
    return re.sub(r"\s+([,.!?…])", r"\1", text), tags
