"""Every input the AI may answer, in one shape, and the router that decides which comes next.

A chat line, a stream event (follow, sub, gift, cheer, raid, redemption), the streamer's voice,
text typed in the control room, a REST call, a MIDI pad or hotkey, the scheduler: each becomes
one ``Input``. ``InputRouter`` applies the policy (``agent.director.policy``) as inputs arrive
and again when the brain asks for the next one:

- chat is *sampled*: of the lines heard since the last answer, the one most worth answering
  (a mention of the persona, a question, a moderator) waits as the candidate, and a chat line
  is answered at most once per ``chat_every`` seconds (``[director] reply_every``);
- a moderator's line addressed to the AI (a mention or a question) is answered even between
  samples; every raid is thanked; budgeted events are thanked up to N per minute and the rest
  are let go (counted as ``declined``);
- anything that waits past its ``expires_at`` expires: counted, and logged, so the control
  room can say how much went unanswered.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

import msgspec

from agent.director.policy import BUDGETED, DirectorPolicy
from agent.protocol.messages import ChatMessage

log = logging.getLogger(__name__)

#: How urgent each kind of input is: the router answers the highest first.
PRIORITY = {
    "raid": 100,
    "voice": 90,
    "manual": 85,
    "rest": 80,
    "hotkey": 80,
    "midi": 80,
    "mod": 70,
    "sub": 60,
    "gift": 60,
    "cheer": 55,
    "redemption": 50,
    "milestone": 50,
    "follow": 40,
    "chat": 30,
    "segment": 20,
    "idle": 10,
}
EVENT_KINDS = frozenset({"follow", "sub", "gift", "cheer", "raid", "redemption"})
#: Inputs the AI says on its own: a raid cuts them short.
OWN_TALK = frozenset({"idle", "segment"})
_TRUSTED_BADGES = frozenset({"broadcaster", "moderator"})
BUDGET_WINDOW = 60.0


class Input(msgspec.Struct, kw_only=True):
    """One thing the AI may answer: who, what, how urgent, and until when it is worth it."""

    source: str
    """Where it came from: chat, event, voice, manual, rest, midi, hotkey, scheduler."""
    kind: str
    """What it is: chat, follow, sub, gift, cheer, raid, redemption, milestone, voice, manual,
    segment, idle (``PRIORITY`` lists them)."""
    author: str = ""
    text: str = ""
    priority: int = 0
    ts: float = 0.0
    expires_at: float = 0.0
    """Monotonic time after which it is no longer worth answering; 0: the policy decides."""
    flags: frozenset[str] = frozenset()
    """mod, mention, question, first-time (a viewer never seen before)."""
    platform: str = ""
    amount: int = 0
    """Bits cheered, subs gifted, viewers raiding."""
    detail: str = ""
    """Free text for the answer's context, e.g. which timed segment."""

    @property
    def age_key(self) -> tuple[int, float]:
        return (-self.priority, self.ts)


def chat_input(message: ChatMessage, now: float, *, persona: str, first_time: bool) -> Input:
    """A chat line as an input, flagged with what makes it worth answering."""
    text = message.text.lower()
    flags = set()
    if persona and persona.lower() in text:
        flags.add("mention")
    if text.rstrip().endswith("?"):
        flags.add("question")
    if _TRUSTED_BADGES & set(message.badges):
        flags.add("mod")
    if first_time:
        flags.add("first-time")
    return Input(
        source="chat",
        kind="chat",
        author=message.author,
        text=message.text,
        priority=PRIORITY["chat"],
        ts=now,
        flags=frozenset(flags),
        platform=message.platform,
    )


def event_input(
    kind: str, author: str, now: float, *, text: str = "", amount: int = 0, source: str = ""
) -> Input:
    """A stream event (or any other non-chat input) with its kind's priority.

    ``source`` defaults to ``event`` for stream events and to the kind itself otherwise
    (``voice``, ``manual``, ``rest``, ``midi``, ``hotkey``).
    """
    return Input(
        source=source or ("event" if kind in EVENT_KINDS else kind),
        kind=kind,
        author=author,
        text=text,
        amount=amount,
        priority=PRIORITY.get(kind, PRIORITY["chat"]),
        ts=now,
    )


