"""One answer on its way to the queue: cut into sentences, emotion tags taken out.

``SentenceCutter`` cuts streamed text into sentences as soon as each one is complete.
``Turn`` queues each sentence (or the whole answer, when its source's gate holds it for an
operator) and hands the brain the tags it found, to show with the sentence they belong to.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agent.director.emotion import read_tags
from agent.protocol.messages import Action

if TYPE_CHECKING:
    from agent.director.brain import Brain

_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+")


class Turn:
    """One answer on its way to the queue: sentence by sentence, or whole when it is held."""

    def __init__(self, brain: Brain, source: str, turn: str, whole: bool) -> None:
        self._brain = brain
        self._source = source
        self._turn = turn
        self._whole = whole
        self._spoken: list[str] = []
        self._tags: list[str] = []
        self._last: Action | None = None

    def sentence(self, sentence: str) -> None:
        text, tags = read_tags(sentence)
        self._tags += tags
        if not text:
            return  # a tag alone: it shows with the next sentence
        if self._whole:
            self._spoken.append(text)
            return
        action = self._brain.say(text, self._source, self._turn)
        if action is not None:
            self._spoken.append(action.detail)
            self._brain.cue(action, self._tags)
            self._tags, self._last = [], action

    def said(self) -> str:
        return " ".join(self._spoken)

    def end(self, flagged: str) -> str:
        """Queue a held answer whole; tags after the last sentence show with it."""
        if not self._whole or not self._spoken:
            if self._last is not None:
                self._brain.cue(self._last, self._tags)
            else:  # an answer of tags alone: a face, no words
                self._brain.show(self._tags, self._turn)
            return self.said()
        action = self._brain.say(self.said(), self._source, self._turn, flagged)
        if action is None:
            return ""
        self._brain.cue(action, self._tags)
        return action.detail


class SentenceCutter:
    """Cuts streamed text into sentences as soon as each one is complete."""

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        sentences = []
        while match := _SENTENCE_END.search(self._buffer):
            sentences.append(self._buffer[: match.end()].strip())
            self._buffer = self._buffer[match.end() :]
        return [s for s in sentences if s]

    def end(self, *, cut: bool = False) -> str:
        """What is left. ``cut``: the answer broke off, so end on a whole word and an ellipsis."""
        rest, self._buffer = self._buffer.strip(), ""
        if not rest or not cut or rest[-1] in ".!?…":
            return rest
        words = rest.rsplit(None, 1)
        whole = words[0] if len(words) == 2 else ""  # the last word may be half of one
        return f"{whole.rstrip(',;:')}…" if whole else ""
