"""The router: one chain of providers per role, tried in order until one speaks.

A chain (``reply``, ``idle``, ...) is an ordered list of ``Link`` values, each a provider with
its own circuit breaker, retry policy and, optionally, rate limiter. For one request the router
walks the chain:

- a link whose breaker refuses the call is skipped without being called; so is one whose rate
  limiter would hold the request back longer than ``rate_wait`` seconds (a shorter wait is
  waited out). The limiter is charged an estimate (prompt characters / 4 + ``max_tokens``),
  settled with the usage the provider reports;
- before the first token, a ``Retryable`` failure is retried on the same link after the
  policy's delay (Retry-After honoured, never past the link's total deadline); any other
  failure, or a retry budget spent, moves on to the next link silently. A configuration
  problem (401, 404, ...) is recorded as such, not as an outage, and never retried. A stream
  that ends without a single token (an HTML page answered with 200) is a failure too;
- no first token within ``first_token`` seconds (connecting included): the provider is slow
  right now, so the router moves on at once rather than wait for it again;
- after the first token nothing is retried and nothing fails over, because the viewer has
  already heard the start: a failure or a silence longer than ``gap`` ends the stream with
  ``Finished("error")`` after what was said, and the breaker hears of the outage.

Anything a provider yields before its ``Finished`` is output: a text ``Delta`` and a tool call
alike count as the first token, so a reply that only calls tools is an answer.

**Tiers and weights.** A chain is an ordered list of tiers. Consecutive links that share a
non-empty ``group`` form one tier; every other link is a tier of its own. Tiers are tried in
order. Within a tier the first link tried is picked at random in proportion to its ``weight``,
and the others follow in weighted random order (sampling without replacement); links of weight
0 come last in their tier, in the order given. So ``[a(group="fast", weight=3),
b(group="fast", weight=1), persona]`` sends three requests in four to ``a`` first, and every
request can still fail over to ``b`` and then to the persona. The RNG is injectable (``rng``).

**Hedging** (``hedge=True``, off by default). The router keeps each provider's last
``TTFT_SAMPLES`` times to first token. When the link being tried has a p95 (at least
``MIN_TTFT_SAMPLES`` samples) and no first token came within it, the next link of the chain
starts alongside; whichever speaks first wins and the other is cancelled: its HTTP stream
closed, its breaker permit abandoned (a lost race says nothing about a provider's health) and
its outcome ``hedge_lost``. At most two links race at once, only before the first token: the
viewer never hears two voices.

Chains can be replaced live (``set_chain``): a request keeps the chain it started with.

Put the autonomous persona last (``with_autonomous``) and every stream yields a line. A chain
that runs out ends with ``Finished("error")`` and no text.

Each link tried reports a ``RequestOutcome`` to ``on_outcome``: model, sizes, token counts and
timings (enough for the agent to price a call), never the prompt's text nor a key.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from agent.providers.autonomous import AutonomousProvider
from agent.providers.base import (
    ChatRequest,
    Completion,
    Delta,
    Finished,
    Provider,
    StreamItem,
    ToolCall,
)
from agent.providers.breaker import CircuitBreaker, Permit
from agent.providers.limits import RateLimiter
from agent.providers.retry import (
    ConfigurationError,
    Fatal,
    GiveUp,
    Retries,
    Retryable,
    RetryPolicy,
    Verdict,
)
from agent.providers.sdk_errors import verdict_of

Outcome = Literal[
    "ok", "failed_over", "cut", "misconfigured", "refused_by_breaker", "rate_limited", "hedge_lost"
]

TTFT_SAMPLES = 50
"""Times to first token kept per provider, for ``Router.ttft_p95`` and hedging."""
MIN_TTFT_SAMPLES = 10
"""Samples a provider needs before its p95 means anything."""


class Deadlines(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How long the router waits for a provider, in seconds."""

    first_token: Annotated[
        float,
        Meta(gt=0, description="From sending a request (connecting included) to its first token."),
    ] = 8.0
    gap: Annotated[
        float, Meta(gt=0, description="Longest silence between two tokens before the line is cut.")
    ] = 10.0
    total: Annotated[
        float,
        Meta(gt=0, description="Longest one link may take, its retries and whole answer included."),
    ] = 60.0


class RequestOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """How one link of a chain did on one request: for the providers panel, logs and costs."""

    role: str
    provider: str
    outcome: Outcome
    model: str = ""
    """The request's model, else the provider's own; empty for one without models."""
    attempts: int = 0
    ttft: float | None = None
    """Seconds from the last attempt's start to its first token; None when none came."""
    duration: float = 0.0
    """Seconds spent on this link, retries and their delays included."""
    tokens: int = 0
    """Output tokens: the provider's count when it gave one, else the items received."""
    input_tokens: int = 0
    """Prompt tokens as the provider counted them; 0 when it did not say."""
    output_tokens: int = 0
    """Answer tokens as the provider counted them; 0 when it did not say."""
    tokens_per_second: float | None = None
    """``tokens`` over the time from the first token to the end; None without a first token."""
    prompt_chars: int = 0
    """Size of the prompt; its text never leaves the request."""
    reason: str = ""
    """Why it did not end ``ok``, in a few words; never a key or the prompt."""


@dataclass
class Link:
    """One provider in a chain, with its own breaker, retry policy and rate limits."""

    provider: Provider
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    weight: float = 1.0
    """Share of its tier's requests that try this link first; 0: only as the tier's fallback."""
    group: str = ""
    """Consecutive links with the same non-empty group form one tier; see the module doc."""
    limiter: RateLimiter | None = None


def with_autonomous(links: Sequence[Link], persona: str = "Airi") -> list[Link]:
    """A default chain: these links, then the persona that never fails and never waits."""
    return [*links, Link(AutonomousProvider(persona), policy=RetryPolicy(attempts=1))]


Tier = tuple[Link, ...]


def tiers(links: Sequence[Link]) -> tuple[Tier, ...]:
    """The chain's tiers, in order: runs of links sharing a non-empty group, else single links."""
    grouped: list[list[Link]] = []
    for link in links:
        if grouped and link.group and grouped[-1][-1].group == link.group:
            grouped[-1].append(link)
        else:
            grouped.append([link])
    return tuple(tuple(tier) for tier in grouped)


def weighted_order(tier: Tier, rng: random.Random) -> Tier:
    """The tier in the order to try it: weighted sampling without replacement, weight 0 last."""
    if len(tier) == 1:
        return tier
    weighted = [link for link in tier if link.weight > 0]
    # Efraimidis-Spirakis: sorting by u ** (1 / w) draws links one by one in proportion to w.
    keys = {id(link): rng.random() ** (1 / link.weight) for link in weighted}
    weighted.sort(key=lambda link: keys[id(link)], reverse=True)
    return (*weighted, *(link for link in tier if link.weight <= 0))


class _Cut(Exception):
    """A failure after the first token: the stream ends where it is."""