def chat_score(item: Input) -> int:
    """How much a chat line is worth answering: mention 2, question 1, moderator 1."""
    flags = item.flags
    return 2 * ("mention" in flags) + ("question" in flags) + ("mod" in flags)


class InputRouter:
    """Applies the policy to inputs; see the module docstring."""

    def __init__(
        self,
        policy: DirectorPolicy,
        *,
        chat_every: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.chat_every = chat_every
        self._clock = clock
        self._waiting: list[Input] = []
        self._candidate: Input | None = None
        self._thanked: dict[str, deque[float]] = {}
        self._last_chat = clock() - chat_every  # the first line may be answered now
        self.expired = 0
        self.declined = 0

    @property
    def waiting(self) -> int:
        """Inputs waiting for an answer (the chat candidate included)."""
        return len(self._waiting) + (self._candidate is not None)

    def pending(self) -> list[Input]:
        """What waits, most urgent first (the chat candidate among them)."""
        items = [*self._waiting, *([self._candidate] if self._candidate else [])]
        return sorted(items, key=lambda i: i.age_key)

    def offer(self, item: Input) -> bool:
        """Take an input in; False when the policy lets it go (it is never answered)."""
        if not item.expires_at:
            wait = self.policy.max_wait_chat if item.kind == "chat" else self.policy.max_wait
            item = msgspec.structs.replace(item, expires_at=item.ts + wait)
        if item.kind == "chat":
            return self._offer_chat(item)
        if not self._allowed(item):
            self.declined += 1
            return False
        if item.kind in OWN_TALK:  # one idle line or segment waits at most: the newest
            self._waiting = [w for w in self._waiting if w.kind != item.kind]
        self._waiting.append(item)
        return True

    def next(self) -> Input | None:
        """The input to answer now, taken out; None when nothing may be answered yet."""
        now = self._clock()
        self._expire(now)
        chat = self._candidate if now - self._last_chat >= self.chat_every else None
        best = min(self._waiting, key=lambda i: i.age_key, default=None)
        if chat is not None and (best is None or chat.age_key < best.age_key):
            self._candidate = None
            self._last_chat = now
            return chat
        if best is not None:
            self._waiting.remove(best)
        return best

    def expire(self) -> None:
        """Let go of what waited too long, taking nothing (while the AI is busy talking)."""
        self._expire(self._clock())

    def _offer_chat(self, item: Input) -> bool:
        if self.policy.answer_mods and "mod" in item.flags and item.flags & {"mention", "question"}:
            self._waiting.append(
                msgspec.structs.replace(item, kind="chat", priority=PRIORITY["mod"])
            )
            return True
        if not self.chat_every:
            return False
        current = self._candidate
        if current is None or chat_score(item) >= chat_score(current):
            self._candidate = item  # the one it replaces was passed over, not expired
            return True
        return False

    def _allowed(self, item: Input) -> bool:
        if item.kind == "raid":
            return self.policy.thank_raids
        budget = self.policy.budget(item.kind)
        if budget is None:
            return True
        times = self._thanked.setdefault(BUDGETED[item.kind], deque())
        while times and item.ts - times[0] >= BUDGET_WINDOW:
            times.popleft()
        if len(times) >= budget:
            log.info(
                "%s from %s not thanked: %d per minute already (director policy)",
                item.kind, item.author or "someone", budget,
            )  # fmt: skip
            return False
        times.append(item.ts)
        return True

    def _expire(self, now: float) -> None:
        stale = [i for i in self._waiting if i.expires_at <= now]
        if self._candidate is not None and self._candidate.expires_at <= now:
            stale.append(self._candidate)
            self._candidate = None
        for item in stale:
            if item in self._waiting:
                self._waiting.remove(item)
            if item.kind in OWN_TALK:
                continue  # the AI's own idle talk going stale is no viewer left unanswered
            self.expired += 1
            log.info(
                "%s from %s expired unanswered after %.0f s (%d expired so far)",
                item.kind, item.author or item.source, now - item.ts, self.expired,
            )  # fmt: skip
