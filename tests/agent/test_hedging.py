"""Hedging: a link slower than its usual p95 gets company, and the first to speak wins.

Fake providers for the races themselves, the local wire-format peer for what a loser's
HTTP stream sees. No speed is asserted: deadlines are generous and races are won by
seconds, so a busy machine changes nothing but the run time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anthropic
import openai
import pytest

from agent.providers.anthropic_messages import AnthropicMessages
from agent.providers.base import ChatRequest, Delta, Finished, Message, StreamItem
from agent.providers.breaker import BreakerConfig, CircuitBreaker
from agent.providers.openai_compat import OpenAICompatible
from agent.providers.presets import lookup, with_base_url
from agent.providers.retry import RetryPolicy
from agent.providers.router import MIN_TTFT_SAMPLES, Deadlines, Link, RequestOutcome, Router
from tests.peers.llm_server import LLMServer, Reply

ASK = ChatRequest(messages=(Message("user", "hello"),))
PATIENT = Deadlines(first_token=30, gap=30, total=60)
SLOW = 30.0  # seconds: a first token this late only comes if the race is not cancelled
SDKS = (openai, anthropic)  # imported up front, not inside the first request's deadline


@dataclass
class Fake:
    """A provider that says its name after ``first_delay`` and notes being cancelled."""

    name: str
    first_delay: float = 0.0
    fail: bool = False
    calls: int = 0
    cancelled: int = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        self.calls += 1
        try:
            await asyncio.sleep(self.first_delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if self.fail:
            raise ConnectionError("refused")
        yield Delta(self.name)
        yield Finished("stop")

    async def probe(self) -> float:
        return 0.0


def chain(*fakes: Fake) -> list[Link]:
    calm = BreakerConfig(failure_threshold=100, min_calls=100)
    return [Link(f, CircuitBreaker(calm), RetryPolicy(attempts=1)) for f in fakes]


def router(*fakes: Fake, hedge: bool = True) -> tuple[Router, list[RequestOutcome]]:
    outcomes: list[RequestOutcome] = []
    hedged = Router(
        {"reply": chain(*fakes)}, deadlines=PATIENT, on_outcome=outcomes.append, hedge=hedge
    )
    return hedged, outcomes


async def warm(router: Router, fake: Fake, first_delay: float = 0.0) -> None:
    """Give ``fake`` enough quick first tokens for a p95, then forget those outcomes."""
    fake.first_delay = first_delay
    for _ in range(MIN_TTFT_SAMPLES):
        assert (await router.complete("reply", ASK)).provider == fake.name
    fake.calls = 0


async def test_the_p95_needs_enough_samples() -> None:
    primary = Fake("primary")
    hedged, _ = router(primary, Fake("backup"))
    assert hedged.ttft_p95("primary") is None
    for _ in range(MIN_TTFT_SAMPLES - 1):
        await hedged.complete("reply", ASK)
    assert hedged.ttft_p95("primary") is None
    await hedged.complete("reply", ASK)
    p95 = hedged.ttft_p95("primary")
    assert p95 is not None and p95 >= 0
    assert hedged.ttft_p95("backup") is None and hedged.ttft_p95("nobody") is None


async def test_a_slow_link_gets_company_and_the_faster_one_answers() -> None:
    primary, backup = Fake("primary"), Fake("backup")
    hedged, outcomes = router(primary, backup)
    await warm(hedged, primary)
    outcomes.clear()
    primary.first_delay = SLOW
    items = [item async for item in hedged.stream("reply", ASK)]
    assert items == [Delta("backup"), Finished("stop")]  # one voice
    assert (primary.calls, primary.cancelled, backup.calls) == (1, 1, 1)
    assert sorted((o.provider, o.outcome) for o in outcomes) == [
        ("backup", "ok"),
        ("primary", "hedge_lost"),
    ]
    assert hedged.links("reply")[0].breaker.snapshot().consecutive_failures == 0


async def test_the_slow_link_still_wins_when_it_speaks_first() -> None:
    primary, backup = Fake("primary"), Fake("backup", first_delay=SLOW)
    hedged, outcomes = router(primary, backup)
    await warm(hedged, primary, first_delay=0.01)
    outcomes.clear()
    primary.first_delay = 1.5  # past its p95 (a few ms), yet long before the backup
    reply = await hedged.complete("reply", ASK)
    assert reply.provider == "primary" and reply.text == "primary"
    assert (backup.calls, backup.cancelled) == (1, 1)
    assert [(o.provider, o.outcome) for o in outcomes] == [
        ("backup", "hedge_lost"),
        ("primary", "ok"),
    ]


async def test_with_hedging_off_nothing_extra_starts() -> None:
    primary, backup = Fake("primary"), Fake("backup")
    plain, _ = router(primary, backup, hedge=False)
    await warm(plain, primary)
    primary.first_delay = 0.5
    assert (await plain.complete("reply", ASK)).provider == "primary"
    assert backup.calls == 0
    assert plain.ttft_p95("primary") is not None  # samples are kept all the same


async def test_a_link_without_a_p95_is_never_hedged() -> None:
    primary, backup = Fake("primary", first_delay=0.5), Fake("backup")
    hedged, _ = router(primary, backup)
    assert (await hedged.complete("reply", ASK)).provider == "primary"
    assert backup.calls == 0


async def test_a_failure_while_hedging_fails_over_as_usual() -> None:
    primary, backup, last = Fake("primary"), Fake("backup"), Fake("last")
    hedged, outcomes = router(primary, backup, last)
    await warm(hedged, primary)
    outcomes.clear()
    primary.first_delay, backup.first_delay, backup.fail = SLOW, 0.2, True
    reply = await hedged.complete("reply", ASK)
    assert reply.provider == "last"
    assert [(o.provider, o.outcome) for o in outcomes] == [
        ("backup", "failed_over"),  # the second link failed: the third joined the race
        ("primary", "hedge_lost"),
        ("last", "ok"),
    ]


async def test_a_listener_leaving_mid_race_cancels_both() -> None:
    primary, backup = Fake("primary"), Fake("backup")
    hedged, outcomes = router(primary, backup)
    await warm(hedged, primary)
    outcomes.clear()
    primary.first_delay = backup.first_delay = SLOW
    listening = asyncio.create_task(hedged.complete("reply", ASK))
    while backup.calls == 0:
        await asyncio.sleep(0.01)
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening
    assert (primary.cancelled, backup.cancelled) == (1, 1)
    assert outcomes == []  # nobody lost a race: the listener left
    for link in hedged.links("reply"):
        assert link.breaker.acquire() is not None  # no permit left hanging


async def test_the_loser_hangs_up_its_http_stream() -> None:
    async with LLMServer(api_key="sk-hedge") as server:
        server.script(reply=["quick"])
        slow_one = OpenAICompatible(
            with_base_url(lookup("openai"), server.url("/v1")), "sk-hedge", model="m"
        )
        fast_one = AnthropicMessages(
            with_base_url(lookup("anthropic"), server.url()), "sk-hedge", model="m"
        )
        outcomes: list[RequestOutcome] = []
        hedged = Router(
            {"reply": [Link(slow_one), Link(fast_one)]},
            deadlines=PATIENT,
            on_outcome=outcomes.append,
            hedge=True,
        )
        try:
            for _ in range(MIN_TTFT_SAMPLES):
                assert (await hedged.complete("reply", ASK)).provider == "openai"
            server.queue(Reply(["late"], first_delay=SLOW))
            reply = await hedged.complete("reply", ASK)
            assert (reply.text, reply.provider) == ("quick", "anthropic")
            lost, won = server.requests[-2:]
            assert (lost.api, won.api) == ("openai", "anthropic")
            assert await lost.ended(timeout=10) == "client_gone"
            assert await won.ended(timeout=10) == "done"
            assert [o.outcome for o in outcomes[-2:]] == ["hedge_lost", "ok"]
        finally:
            await slow_one.close()
            await fast_one.close()
