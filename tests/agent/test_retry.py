"""Failures are sorted into retry / misconfigured / fatal, and retries wait as the server asks."""

from __future__ import annotations

import random
import ssl
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.providers.retry import (
    RETRY_AFTER_CAP,
    ConfigurationError,
    Fatal,
    GiveUp,
    Retryable,
    RetryIn,
    RetryPolicy,
    classify,
    parse_retry_after,
)

NOW = 1_700_000_000.0


def wall() -> float:
    return NOW


@pytest.mark.parametrize(
    ("failure", "verdict"),
    [
        (408, Retryable),
        (409, Retryable),
        (429, Retryable),
        (500, Retryable),
        (502, Retryable),
        (503, Retryable),
        (529, Retryable),  # Anthropic: overloaded
        (400, ConfigurationError),
        (401, ConfigurationError),
        (402, ConfigurationError),
        (403, ConfigurationError),
        (404, ConfigurationError),
        (422, ConfigurationError),
        (405, Fatal),
        (413, Fatal),
        (200, Fatal),
        (TimeoutError(), Retryable),
        (TimeoutError("read timed out"), Retryable),
        (ConnectionRefusedError(111, "Connection refused"), Retryable),
        (ConnectionResetError("reset by peer"), Retryable),
        (OSError(101, "Network is unreachable"), Retryable),
        (ssl.SSLCertVerificationError("certificate verify failed"), ConfigurationError),
        (ValueError("malformed SSE line"), Fatal),
    ],
)
def test_classification(failure: Exception | int, verdict: type) -> None:
    assert type(classify(failure)) is verdict


def test_a_refused_key_says_what_to_check_and_holds_the_provider() -> None:
    verdict = classify(401)
    assert isinstance(verdict, ConfigurationError)
    assert verdict.persistent and "API key" in verdict.reason and "401" in verdict.reason


def test_a_rejected_request_does_not_hold_the_provider() -> None:
    verdict = classify(400)
    assert isinstance(verdict, ConfigurationError) and not verdict.persistent


def test_a_429_carries_its_retry_after() -> None:
    assert classify(429, {"Retry-After": "7"}) == Retryable("answered HTTP 429", 429, 7.0)


# --- Retry-After -------------------------------------------------------------------------------


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.fromtimestamp(NOW + seconds_from_now, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "120"}, 120.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"RETRY-AFTER": " 3 "}, 3.0),
        ({"Retry-After": http_date(30)}, 30.0),
        ({"Retry-After": http_date(-30)}, 0.0),  # already past: go now
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"}, 0.0),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the precise one wins
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"Retry-After": "99999999"}, RETRY_AFTER_CAP),
        ({"Retry-After": http_date(10**7)}, RETRY_AFTER_CAP),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": ""}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "Fri, 99 Foo 2024 99:99:99 GMT"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, wall=wall) == seconds


def test_retry_after_cap_is_the_callers() -> None:
    assert parse_retry_after({"Retry-After": "120"}, cap=60.0) == 60.0


@given(st.text(max_size=40))
def test_retry_after_never_raises_and_is_never_negative(value: str) -> None:
    seconds = parse_retry_after({"Retry-After": value}, wall=wall)
    assert seconds is None or 0.0 <= seconds <= RETRY_AFTER_CAP


# --- the policy --------------------------------------------------------------------------------

OUTAGE = Retryable("answered HTTP 503", 503)


def test_delays_use_full_jitter_under_a_doubling_ceiling() -> None:
    policy = RetryPolicy(attempts=100, base_delay=0.5, max_delay=3.0)
    ceilings = [0.5, 1.0, 2.0, 3.0, 3.0]
    samples: list[list[float]] = [[] for _ in ceilings]
    for seed in range(200):
        retries = policy.start(rng=random.Random(seed))
        for delays in samples:
            decision = retries.after(OUTAGE)
            assert isinstance(decision, RetryIn)
            delays.append(decision.delay)
    for ceiling, delays in zip(ceilings, samples, strict=True):
        assert min(delays) >= 0.0 and max(delays) <= ceiling
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9, "not full jitter"


def test_stops_after_the_attempts() -> None:
    retries = RetryPolicy(attempts=3).start(rng=random.Random(1))
    decisions = [retries.after(OUTAGE) for _ in range(3)]
    assert [type(d) for d in decisions] == [RetryIn, RetryIn, GiveUp]
    assert isinstance(decisions[2], GiveUp) and "after 3 attempts" in decisions[2].reason


@pytest.mark.parametrize("verdict", [classify(401), classify(400), classify(ValueError("x"))])
def test_configuration_and_fatal_failures_are_never_retried(
    verdict: ConfigurationError | Fatal,
) -> None:
    decision = RetryPolicy(attempts=10).start().after(verdict)
    assert isinstance(decision, GiveUp) and decision.reason.startswith("not retried")


def test_retry_after_raises_the_delay() -> None:
    retries = RetryPolicy(base_delay=0.1, max_delay=5.0).start(rng=random.Random(3))
    assert retries.after(Retryable("HTTP 429", 429, retry_after=2.0)) == RetryIn(2.0)


def test_a_retry_after_beyond_max_delay_moves_on() -> None:
    retries = RetryPolicy(max_delay=5.0).start()
    decision = retries.after(Retryable("HTTP 429", 429, retry_after=60.0))
    assert isinstance(decision, GiveUp) and "60.0 s" in decision.reason


def test_no_retry_when_the_deadline_would_pass_first() -> None:
    t = [100.0]
    retries = RetryPolicy(attempts=10).start(deadline=102.5, now=lambda: t[0])
    assert isinstance(retries.after(Retryable("HTTP 429", 429, retry_after=2.0)), RetryIn)
    t[0] = 101.0
    decision = retries.after(Retryable("HTTP 429", 429, retry_after=2.0))
    assert isinstance(decision, GiveUp) and "no time left" in decision.reason


@settings(max_examples=200)
@given(
    attempts=st.integers(1, 8),
    base=st.floats(0.01, 2.0),
    cap=st.floats(0.01, 10.0),
    budget=st.none() | st.floats(0.0, 20.0),
    retry_afters=st.lists(st.none() | st.floats(0.0, 20.0), min_size=10, max_size=10),
    seed=st.integers(0, 2**32 - 1),
)
def test_delays_stay_under_the_cap_the_deadline_and_the_attempts(
    attempts: int,
    base: float,
    cap: float,
    budget: float | None,
    retry_afters: list[float | None],
    seed: int,
) -> None:
    t = [0.0]
    policy = RetryPolicy(attempts=attempts, base_delay=base, max_delay=cap)
    retries = policy.start(deadline=budget, now=lambda: t[0], rng=random.Random(seed))
    tries = 1
    for retry_after in retry_afters:
        decision = retries.after(Retryable("HTTP 503", 503, retry_after))
        if isinstance(decision, GiveUp):
            break
        assert retry_after is None or decision.delay >= retry_after
        assert decision.delay <= cap
        t[0] += decision.delay
        assert budget is None or t[0] < budget
        tries += 1
    assert tries <= attempts
