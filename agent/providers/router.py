"""The router: one chain of providers per role, tried in order until one speaks.

A chain (``reply``, ``idle``, ...) is an ordered list of ``Link`` values, each a provider with
its own circuit breaker and retry policy. For one request the router walks the chain:

- a link whose breaker refuses the call is skipped without being called;
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

Put the autonomous persona last (``with_autonomous``) and every stream yields a line. A chain
that runs out ends with ``Finished("error")`` and no text.

Each link tried reports a ``RequestOutcome`` to ``on_outcome``: sizes and timings, never the
prompt's text nor a key. Weights for spreading load over links are not implemented yet: links
are always tried in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from agent.providers.autonomous import AutonomousProvider
from agent.providers.base import ChatRequest, Completion, Delta, Finished, Provider, StreamItem
from agent.providers.breaker import CircuitBreaker, Permit
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

Outcome = Literal["ok", "failed_over", "cut", "misconfigured", "refused_by_breaker"]


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
    """How one link of a chain did on one request: for the providers panel and the logs."""

    role: str
    provider: str
    outcome: Outcome
    attempts: int = 0
    ttft: float | None = None
    """Seconds from the last attempt's start to its first token; None when none came."""
    duration: float = 0.0
    """Seconds spent on this link, retries and their delays included."""
    tokens: int = 0
    """Output tokens: the provider's count when it gave one, else the deltas received."""
    prompt_chars: int = 0
    """Size of the prompt; its text never leaves the request."""
    reason: str = ""
    """Why it did not end ``ok``, in a few words; never a key or the prompt."""


@dataclass
class Link:
    """One provider in a chain, with its own breaker and retry policy."""

    provider: Provider
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    policy: RetryPolicy = field(default_factory=RetryPolicy)


def with_autonomous(links: Sequence[Link], persona: str = "Airi") -> list[Link]:
    """A default chain: these links, then the persona that never fails and never waits."""
    return [*links, Link(AutonomousProvider(persona), policy=RetryPolicy(attempts=1))]


class _Cut(Exception):
    """A failure after the first token: the stream ends where it is."""


@dataclass
class _Attempt:
    """What one link did for one request so far."""

    link: Link
    started: float
    attempts: int = 0
    attempt_started: float = 0.0
    ttft: float | None = None
    deltas: int = 0
    finished: Finished | None = None
    failure: Verdict | None = None
    """Why the last attempt failed before its first token."""
    slow: bool = False
    """The last attempt ran out of time before its first token: move on, do not wait again."""


