"""The router against a local server speaking OpenAI's and Anthropic's wire formats.

Real SDK adapters, real sockets; only the deadlines are shrunk so the file runs in seconds.
Every outcome a test produces is checked for the key and the prompt's text on the way out.
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anthropic
import msgspec
import openai
import pytest

from agent.providers.anthropic_messages import AnthropicMessages
from agent.providers.base import (
    ChatRequest,
    Delta,
    Finished,
    Message,
    Provider,
    StreamItem,
    ToolCall,
    Usage,
)
from agent.providers.breaker import BreakerConfig, CircuitBreaker
from agent.providers.limits import RateLimiter, RateLimits
from agent.providers.openai_compat import OpenAICompatible
from agent.providers.presets import lookup, with_base_url
from agent.providers.retry import RetryPolicy
from agent.providers.router import Deadlines, Link, RequestOutcome, Router, with_autonomous
from tests.peers.llm_server import Fail, Hang, Html, LLMServer, Reply

KEY = "sk-router-test-0123456789"
WRONG_KEY = "sk-wrong-router-key-98765"
PROMPT = "tell me about the pineapple heist"
ASK = ChatRequest(messages=(Message("system", "You are Airi."), Message("user", PROMPT)))
DEADLINES = Deadlines(first_token=0.6, gap=0.4, total=3.0)
QUICK = RetryPolicy(attempts=3, base_delay=0.01, max_delay=1.0)
# The adapters import their SDK on first use, a blocking second that would otherwise be spent
# inside the first request's first-token deadline.
SDKS = (openai, anthropic)


@dataclass
class Bench:
    server: LLMServer
    outcomes: list[RequestOutcome] = field(default_factory=list)
    adapters: list[OpenAICompatible | AnthropicMessages] = field(default_factory=list)

    def openai(self, key: str = KEY, policy: RetryPolicy = QUICK, **breaker: float) -> Link:
        preset = with_base_url(lookup("openai"), self.server.url("/v1"))
        adapter = OpenAICompatible(preset, key, model="m")
        self.adapters.append(adapter)
        return self._link(adapter, policy, breaker)

    def anthropic(self, key: str = KEY, policy: RetryPolicy = QUICK, **breaker: float) -> Link:
        preset = with_base_url(lookup("anthropic"), self.server.url())
        adapter = AnthropicMessages(preset, key, model="m")
        self.adapters.append(adapter)
        return self._link(adapter, policy, breaker)

    def link(self, api: str) -> Link:
        return self.openai() if api == "openai" else self.anthropic()

    def router(self, *links: Link, autonomous: bool = True) -> Router:
        chain = with_autonomous(links) if autonomous else list(links)
        return Router({"reply": chain}, deadlines=DEADLINES, on_outcome=self.outcomes.append)

    def kinds(self) -> list[tuple[str, str]]:
        return [(o.provider, o.outcome) for o in self.outcomes]

    def _link(self, provider: Provider, policy: RetryPolicy, breaker: dict[str, float]) -> Link:
        threshold, cooldown = int(breaker.get("failure_threshold", 5)), breaker.get("cooldown", 5.0)
        config = BreakerConfig(failure_threshold=threshold, cooldown=cooldown)
        return Link(provider, CircuitBreaker(config), policy)


@pytest.fixture
async def bench() -> AsyncIterator[Bench]:
    async with LLMServer(api_key=KEY) as server:
        running = Bench(server)
        yield running
        for adapter in running.adapters:
            await adapter.close()
        for outcome in running.outcomes:
            said = msgspec.json.encode(outcome).decode()
            assert KEY not in said and WRONG_KEY not in said
            # Even a masked key ends in its last four characters.
            assert KEY[-4:] not in outcome.reason and WRONG_KEY[-4:] not in outcome.reason
            assert "pineapple" not in said and "Airi." not in said
            assert outcome.prompt_chars == len(PROMPT) + len("You are Airi.")


async def heard(router: Router) -> list[StreamItem]:
    return [item async for item in router.stream("reply", ASK)]


def text(items: list[StreamItem]) -> list[str]:
    return [item.text for item in items if isinstance(item, Delta)]


def ending(items: list[StreamItem]) -> Finished:
    assert isinstance(items[-1], Finished)
    return items[-1]


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_a_healthy_provider_answers_and_is_reported_ok(bench: Bench, api: str) -> None:
    bench.server.script(reply=["Hello", " chat", "!"])
    items = await heard(bench.router(bench.link(api)))
    assert text(items) == ["Hello", " chat", "!"]
    assert ending(items).reason == "stop" and ending(items).usage.output_tokens == 3
    (outcome,) = bench.outcomes
    assert outcome.outcome == "ok" and outcome.attempts == 1 and outcome.tokens == 3
    assert outcome.ttft is not None and 0 < outcome.ttft <= outcome.duration < 1


async def test_a_500_is_retried_on_the_same_link(bench: Bench) -> None:
    bench.server.queue(Fail(500), Reply(["ok"]))
    reply = await bench.router(bench.openai()).complete("reply", ASK)
    assert (reply.text, reply.provider) == ("ok", "openai")
    assert len(bench.server.requests) == 2
    assert bench.kinds() == [("openai", "ok")] and bench.outcomes[0].attempts == 2


async def test_a_429_waits_as_long_as_retry_after_asks(bench: Bench) -> None:
    bench.server.queue(Fail(429, retry_after=0.3), Reply(["ok"]))
    started = time.monotonic()
    reply = await bench.router(bench.anthropic()).complete("reply", ASK)
    assert (reply.text, reply.provider) == ("ok", "anthropic")
    assert time.monotonic() - started >= 0.3
    assert len(bench.server.requests) == 2


async def test_a_429_asking_past_the_deadline_moves_on_at_once(bench: Bench) -> None:
    bench.server.queue(Fail(429, retry_after=3.5))  # under max_delay, past the total deadline
    patient = RetryPolicy(attempts=3, base_delay=0.01, max_delay=10.0)
    started = time.monotonic()
    reply = await bench.router(bench.openai(policy=patient), bench.anthropic()).complete(
        "reply", ASK
    )
    assert reply.provider == "anthropic" and time.monotonic() - started < 1.0
    assert [r.api for r in bench.server.requests] == ["openai", "anthropic"]
    assert bench.kinds() == [("openai", "failed_over"), ("anthropic", "ok")]
    assert "no time left" in bench.outcomes[0].reason


async def test_a_refused_key_goes_to_the_next_link_reported_misconfigured(bench: Bench) -> None:
    bench.server.script(reply=["fine"])
    wrong = bench.openai(key=WRONG_KEY)
    router = bench.router(wrong, bench.anthropic())
    reply = await router.complete("reply", ASK)
    assert (reply.text, reply.provider) == ("fine", "anthropic")
    assert [r.api for r in bench.server.requests] == ["openai", "anthropic"]  # no retry
    assert bench.kinds() == [("openai", "misconfigured"), ("anthropic", "ok")]
    assert "API key" in bench.outcomes[0].reason and "401" in bench.outcomes[0].reason
    assert wrong.breaker.snapshot().misconfigured
    await router.complete("reply", ASK)  # held back: the key will not fix itself
    assert len(bench.server.requests) == 3
    assert bench.kinds()[2] == ("openai", "refused_by_breaker")


async def test_a_server_hanging_before_headers_fails_over_at_the_first_token_deadline(
    bench: Bench,
) -> None:
    bench.server.queue(Hang())
    started = time.monotonic()
    items = await heard(bench.router(bench.openai(), bench.anthropic()))
    waited = time.monotonic() - started
    assert text(items) == ["Hello", "!"] and ending(items).reason == "stop"
    assert DEADLINES.first_token <= waited < DEADLINES.first_token + 1.0
    assert bench.kinds() == [("openai", "failed_over"), ("anthropic", "ok")]
    assert "first token" in bench.outcomes[0].reason and bench.outcomes[0].attempts == 1


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_a_reset_mid_stream_ends_after_what_was_said(bench: Bench, api: str) -> None:
    bench.server.queue(Reply(["Hel", "lo"], end="reset"))
    link = bench.link(api)
    items = await heard(bench.router(link))
    assert items == [Delta("Hel"), Delta("lo"), Finished("error")]
    assert len(bench.server.requests) == 1  # no retry, no failover: nothing said twice
    assert bench.kinds() == [(api, "cut")]
    assert "connection" in bench.outcomes[0].reason and bench.outcomes[0].tokens == 2
    assert link.breaker.snapshot().consecutive_failures == 1


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_silence_after_the_first_token_cuts_at_the_gap_deadline(
    bench: Bench, api: str
) -> None:
    bench.server.queue(Reply(["Hi", " there"], end="hang"))
    started = time.monotonic()
    items = await heard(bench.router(bench.link(api)))
    assert items == [Delta("Hi"), Delta(" there"), Finished("error")]
    assert DEADLINES.gap <= time.monotonic() - started < DEADLINES.gap + 1.0
    assert bench.kinds() == [(api, "cut")] and "silent" in bench.outcomes[0].reason


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_a_malformed_event_before_the_first_token_fails_over(bench: Bench, api: str) -> None:
    bench.server.queue(Reply((), end="malformed"))
    items = await heard(bench.router(bench.link(api)))
    assert text(items) and ending(items).reason == "stop"
    assert bench.kinds() == [(api, "failed_over"), ("autonomous", "ok")]
    assert "malformed" in bench.outcomes[0].reason
    assert len(bench.server.requests) == 1  # not the API's format: no point asking again


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_an_html_page_with_200_fails_over(bench: Bench, api: str) -> None:
    bench.server.queue(Html())
    reply = await bench.router(bench.link(api)).complete("reply", ASK)
    assert reply.provider == "autonomous" and reply.text
    assert bench.kinds() == [(api, "failed_over"), ("autonomous", "ok")]
    assert "without a word" in bench.outcomes[0].reason


async def test_the_breaker_opens_and_the_link_is_no_longer_called(bench: Bench) -> None:
    bench.server.script(Fail(503))
    once = RetryPolicy(attempts=1)
    router = bench.router(bench.openai(policy=once, failure_threshold=2, cooldown=60))
    for _ in range(4):
        assert (await router.complete("reply", ASK)).provider == "autonomous"
    assert len(bench.server.requests) == 2
    assert [kind for _, kind in bench.kinds() if kind != "ok"] == [
        "failed_over",
        "failed_over",
        "refused_by_breaker",
        "refused_by_breaker",
    ]


async def test_with_everything_down_the_persona_still_answers(bench: Bench) -> None:
    bench.server.script(Fail(503))
    router = bench.router(bench.openai(), bench.anthropic())
    reply = await router.complete("reply", ASK)
    assert reply.provider == "autonomous" and reply.finished.reason == "stop" and reply.text
    assert [r.api for r in bench.server.requests] == ["openai"] * 3 + ["anthropic"] * 3
    assert bench.kinds() == [
        ("openai", "failed_over"),
        ("anthropic", "failed_over"),
        ("autonomous", "ok"),
    ]


async def test_a_chain_that_runs_out_ends_with_an_error_and_no_text(bench: Bench) -> None:
    bench.server.script(Fail(503))
    items = await heard(
        bench.router(bench.openai(policy=RetryPolicy(attempts=1)), autonomous=False)
    )
    assert items == [Finished("error")]


async def test_an_unknown_role_says_what_to_configure(bench: Bench) -> None:
    with pytest.raises(KeyError, match="idle"):
        await bench.router(bench.openai()).complete("idle", ASK)


async def test_an_overloaded_event_before_the_first_token_is_retried(bench: Bench) -> None:
    bench.server.queue(Reply((), end="error"))  # Anthropic's in-stream overloaded_error
    reply = await bench.router(bench.anthropic()).complete("reply", ASK)
    assert (reply.text, reply.provider) == ("Hello!", "anthropic")
    assert bench.kinds() == [("anthropic", "ok")] and bench.outcomes[0].attempts == 2


async def test_an_error_event_without_a_status_fails_over(bench: Bench) -> None:
    bench.server.queue(Reply((), end="error"))  # OpenAI's in-stream server_error, no code
    reply = await bench.router(bench.openai()).complete("reply", ASK)
    assert reply.provider == "autonomous" and len(bench.server.requests) == 1
    assert "server_error" in bench.outcomes[0].reason


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_an_error_event_mid_answer_cuts(bench: Bench, api: str) -> None:
    bench.server.queue(Reply(["Hi"], end="error"))
    assert await heard(bench.router(bench.link(api))) == [Delta("Hi"), Finished("error")]
    assert bench.kinds() == [(api, "cut")] and "error event" in bench.outcomes[0].reason


def test_the_router_does_not_import_the_sdks() -> None:
    # Starting the agent must not pay for the SDKs: they load on a provider's first call.
    sdks = "{'openai', 'anthropic', 'httpx2'}"
    probe = f"import sys, agent.providers.router; print(sorted({sdks} & set(sys.modules)))"
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"


# --- fake providers: weights, limits, live chains, outcome figures --------------------------


@dataclass
class Fake:
    """A provider without a network: says ``items`` after ``first_delay``, or fails."""

    name: str
    items: tuple[object, ...] = (Delta("hi"), Finished("stop"))
    first_delay: float = 0.0
    fail: bool = False
    model: str = "fake-1"
    calls: int = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        self.calls += 1
        await asyncio.sleep(self.first_delay)
        if self.fail:
            raise ConnectionError("refused")
        for item in self.items:
            yield item  # type: ignore[misc]

    async def probe(self) -> float:
        return 0.0


def fake_router(*links: Link, **options: object) -> tuple[Router, list[RequestOutcome]]:
    outcomes: list[RequestOutcome] = []
    router = Router({"reply": links}, on_outcome=outcomes.append, **options)  # type: ignore[arg-type]
    return router, outcomes


ONCE = RetryPolicy(attempts=1)


async def test_an_outcome_carries_model_usage_and_speed(bench: Bench) -> None:
    bench.server.queue(Reply(["a", "b", "c", "d"], delay=0.02, input_tokens=11, output_tokens=7))
    await bench.router(bench.openai()).complete("reply", ASK)
    (outcome,) = bench.outcomes
    assert outcome.model == "m"  # the provider's model: the request named none
    assert (outcome.input_tokens, outcome.output_tokens, outcome.tokens) == (11, 7, 7)
    assert outcome.tokens_per_second is not None and outcome.tokens_per_second > 0


async def test_the_request_model_wins_and_a_link_that_failed_has_no_speed() -> None:
    router, outcomes = fake_router(Link(Fake("down", fail=True), policy=ONCE), Link(Fake("up")))
    ask = ChatRequest(messages=ASK.messages, model="big-1")
    await router.complete("reply", ask)
    assert [(o.provider, o.model) for o in outcomes] == [("down", "big-1"), ("up", "big-1")]
    assert outcomes[0].tokens_per_second is None and outcomes[0].output_tokens == 0


async def test_a_reply_of_tool_calls_alone_is_an_answer() -> None:
    wave, jump = ToolCall("c1", "wave", "{}"), ToolCall("c2", "jump", '{"high": true}')
    calls = (wave, jump, Finished("tool_calls"))
    router, outcomes = fake_router(Link(Fake("tools", calls)), Link(Fake("next")))
    items = [item async for item in router.stream("reply", ASK)]
    assert items == list(calls)
    assert [(o.provider, o.outcome, o.tokens) for o in outcomes] == [("tools", "ok", 2)]
    reply = await router.complete("reply", ASK)
    assert (reply.provider, reply.text, reply.tool_calls) == ("tools", "", (wave, jump))


def picks_first(links: list[Link], requests: int, seed: int = 7) -> dict[str, int]:
    router = Router({"reply": links}, rng=random.Random(seed))
    firsts = [router._order("reply")[0].provider.name for _ in range(requests)]
    return {name: firsts.count(name) for name in sorted(set(firsts))}


def test_the_first_link_of_a_tier_is_picked_by_weight() -> None:
    a = Link(Fake("a"), weight=3, group="fast")
    b = Link(Fake("b"), weight=1, group="fast")
    counts = picks_first([a, b, Link(Fake("persona"))], 2000)
    assert set(counts) == {"a", "b"}
    assert 1300 < counts["a"] < 1700  # 1500 expected


def test_links_outside_a_group_keep_their_order_and_weight_zero_only_backs_up() -> None:
    a, b = Link(Fake("a"), weight=5), Link(Fake("b"), weight=1)
    assert picks_first([a, b], 200) == {"a": 200}  # no group: two tiers, in order
    spare = Link(Fake("spare"), weight=0, group="g")
    main = Link(Fake("main"), weight=1, group="g")
    router = Router({"reply": [spare, main]}, rng=random.Random(1))
    orders = {tuple(link.provider.name for link in router._order("reply")) for _ in range(50)}
    assert orders == {("main", "spare")}


async def test_failover_within_a_weighted_tier_reaches_every_link() -> None:
    fakes = [Fake(name, fail=True) for name in ("a", "b", "c")]
    patient = BreakerConfig(failure_threshold=100, min_calls=100)
    tier = [
        Link(f, CircuitBreaker(patient), ONCE, weight=w, group="g")
        for f, w in zip(fakes, (5, 1, 1), strict=True)
    ]
    router, outcomes = fake_router(*tier, Link(Fake("last")), rng=random.Random(3))
    for _ in range(20):
        outcomes.clear()
        assert (await router.complete("reply", ASK)).provider == "last"
        tried = [o.provider for o in outcomes]
        assert sorted(tried[:3]) == ["a", "b", "c"] and tried[3] == "last"
    assert all(f.calls == 20 for f in fakes)


async def test_a_rate_limited_link_is_skipped_and_a_short_wait_is_waited_out() -> None:
    clock = [0.0]
    limiter = RateLimiter(RateLimits(requests_per_minute=1), now=lambda: clock[0])
    limited = Fake("limited")
    router, outcomes = fake_router(Link(limited, limiter=limiter), Link(Fake("other")))
    assert (await router.complete("reply", ASK)).provider == "limited"
    assert (await router.complete("reply", ASK)).provider == "other"
    assert outcomes[1].outcome == "rate_limited" and "60.0 s" in outcomes[1].reason
    assert limited.calls == 1
    clock[0] = 59.9  # 0.1 s to go: under the router's 0.25 s allowance
    assert (await router.complete("reply", ASK)).provider == "limited"


def test_a_token_limit_is_charged_the_estimate_and_settled_with_usage() -> None:
    limiter = RateLimiter(RateLimits(tokens_per_minute=1000), now=lambda: 0.0)
    usage = Finished("stop", Usage(input_tokens=10, output_tokens=5))
    router, _ = fake_router(Link(Fake("p", (Delta("x"), usage)), limiter=limiter))
    ask = ChatRequest(messages=(Message("user", "x" * 400),), max_tokens=400)  # 500 estimated
    asyncio.run(router.complete("reply", ask))
    assert limiter.delay(985) == 0.0 and limiter.delay(986) > 0  # 15 used, not 500


async def test_a_chain_replaced_live_leaves_requests_in_flight_on_theirs() -> None:
    old, new = Fake("old", first_delay=0.2), Fake("new")
    router, _ = fake_router(Link(old))
    in_flight = asyncio.create_task(router.complete("reply", ASK))
    await asyncio.sleep(0.05)
    router.set_chain("reply", [Link(new)])
    assert [link.provider.name for link in router.links("reply")] == ["new"]
    assert (await router.complete("reply", ASK)).provider == "new"
    assert (await in_flight).provider == "old"
    router.set_chain("idle", [Link(old)])
    assert router.roles == ("reply", "idle")


@dataclass
class Paced:
    """Says "a" at once, then "b" after ``pause`` seconds, then finishes."""

    pause: float
    name: str = "paced"
    cancelled: int = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        yield Delta("a")
        try:
            await asyncio.sleep(self.pause)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        yield Delta("b")
        yield Finished("stop")

    async def probe(self) -> float:
        return 0.0


async def test_a_pause_past_the_first_token_deadline_but_within_the_gap_is_not_cut() -> None:
    # The first-token deadline's timer fires mid-answer; the gap deadline, later, still holds.
    router, outcomes = fake_router(
        Link(Paced(0.6)), deadlines=Deadlines(first_token=0.2, gap=5.0, total=10.0)
    )
    assert [item async for item in router.stream("reply", ASK)] == [
        Delta("a"),
        Delta("b"),
        Finished("stop"),
    ]
    assert [o.outcome for o in outcomes] == ["ok"]


async def test_a_listener_cancelled_mid_answer_is_not_an_outage() -> None:
    paced = Paced(30.0)
    link = Link(paced)
    router, outcomes = fake_router(link, deadlines=Deadlines(first_token=5, gap=60, total=90))
    listening = asyncio.create_task(router.complete("reply", ASK))
    while not router._ttft.get("paced"):
        await asyncio.sleep(0.01)  # until "a" was said and the pause began
    listening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await listening
    assert paced.cancelled == 1 and outcomes == []
    assert link.breaker.snapshot().consecutive_failures == 0