@dataclass(frozen=True)
class _Ask:
    """One request to a role, with the sizes every link's report and limiter need."""

    role: str
    request: ChatRequest
    prompt_chars: int
    estimated_tokens: int

    @classmethod
    def of(cls, role: str, request: ChatRequest) -> _Ask:
        chars = sum(len(m.content) for m in request.messages)
        return cls(role, request, chars, chars // 4 + request.max_tokens)


@dataclass
class _Attempt:
    """What one link did for one request so far."""

    link: Link
    started: float
    attempts: int = 0
    attempt_started: float = 0.0
    ttft: float | None = None
    first_at: float | None = None
    outputs: int = 0
    """Items before the Finished: deltas and tool calls."""
    finished: Finished | None = None
    failure: Verdict | None = None
    """Why the last attempt failed before its first token."""
    slow: bool = False
    """The last attempt ran out of time before its first token: move on, do not wait again."""


@dataclass
class _Racer:
    """A link racing for the first token while hedging: its items and the wait for the first."""

    attempt: _Attempt
    items: AsyncGenerator[StreamItem, None]
    first: asyncio.Task[StreamItem | None]


class _Watchdog:
    """The deadline of the item being awaited, on one timer for the whole attempt.

    ``asyncio.timeout`` around every token arms and cancels a timer per delta, which was most
    of the router's cost per token. This keeps one timer armed for the earliest deadline set;
    when it fires it looks at the deadline of the wait in progress: passed, it cancels the
    waiting task as ``asyncio.timeout`` does; not yet, it re-arms for it; no wait in progress,
    it lets the next ``start`` arm it. Between two tokens only a float and a task change hands.
    """

    __slots__ = ("_armed_at", "_at", "_before", "_fired", "_handle", "_loop", "_task")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self._armed_at = math.inf
        self._at = math.inf
        self._task: asyncio.Task[object] | None = None
        self._before = 0
        self._fired = False

    def start(self, at: float) -> None:
        """The current task waits for an item until ``at`` (on the loop's clock)."""
        self._at, self._task, self._fired = at, asyncio.current_task(), False
        if at < self._armed_at:
            self._arm(at)

    def stop(self) -> None:
        """The wait is over, however it ended."""
        self._task = None

    def expired(self) -> bool:
        """Whether the wait that just failed was cut by the deadline; its cancel taken back."""
        if not self._fired or self._task is None:
            return False
        self._fired = False
        return self._task.uncancel() <= self._before

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._armed_at, self._task = None, math.inf, None

    def _arm(self, at: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._armed_at = self._loop.call_at(at, self._fire), at

    def _fire(self) -> None:
        self._handle, self._armed_at = None, math.inf
        task = self._task
        if task is None:
            return
        if self._loop.time() + _CLOCK_SLACK < self._at:
            self._arm(self._at)
            return
        self._before, self._fired = task.cancelling(), True
        task.cancel()


_CLOCK_SLACK = 0.001
"""A timer may fire this early: the loop runs handles due within its clock's resolution."""


class Router:
    """Chains of providers per role; see the module docstring."""

    def __init__(
        self,
        chains: Mapping[str, Sequence[Link]],
        *,
        deadlines: Deadlines | None = None,
        on_outcome: Callable[[RequestOutcome], None] | None = None,
        hedge: bool = False,
        rate_wait: float = 0.25,
        rng: random.Random | None = None,
    ) -> None:
        self.deadlines = deadlines or Deadlines()
        self.hedge = hedge
        self.rate_wait = rate_wait
        """Longest a rate limit may hold a request back before the link is skipped, in s."""
        self._on_outcome = on_outcome
        self._rng = rng or random.Random()
        self._chains: dict[str, tuple[Tier, ...]] = {}
        self._ttft: dict[str, deque[float]] = {}
        for role, links in chains.items():
            self.set_chain(role, links)

    def set_chain(self, role: str, links: Sequence[Link]) -> None:
        """Replace ``role``'s chain at once; requests in flight finish on the one they had."""
        self._chains[role] = tiers(links)

    def links(self, role: str) -> tuple[Link, ...]:
        """``role``'s chain as configured, in order."""
        return tuple(link for tier in self._tiers(role) for link in tier)

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self._chains)

    def ttft_p95(self, provider_name: str) -> float | None:
        """The 95th percentile of the provider's recent times to first token, in seconds."""
        samples = sorted(self._ttft.get(provider_name, ()))
        if len(samples) < MIN_TTFT_SAMPLES:
            return None
        return samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]

    def stream(self, role: str, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """The answer from the first link of ``role``'s chain that speaks; ends with Finished."""
        serve = self._race if self.hedge else self._in_turn
        return serve(_Ask.of(role, request), [])

    async def complete(self, role: str, request: ChatRequest) -> Completion:
        """The whole answer at once, with the name of the provider that gave it."""
        answered_by: list[str] = []
        parts: list[str] = []
        calls: list[ToolCall] = []
        finished = Finished("error")
        serve = self._race if self.hedge else self._in_turn
        async for item in serve(_Ask.of(role, request), answered_by):
            match item:
                case Delta(text):
                    parts.append(text)
                case ToolCall():
                    calls.append(item)
                case Finished():
                    finished = item
        provider = answered_by[-1] if answered_by else ""
        return Completion("".join(parts), finished, provider, request.model, tuple(calls))

    def _tiers(self, role: str) -> tuple[Tier, ...]:
        try:
            return self._chains[role]
        except KeyError:
            raise KeyError(
                f"no provider chain for the role {role!r}: add one to the config"
            ) from None

    def _order(self, role: str) -> list[Link]:
        return [link for tier in self._tiers(role) for link in weighted_order(tier, self._rng)]

    # --- one link after another ----------------------------------------------------------------

    async def _in_turn(self, ask: _Ask, answered_by: list[str]) -> AsyncIterator[StreamItem]:
        for link in self._order(ask.role):
            attempt = _Attempt(link, _now())
            async with aclosing(self._try_link(ask, attempt)) as items:
                async for item in items:
                    yield item
            if attempt.outputs:
                answered_by.append(link.provider.name)
                return
        yield Finished("error")

    # --- hedged: a slow link gets company ------------------------------------------------------

    async def _race(self, ask: _Ask, answered_by: list[str]) -> AsyncIterator[StreamItem]:
        waiting = self._order(ask.role)
        waiting.reverse()  # popped from the end: the chain's order
        racers: list[_Racer] = []
        try:
            winner = await self._first_to_speak(ask, waiting, racers)
            if winner is None:
                yield Finished("error")
                return
            racers.remove(winner)
            await self._drop(racers, ask)
            first = winner.first.result()
            assert first is not None  # a winner is one whose first item came
            yield first
            async with aclosing(winner.items) as items:
                async for item in items:
                    yield item
            answered_by.append(winner.attempt.link.provider.name)
        finally:
            await self._drop(racers, None)  # the listener left mid-race: nobody to report to

    async def _first_to_speak(
        self, ask: _Ask, waiting: list[Link], racers: list[_Racer]
    ) -> _Racer | None:
        """The racer whose first token came first; None when the whole chain failed."""
        while racers or waiting:
            if not racers:
                racers.append(self._start(ask, waiting.pop()))
            done, _ = await asyncio.wait(
                [r.first for r in racers],
                timeout=self._hedge_in(racers, waiting),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:  # the p95 went by without a word: the next link joins in
                racers.append(self._start(ask, waiting.pop()))
                continue
            for racer in [r for r in racers if r.first in done]:
                if racer.first.result() is not None:
                    return racer
                racers.remove(racer)  # it failed and said so itself; the others race on
        return None

    def _start(self, ask: _Ask, link: Link) -> _Racer:
        attempt = _Attempt(link, _now())
        items = self._try_link(ask, attempt)
        return _Racer(attempt, items, asyncio.create_task(_first_item(items)))

    def _hedge_in(self, racers: list[_Racer], waiting: list[Link]) -> float | None:
        """Seconds until the next link joins in; None: not now (no p95, no link, two racing)."""
        if len(racers) > 1 or not waiting:
            return None
        newest = racers[-1].attempt
        p95 = self.ttft_p95(newest.link.provider.name)
        return None if p95 is None else max(0.0, newest.started + p95 - _now())

    async def _drop(self, losers: list[_Racer], ask: _Ask | None) -> None:
        """Cancel these racers: streams closed, permits abandoned, ``hedge_lost`` reported."""
        for racer in losers:
            racer.first.cancel()
        if losers:
            await asyncio.wait([r.first for r in losers])
        for racer in losers:
            await racer.items.aclose()
            if ask is not None:
                self._report(ask, racer.attempt, "hedge_lost", "another link spoke first")
        losers.clear()

    # --- one link ------------------------------------------------------------------------------

    async def _try_link(self, ask: _Ask, attempt: _Attempt) -> AsyncGenerator[StreamItem, None]:
        """The link's answer; nothing at all when it failed before its first token."""
        link = attempt.link
        retries = link.policy.start(attempt.started + self.deadlines.total, now=_now, rng=self._rng)
        while True:
            permit = link.breaker.acquire()
            if permit is None:
                self._report(ask, attempt, "refused_by_breaker", "its breaker is open")
                return
            with permit:
                if not await self._within_limits(ask, attempt):
                    return
                try:
                    async with aclosing(self._attempt(ask.request, attempt)) as items:
                        async for item in items:
                            yield item
                except _Cut as cut:
                    permit.record_failure(str(cut))
                    self._report(ask, attempt, "cut", str(cut))
                    yield Finished("error")
                    return
                if attempt.finished is not None:
                    permit.record_success()
                    self._settle_limits(ask, attempt)
                    self._report(ask, attempt, "ok")
                    return
                delay = self._settle_failure(ask, attempt, permit, retries)
            if delay is None:
                return
            await asyncio.sleep(delay)

    async def _within_limits(self, ask: _Ask, attempt: _Attempt) -> bool:
        """Wait out a short rate-limit delay and charge the limiter; False: skip the link."""
        limiter = attempt.link.limiter
        if limiter is None:
            return True
        delay = limiter.delay(ask.estimated_tokens)
        if delay > self.rate_wait:
            self._report(ask, attempt, "rate_limited", f"its rate limit frees up in {delay:.1f} s")
            return False
        if delay > 0:
            await asyncio.sleep(delay)
        limiter.take(ask.estimated_tokens)
        return True

    def _settle_limits(self, ask: _Ask, attempt: _Attempt) -> None:
        limiter, finished = attempt.link.limiter, attempt.finished
        if limiter is None or finished is None:
            return
        used = finished.usage.input_tokens + finished.usage.output_tokens
        if used:
            limiter.settle(ask.estimated_tokens, used)

    def _settle_failure(
        self, ask: _Ask, attempt: _Attempt, permit: Permit, retries: Retries
    ) -> float | None:
        """Tell the breaker; the delay before retrying this link, or None to move on."""
        verdict = attempt.failure or Fatal("failed for no known reason")
        if isinstance(verdict, ConfigurationError):
            permit.record_misconfigured(verdict.reason, persistent=verdict.persistent)
            self._report(ask, attempt, "misconfigured", verdict.reason)
            return None
        permit.record_failure(verdict.reason)
        decision = GiveUp(verdict.reason) if attempt.slow else retries.after(verdict)
        if isinstance(decision, GiveUp):
            self._report(ask, attempt, "failed_over", decision.reason)
            return None
        return decision.delay

    async def _attempt(
        self, request: ChatRequest, attempt: _Attempt
    ) -> AsyncGenerator[StreamItem, None]:
        """One call: its items, under the deadlines.

        Before the first token a failure ends the iteration quietly, left in
        ``attempt.failure``; after it, a failure raises ``_Cut``.
        """
        attempt.attempts += 1
        attempt.attempt_started = _now()
        attempt.failure, attempt.slow = None, False
        items = attempt.link.provider.stream(request)
        watchdog = _Watchdog()
        try:
            while (item := await self._next(items, attempt, watchdog)) is not None:
                if isinstance(item, Finished):
                    attempt.finished = item
                else:
                    if attempt.first_at is None:
                        self._first_token(attempt)
                    attempt.outputs += 1
                yield item
                if attempt.finished is not None:
                    return
        finally:
            watchdog.close()
            if isinstance(items, AsyncGenerator):
                await items.aclose()

    def _first_token(self, attempt: _Attempt) -> None:
        attempt.first_at = _now()
        attempt.ttft = attempt.first_at - attempt.attempt_started
        name = attempt.link.provider.name
        samples = self._ttft.get(name)
        if samples is None:
            samples = self._ttft[name] = deque(maxlen=TTFT_SAMPLES)
        samples.append(attempt.ttft)

    async def _next(
        self, items: AsyncIterator[StreamItem], attempt: _Attempt, watchdog: _Watchdog
    ) -> StreamItem | None:
        """The next item in time; None once the attempt is over, whole or failed."""
        first = attempt.outputs == 0
        wait = self.deadlines.first_token if first else self.deadlines.gap
        watchdog.start(min(_now() + wait, attempt.started + self.deadlines.total))
        try:
            item = await anext(items)
        except StopAsyncIteration:
            return self._ended_early(attempt)
        except (Exception, asyncio.CancelledError) as exc:
            expired = watchdog.expired()
            if isinstance(exc, asyncio.CancelledError) and not expired:
                raise  # cancelled from outside: a lost race, a listener gone
            verdict = self._timed_out(attempt, wait) if expired else verdict_of(exc)
            if not first:
                raise _Cut(verdict.reason) from exc
            attempt.failure, attempt.slow = verdict, expired
            return None
        finally:
            watchdog.stop()
        if first and isinstance(item, Finished):
            attempt.failure = Fatal("answered without a word (an HTML page or an empty stream?)")
            return None
        return item

    def _ended_early(self, attempt: _Attempt) -> StreamItem | None:
        """A stream that stopped without its Finished: whole if it spoke, a failure if not."""
        if attempt.outputs:
            return Finished("stop")
        attempt.failure = Fatal("ended without a word (an HTML page or an empty stream?)")
        return None

    def _timed_out(self, attempt: _Attempt, wait: float) -> Retryable:
        if _now() >= attempt.started + self.deadlines.total:
            return Retryable(f"took longer than {self.deadlines.total:g} s in all")
        if attempt.outputs == 0:
            return Retryable(f"no first token within {wait:g} s")
        return Retryable(f"went silent for {wait:g} s mid-answer")

    def _report(self, ask: _Ask, attempt: _Attempt, outcome: Outcome, reason: str = "") -> None:
        if self._on_outcome is None:
            return
        provider = attempt.link.provider
        finished = attempt.finished
        usage_in = finished.usage.input_tokens if finished is not None else 0
        usage_out = finished.usage.output_tokens if finished is not None else 0
        tokens = usage_out or attempt.outputs
        now = _now()
        streamed = now - attempt.first_at if attempt.first_at is not None else 0.0
        self._on_outcome(
            RequestOutcome(
                role=ask.role,
                provider=provider.name,
                outcome=outcome,
                model=ask.request.model or str(getattr(provider, "model", "") or ""),
                attempts=attempt.attempts,
                ttft=attempt.ttft,
                duration=now - attempt.started,
                tokens=tokens,
                input_tokens=usage_in,
                output_tokens=usage_out,
                tokens_per_second=tokens / streamed if streamed > 0 else None,
                prompt_chars=ask.prompt_chars,
                reason=reason,
            )
        )


async def _first_item(items: AsyncIterator[StreamItem]) -> StreamItem | None:
    return await anext(items, None)


def _now() -> float:
    # The event loop's clock, the one asyncio.timeout_at measures deadlines on.
    return asyncio.get_running_loop().time()