class Router:
    """Chains of providers per role; see the module docstring."""

    def __init__(
        self,
        chains: Mapping[str, Sequence[Link]],
        *,
        deadlines: Deadlines | None = None,
        on_outcome: Callable[[RequestOutcome], None] | None = None,
    ) -> None:
        self.chains = {role: list(links) for role, links in chains.items()}
        self.deadlines = deadlines or Deadlines()
        self._on_outcome = on_outcome

    def stream(self, role: str, request: ChatRequest) -> AsyncIterator[StreamItem]:
        """The answer from the first link of ``role``'s chain that speaks; ends with Finished."""
        return self._serve(role, request, [])

    async def complete(self, role: str, request: ChatRequest) -> Completion:
        """The whole answer at once, with the name of the provider that gave it."""
        answered_by: list[str] = []
        parts: list[str] = []
        finished = Finished("error")
        async for item in self._serve(role, request, answered_by):
            if isinstance(item, Delta):
                parts.append(item.text)
            else:
                finished = item
        provider = answered_by[-1] if answered_by else ""
        return Completion("".join(parts), finished, provider, request.model)

    async def _serve(
        self, role: str, request: ChatRequest, answered_by: list[str]
    ) -> AsyncIterator[StreamItem]:
        if role not in self.chains:
            raise KeyError(f"no provider chain for the role {role!r}: add one to the config")
        for link in self.chains[role]:
            attempt = _Attempt(link, _now())
            async for item in self._try_link(role, request, attempt):
                yield item
            if attempt.deltas:
                answered_by.append(link.provider.name)
                return
        yield Finished("error")

    async def _try_link(
        self, role: str, request: ChatRequest, attempt: _Attempt
    ) -> AsyncIterator[StreamItem]:
        """The link's answer; nothing at all when it failed before its first token."""
        link = attempt.link
        retries = link.policy.start(attempt.started + self.deadlines.total, now=_now)
        while True:
            permit = link.breaker.acquire()
            if permit is None:
                self._report(role, request, attempt, "refused_by_breaker", "its breaker is open")
                return
            with permit:
                try:
                    async for item in self._attempt(request, attempt):
                        yield item
                except _Cut as cut:
                    permit.record_failure(str(cut))
                    self._report(role, request, attempt, "cut", str(cut))
                    yield Finished("error")
                    return
                if attempt.finished is not None:
                    permit.record_success()
                    self._report(role, request, attempt, "ok")
                    return
                delay = self._settle_failure(role, request, attempt, permit, retries)
            if delay is None:
                return
            await asyncio.sleep(delay)

    def _settle_failure(
        self, role: str, request: ChatRequest, attempt: _Attempt, permit: Permit, retries: Retries
    ) -> float | None:
        """Tell the breaker; the delay before retrying this link, or None to move on."""
        verdict = attempt.failure or Fatal("failed for no known reason")
        if isinstance(verdict, ConfigurationError):
            permit.record_misconfigured(verdict.reason, persistent=verdict.persistent)
            self._report(role, request, attempt, "misconfigured", verdict.reason)
            return None
        permit.record_failure(verdict.reason)
        decision = GiveUp(verdict.reason) if attempt.slow else retries.after(verdict)
        if isinstance(decision, GiveUp):
            self._report(role, request, attempt, "failed_over", decision.reason)
            return None
        return decision.delay

    async def _attempt(self, request: ChatRequest, attempt: _Attempt) -> AsyncIterator[StreamItem]:
        """One call: its items, under the deadlines.

        Before the first token a failure ends the iteration quietly, left in
        ``attempt.failure``; after it, a failure raises ``_Cut``.
        """
        attempt.attempts += 1
        attempt.attempt_started = _now()
        attempt.failure, attempt.slow = None, False
        items = attempt.link.provider.stream(request)
        try:
            while (item := await self._next(items, attempt)) is not None:
                if isinstance(item, Finished):
                    attempt.finished = item
                elif attempt.ttft is None:
                    attempt.ttft = _now() - attempt.attempt_started
                attempt.deltas += isinstance(item, Delta)
                yield item
                if attempt.finished is not None:
                    return
        finally:
            if isinstance(items, AsyncGenerator):
                await items.aclose()

    async def _next(self, items: AsyncIterator[StreamItem], attempt: _Attempt) -> StreamItem | None:
        """The next item in time; None once the attempt is over, whole or failed."""
        first = attempt.deltas == 0
        wait = self.deadlines.first_token if first else self.deadlines.gap
        timer = asyncio.timeout_at(min(_now() + wait, attempt.started + self.deadlines.total))
        try:
            async with timer:
                item = await anext(items)
        except StopAsyncIteration:
            return self._ended_early(attempt)
        except Exception as exc:
            verdict = self._timed_out(attempt, wait) if timer.expired() else verdict_of(exc)
            if not first:
                raise _Cut(verdict.reason) from exc
            attempt.failure, attempt.slow = verdict, timer.expired()
            return None
        if first and isinstance(item, Finished):
            attempt.failure = Fatal("answered without a word (an HTML page or an empty stream?)")
            return None
        return item

    def _ended_early(self, attempt: _Attempt) -> StreamItem | None:
        """A stream that stopped without its Finished: whole if it spoke, a failure if not."""
        if attempt.deltas:
            return Finished("stop")
        attempt.failure = Fatal("ended without a word (an HTML page or an empty stream?)")
        return None

    def _timed_out(self, attempt: _Attempt, wait: float) -> Retryable:
        if _now() >= attempt.started + self.deadlines.total:
            return Retryable(f"took longer than {self.deadlines.total:g} s in all")
        if attempt.deltas == 0:
            return Retryable(f"no first token within {wait:g} s")
        return Retryable(f"went silent for {wait:g} s mid-answer")

    def _report(
        self, role: str, request: ChatRequest, attempt: _Attempt, outcome: Outcome, reason: str = ""
    ) -> None:
        if self._on_outcome is None:
            return
        finished = attempt.finished
        used = finished.usage.output_tokens if finished is not None else 0
        self._on_outcome(
            RequestOutcome(
                role=role,
                provider=attempt.link.provider.name,
                outcome=outcome,
                attempts=attempt.attempts,
                ttft=attempt.ttft,
                duration=_now() - attempt.started,
                tokens=used or attempt.deltas,
                prompt_chars=sum(len(m.content) for m in request.messages),
                reason=reason,
            )
        )


def _now() -> float:
    # The event loop's clock, the one asyncio.timeout_at measures deadlines on.
    return asyncio.get_running_loop().time()
