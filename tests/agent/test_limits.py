"""Rate limits: two token buckets on a clock the test drives."""

from __future__ import annotations

import msgspec
import pytest

from agent.providers.limits import RateLimiter, RateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(rpm: int = 0, tpm: int = 0) -> tuple[RateLimiter, Clock]:
    clock = Clock()
    limits = RateLimits(requests_per_minute=rpm, tokens_per_minute=tpm)
    return RateLimiter(limits, now=clock), clock


def test_no_limits_never_wait() -> None:
    limits, _ = limiter()
    for _ in range(1000):
        assert limits.delay(100_000) == 0.0
        limits.take(100_000)


def test_a_full_minute_of_requests_goes_at_once_then_they_come_back_evenly() -> None:
    limits, clock = limiter(rpm=60)
    for _ in range(60):
        assert limits.delay(10) == 0.0
        limits.take(10)
    assert limits.delay(10) == pytest.approx(1.0)  # one request a second comes back
    clock.now += 0.5
    assert limits.delay(10) == pytest.approx(0.5)
    clock.now += 0.5
    assert limits.delay(10) == 0.0


def test_tokens_per_minute_size_the_wait_by_the_request() -> None:
    limits, _ = limiter(tpm=6000)  # 100 tokens a second
    limits.take(5000)
    assert limits.delay(1000) == 0.0
    assert limits.delay(1500) == pytest.approx(5.0)
    assert limits.delay(100_000) == pytest.approx(50.0)  # bigger than the bucket: a full one


def test_settling_gives_back_what_the_estimate_overtook() -> None:
    limits, _ = limiter(tpm=6000)
    limits.take(6000)
    assert limits.delay(1000) == pytest.approx(10.0)
    limits.settle(estimated=6000, actual=1000)
    assert limits.delay(1000) == 0.0
    limits.take(1000)
    assert limits.delay(4000) == 0.0
    limits.settle(estimated=1000, actual=5000)  # the answer ran longer than thought
    assert limits.delay(1000) == pytest.approx(10.0)


def test_the_bucket_never_fills_past_a_minute() -> None:
    limits, clock = limiter(rpm=2)
    clock.now += 3600
    limits.take(0)
    limits.take(0)
    assert limits.delay(0) > 0


def test_the_slower_of_the_two_limits_decides() -> None:
    limits, _ = limiter(rpm=600, tpm=600)
    limits.take(600)
    assert limits.delay(20) == pytest.approx(2.0)


def test_limits_are_read_from_config_and_refuse_unknown_keys() -> None:
    decoded = msgspec.json.decode(b'{"requests_per_minute": 30}', type=RateLimits)
    assert decoded == RateLimits(requests_per_minute=30)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"requests_per_minute": -1}', type=RateLimits)
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"rpm": 30}', type=RateLimits)
