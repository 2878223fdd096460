"""The co-host's voice: what to answer next, when to talk on its own, and saying it.

Every input (a chat line through ``hear``, anything else through ``offer``) goes to the input
router (``agent.director.inputs``), which applies the policy: chat is sampled at most once per
``reply_every`` seconds, moderators and raids always get an answer, events are thanked within
a budget, and what waits too long expires. The scheduler adds the AI's own talk (idle lines,
timed segments, milestones). Each tick, unless an AI line is already running or waiting in
the queue, the brain takes the most urgent input and answers it.

Who writes the answer follows the queue's mode, switched live: ``llm`` streams from the
router (whose chains end in the offline persona), ``autonomous`` asks the offline persona
directly (no network), ``external`` hands what the policy picked to an external brain, and
falls back to the offline persona while none is connected. Answers are said sentence by
sentence as they stream in; emotion tags in them (``[happy]``) are never said, and show their
expression when the sentence they belong to starts.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable

import msgspec

from agent.config import Config
from agent.director.emotion import EmotionState
from agent.director.inputs import OWN_TALK, Input, InputRouter, chat_input, event_input
from agent.director.persona import Persona, load_persona
from agent.director.policy import DirectorPolicy
from agent.director.prompts import request_for
from agent.director.queue import ActionQueue, QueueFull, UnknownExpression
from agent.director.scheduler import Scheduler
from agent.director.turn import SentenceCutter, Turn
from agent.protocol.messages import Action, ChatMessage
from agent.protocol.text import inert
from agent.providers.autonomous import AutonomousProvider
from agent.providers.base import ChatRequest, Delta, Finished, StreamItem
from agent.supervisor import ServiceContext

log = logging.getLogger(__name__)

TICK = 0.25
FIRST_TIME = "answers a first-time viewer"
_OWN_SOURCES = frozenset({"ai:idle"})

Stream = Callable[[str, ChatRequest], AsyncIterator[StreamItem]]


class BrainStatus(msgspec.Struct, frozen=True):
    """What the control room shows of the brain: its mood, and the inputs it holds."""

    emotion: str = "neutral"
    intensity: float = 0.0
    """0 to 1, in tenths: a mood fading by a hair is no news."""
    waiting: int = 0
    expired: int = 0


class Brain:
    """Answers routed inputs and fills silences; see the module doc.

    For the ``external`` mode, whoever connects an external brain sets
    ``external_connected`` (is one attached?) and ``hand_over`` (send it an input the policy
    picked; False if it could not take it, and the offline persona answers instead).
    """

    def __init__(
        self,
        stream: Stream,
        actions: ActionQueue,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        persona: Persona | None = None,
        policy: DirectorPolicy | None = None,
        autonomous: AutonomousProvider | None = None,
    ) -> None:
        self._stream = stream
        self._actions = actions
        self._clock = clock
        self.persona = persona or load_persona(
            None, name=config.persona.name, expressions=config.persona.expressions
        )
        self._system = self.persona.system_prompt(config.director.system_prompt)
        self.router = InputRouter(
            policy or DirectorPolicy(), chat_every=config.director.reply_every, clock=clock
        )
        self.scheduler = Scheduler(
            self.persona, self.router.offer, idle_after=config.director.idle_after, clock=clock
        )
        self.emotion = EmotionState(clock=clock)
        self.autonomous = autonomous or AutonomousProvider(self.persona.name)
        self.autonomous.shape(
            self.persona.name, lines=self.persona.autonomous_lines(), topics=self.persona.topics
        )
        self.external_connected: Callable[[], bool] = lambda: False
        self.hand_over: Callable[[Input], bool] = lambda item: False
        self.on_status: Callable[[BrainStatus], None] | None = None
        self._status = BrainStatus()
        self._recent: deque[ChatMessage] = deque(maxlen=8)
        self._known: set[tuple[str, str]] = set()
        self._cues: dict[str, list[str]] = {}
        self._talking: Input | None = None
        self._cut_short = False
        self._falling_back = False
        self._shown_mood = "neutral"
        self._last_heard = clock()
        self._cue_on_say()

    # --- what the control room shows ------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Inputs waiting for an answer."""
        return self.router.waiting

    @property
    def expired(self) -> int:
        """Inputs that waited too long and were let go, since the start."""
        return self.router.expired

    def mood(self) -> tuple[str, float]:
        """The co-host's feeling now and its strength (0 to 1)."""
        return self.emotion.current()

    def status(self) -> BrainStatus:
        """Mood and input counts; ``on_status`` hears each change (checked every tick)."""
        emotion, level = self.emotion.current()
        return BrainStatus(emotion, round(level, 1), self.router.waiting, self.router.expired)

    # --- in ---------------------------------------------------------------------------------

    def hear(self, message: ChatMessage) -> None:
        """A chat line arrived (already inert); it may become the next one answered."""
        viewer = (message.platform, message.author)
        first_time = viewer not in self._known
        self._known.add(viewer)
        self._recent.append(message)
        self._heard()
        self.emotion.hear(message.text)
        now = self._clock()
        self.router.offer(
            chat_input(message, now, persona=self.persona.name, first_time=first_time)
        )

    def offer(self, item: Input) -> bool:
        """Any other input: a stream event, the streamer's voice, text from the control room,
        REST, MIDI or a hotkey. False when the policy lets it go unanswered."""
        if item.kind == "chat":
            return self.router.offer(item)
        self._heard()
        self.emotion.feel(item.kind)
        accepted = self.router.offer(item)
        self.scheduler.count(item)
        if accepted and item.kind == "raid":
            self._preempt_own_talk()
        return accepted

    def event(self, kind: str, author: str = "", *, text: str = "", amount: int = 0) -> bool:
        """``offer`` for callers without an ``Input``: a follow, sub, gift (``amount`` subs),
        cheer (``amount`` bits), raid (``amount`` viewers), redemption, or the streamer's
        ``voice``, ``manual`` text, ``rest``, ``midi``, ``hotkey`` asking something (``text``).
        """
        return self.offer(event_input(kind, author, self._clock(), text=text, amount=amount))

    def know(self, messages: list[ChatMessage]) -> None:
        """Viewers seen before this start (from the store): they are not new."""
        self._known.update((m.platform, m.author) for m in messages)

    def started(self, action: Action) -> None:
        """The queue started ``action``: show the expressions tagged on its sentence now.

        Called as the queue performs a line (see ``_cue_on_say``); each tick also looks at
        what runs, for a line performed by something that does not call this (dry run).
        """
        for name in self._cues.pop(action.id, []):
            self._express(name, action.turn)

    def _cue_on_say(self) -> None:
        """Have the queue's ``say`` show a line's expressions just before the line itself."""
        say = self._actions.perform.get("say")
        if say is None:
            return

        async def cued(action: Action) -> None:
            if action.id in self._cues:
                self.started(action)
                await asyncio.sleep(0)  # the face lane shows it before the line begins
            await say(action)

        self._actions.perform["say"] = cued

    # --- the loop ---------------------------------------------------------------------------

    async def run(self, ctx: ServiceContext) -> None:
        ctx.up(self._describe())
        while True:
            await asyncio.sleep(TICK)
            await self.step()

    async def step(self) -> None:
        """One tick: show the mood, let the scheduler speak up, answer the next input."""
        self._tidy_cues()
        self.emotion.quiet(self._clock() - self._last_heard)
        self._show_mood()
        try:
            busy = self._busy()
            self.scheduler.tick(busy=busy)
            if busy:
                self.router.expire()
                return
            item = self.router.next()
            if item is not None and not self._handed_over(item):
                await self.respond(item)
        finally:
            self._report()

    def _handed_over(self, item: Input) -> bool:
        """In the external mode, a connected external brain answers what the policy picked."""
        external = self._actions.status.mode == "external" and self.external_connected()
        return external and self.hand_over(item)

    def _report(self) -> None:
        status = self.status()
        if status != self._status:
            self._status = status
            if self.on_status is not None:
                self.on_status(status)

    def _tidy_cues(self) -> None:
        """Fire the cues of what runs now; forget those of lines rejected or cleared."""
        if self._actions.current is not None:
            self.started(self._actions.current)
        if self._cues:
            alive = {a.id for a in self._actions.listing()}
            self._cues = {k: v for k, v in self._cues.items() if k in alive}

    # --- answering --------------------------------------------------------------------------

    async def respond(self, item: Input) -> str:
        """Answer one input in the persona's voice; returns what was said (or queued)."""
        mood = self.emotion.current()[0]
        request = request_for(
            item, self._system, self.emotion.prompt_line(), self._recent, mood, self.persona
        )
        role = "idle" if item.kind in OWN_TALK else "reply"
        flagged = FIRST_TIME if "first-time" in item.flags else ""
        self._talking, self._cut_short = item, False
        try:
            said = await self.speak(role, request, flagged, source=_source_of(item))
        finally:
            self._talking = None
        self.scheduler.activity()
        return said

    async def answer(self, message: ChatMessage, flagged: str = "") -> str:
        """Answer one viewer now, whatever waits; returns what was said (or queued)."""
        item = chat_input(message, self._clock(), persona=self.persona.name, first_time=False)
        flags = item.flags | ({"first-time"} if flagged else set())
        return await self.respond(msgspec.structs.replace(item, flags=frozenset(flags)))

    async def fill_silence(self) -> str:
        """Say something of its own now (the scheduler does this after ``idle_after``)."""
        return await self.respond(Input(source="scheduler", kind="idle", ts=self._clock()))

    async def speak(
        self, role: str, request: ChatRequest, flagged: str = "", *, source: str = ""
    ) -> str:
        """Stream ``role``'s answer and queue each sentence as soon as it is complete.

        When the answer must wait for an operator, it is queued whole instead, once written:
        approving an answer sentence by sentence would be no way to run a show.
        """
        writer = self._writer()
        if writer is None:
            return ""
        source = source or f"ai:{role}"
        turn = Turn(self, source, uuid.uuid4().hex[:12], self._actions.holds(source, flagged))
        cutter = SentenceCutter()
        finished = Finished("error")
        stream = writer(role, request)
        try:
            async for item in stream:
                if isinstance(item, Delta):
                    for sentence in cutter.feed(item.text):
                        turn.sentence(sentence)
                elif isinstance(item, Finished):
                    finished = item
                if self._cut_short:
                    log.info("a raid cut the AI's own talk short")
                    return turn.said()
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:  # a cut-short answer frees its connection now
                await aclose()
        turn.sentence(cutter.end(cut=finished.reason == "error"))
        return turn.end(flagged)

    def _writer(self) -> Stream | None:
        """Who writes answers in the current mode; None: not this brain."""
        mode = self._actions.status.mode
        if mode == "external" and self.external_connected():
            self._falling_back = False
            return None
        if mode == "external" and not self._falling_back:
            log.warning(
                "mode external, but no external brain is connected: the offline persona "
                "answers until one does"
            )
        self._falling_back = mode == "external"
        if mode == "llm":
            return self._stream
        return lambda _role, request: self.autonomous.stream(request)

    # --- the queue --------------------------------------------------------------------------

    def say(self, text: str, source: str, turn: str, flagged: str = "") -> Action | None:
        line = inert(text, 500)
        if not line:
            return None
        try:
            return self._actions.say(line, source, flagged=flagged, turn=turn)
        except QueueFull as exc:
            log.warning("dropped a line of an answer: %s", exc)
            return None

    def cue(self, action: Action, tags: list[str]) -> None:
        """Show the expressions of ``tags`` when ``action`` starts."""
        names = [n for n in (self._expression_of(t) for t in tags) if n]
        if names:
            self._cues.setdefault(action.id, []).extend(names)

    def show(self, tags: list[str], turn: str = "") -> None:
        """Show the expressions of ``tags`` now."""
        for name in filter(None, map(self._expression_of, tags)):
            self._express(name, turn)

    def _expression_of(self, tag: str) -> str:
        if tag in self._actions.expressions:
            return tag
        return self.persona.expression_for(tag)

    def _express(self, name: str, turn: str = "") -> None:
        try:
            self._actions.express(name, "ai:emotion", turn=turn)
        except (UnknownExpression, QueueFull) as exc:
            log.warning("could not show %s: %s", name, exc)

    def _busy(self) -> bool:
        """Is an AI line being written, running, or waiting to run?"""
        return self._talking is not None or any(
            a.kind == "say" and a.source.startswith("ai:") and a.state != "pending"
            for a in self._actions.listing()
        )

    def _preempt_own_talk(self) -> None:
        """A raid comes before idle talk: stop it, written, waiting or running."""
        if self._talking is not None and self._talking.kind in OWN_TALK:
            self._cut_short = True
        for action in self._actions.listing():
            if action.source in _OWN_SOURCES and action.kind == "say":
                if action is self._actions.current:
                    self._actions.skip_current()
                else:
                    self._actions.reject(action.id)

    def _show_mood(self) -> None:
        feeling = self.emotion.current()[0]
        if feeling == self._shown_mood:
            return
        self._shown_mood = feeling
        expression = self.persona.expression_for(feeling)
        if expression and expression in self._actions.expressions:
            self._express(expression)

    def _heard(self) -> None:
        self._last_heard = self._clock()
        self.scheduler.activity()

    def _describe(self) -> str:
        chat_every = self.router.chat_every
        parts = [
            f"answers chat at most every {chat_every:g} s" if chat_every else "does not answer chat"
        ]
        idle_after = self.scheduler.idle_after
        if idle_after:
            parts.append(f"talks after {idle_after:g} s of quiet")
        return "; ".join(parts)


def _source_of(item: Input) -> str:
    """The queue source of an answer to ``item``; its approval gate is the part after ai:."""
    if item.kind == "chat":
        return "ai:reply"
    if item.kind in OWN_TALK:
        return "ai:idle"
    if item.kind == "milestone" or item.source == "event":
        return "ai:event"
    return f"ai:{item.source}"
