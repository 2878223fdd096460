"""A provider's circuit breaker opens on outages, probes one call at a time, and backs off."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.providers.breaker import BreakerConfig, CircuitBreaker, Permit


class Clock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def breaker(clock: Clock, **config: float) -> CircuitBreaker:
    settings = {"jitter": 0.0, **config}
    return CircuitBreaker(BreakerConfig(**settings), now=clock)  # type: ignore[arg-type]


def call(b: CircuitBreaker) -> Permit:
    permit = b.acquire()
    assert permit is not None, f"the breaker refused a call while {b.state}"
    return permit


def fail(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        call(b).record_failure("HTTP 503")


def succeed(b: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        call(b).record_success()


def test_consecutive_failures_open_the_breaker() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=3, cooldown=5.0)
    fail(b, 2)
    succeed(b)  # a success in between starts the count again
    fail(b, 2)
    assert b.state == "closed"
    fail(b)
    assert b.state == "open"
    assert b.acquire() is None
    assert b.retry_at == clock.t + 5.0
    snap = b.snapshot()
    assert (snap.state, snap.opened_at, snap.cooldown, snap.retry_in) == ("open", clock.t, 5.0, 5.0)
    assert snap.last_error == "HTTP 503"


def test_a_high_failure_rate_opens_the_breaker_without_a_streak() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=100, failure_rate=0.5, min_calls=10, window=60.0)
    for _ in range(4):  # fail, succeed, ...: never two failures in a row
        fail(b)
        succeed(b)
    fail(b)
    assert b.state == "closed", "9 calls are fewer than min_calls"
    assert b.snapshot().failure_rate == pytest.approx(5 / 9)
    succeed(b)
    fail(b)  # 6 of 11 failed
    assert b.state == "open"


def test_failures_older_than_the_window_do_not_count() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=100, min_calls=4, window=10.0)
    fail(b, 3)
    clock.advance(11.0)
    succeed(b, 3)
    fail(b)  # 1 of the 4 calls in the window
    assert b.state == "closed"
    assert b.snapshot().calls_in_window == 4


def test_half_open_admits_exactly_one_probe() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=1, cooldown=5.0)
    fail(b)
    clock.advance(4.9)
    assert b.acquire() is None
    clock.advance(0.1)
    assert b.state == "half_open"
    probe = call(b)
    assert probe.probe
    assert b.acquire() is None, "a second caller must not probe while the first is out"
    probe.record_success()
    assert b.state == "closed"
    assert [call(b).probe for _ in range(3)] == [False, False, False]


def test_a_failed_probe_doubles_the_cooldown_up_to_the_cap() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=1, cooldown=5.0, max_cooldown=30.0)
    fail(b)
    cooldowns = []
    for _ in range(5):
        cooldowns.append(b.snapshot().cooldown)
        clock.advance(b.snapshot().retry_in)
        fail(b)  # the probe fails
    assert cooldowns == [5.0, 10.0, 20.0, 30.0, 30.0]


def test_a_successful_probe_resets_the_cooldown() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=1, cooldown=5.0)
    fail(b)
    clock.advance(5.0)
    fail(b)
    assert b.snapshot().cooldown == 10.0
    clock.advance(10.0)
    succeed(b)
    fail(b)
    assert b.snapshot().cooldown == 5.0


def test_jitter_only_shortens_the_cooldown() -> None:
    clock = Clock()
    config = BreakerConfig(failure_threshold=1, cooldown=10.0, jitter=0.5)
    seen = set()
    for seed in range(50):
        b = CircuitBreaker(config, now=clock, rng=random.Random(seed))
        fail(b)
        seen.add(b.snapshot().cooldown)
    assert all(5.0 <= c <= 10.0 for c in seen)
    assert len(seen) > 40, "jitter should spread the probes of breakers opened together"


def test_an_abandoned_probe_frees_the_slot() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=1, cooldown=1.0)
    fail(b)
    clock.advance(1.0)
    with pytest.raises(RuntimeError), call(b):  # the call died without a verdict
        raise RuntimeError("cancelled")
    assert b.state == "half_open"
    assert call(b).probe


def test_a_stale_success_cannot_close_an_open_breaker() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=2)
    slow = call(b)
    fail(b, 2)
    slow.record_success()
    assert b.state == "open"


def test_a_permit_settles_once() -> None:
    permit = call(breaker(Clock()))
    permit.record_success()
    with pytest.raises(RuntimeError):
        permit.record_failure("again")


def test_a_refused_key_is_misconfigured_not_an_outage() -> None:
    clock = Clock()
    b = breaker(clock, failure_threshold=1, misconfigured_hold=60.0)
    call(b).record_misconfigured("refused the API key (HTTP 401)")
    snap = b.snapshot()
    assert snap.misconfigured == "refused the API key (HTTP 401)"
    assert snap.consecutive_failures == 0 and snap.failure_rate == 0.0
    assert b.acquire() is None and snap.retry_in == 60.0
    clock.advance(60.0)
    call(b).record_success()  # the streamer fixed the key
    assert b.state == "closed" and b.snapshot().misconfigured == ""


def test_a_rejected_request_is_reported_without_holding_the_provider() -> None:
    b = breaker(Clock(), failure_threshold=1)
    call(b).record_misconfigured("rejected the request (HTTP 400)", persistent=False)
    assert b.state == "closed"
    assert b.snapshot().misconfigured == "rejected the request (HTTP 400)"


def test_reset_closes_and_forgets() -> None:
    b = breaker(Clock(), failure_threshold=1)
    fail(b)
    b.reset()
    snap = b.snapshot()
    assert (snap.state, snap.last_error, snap.opened_at) == ("closed", "", None)


def test_a_cooldown_cap_below_the_cooldown_is_refused() -> None:
    with pytest.raises(ValueError, match="max_cooldown"):
        BreakerConfig(cooldown=10.0, max_cooldown=5.0)


# --- property: the breaker's promises hold under any sequence of outcomes and clock moves -----

Step = tuple[str, float]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "success", "failure", "misconfigured", "rejected", "abandon"]),
        st.floats(0.0, 40.0),
    ),
    max_size=80,
)


def settle(permit: Permit, how: str) -> None:
    if how == "success":
        permit.record_success()
    elif how == "failure":
        permit.record_failure("HTTP 500")
    elif how == "misconfigured":
        permit.record_misconfigured("HTTP 401")
    elif how == "rejected":
        permit.record_misconfigured("HTTP 400", persistent=False)
    else:
        permit.abandon()


def blocked_until(b: CircuitBreaker) -> float:
    """When the last opening ends, from raw times rather than the breaker's own state."""
    snap = b.snapshot()
    return -1.0 if snap.opened_at is None else snap.opened_at + snap.cooldown


def acquire_checked(b: CircuitBreaker, clock: Clock, out: list[Permit], until: float) -> None:
    permit = b.acquire()
    if clock.t < until:
        assert permit is None, "an open breaker admitted a call before retry_at"
    if permit is not None:
        out.append(permit)
    assert sum(p.probe for p in out) <= 1, "two probes out at once"


@settings(max_examples=300, deadline=None)
@given(steps=STEPS, seed=st.integers(0, 2**32 - 1))
def test_never_two_probes_and_never_a_call_before_retry_at(steps: list[Step], seed: int) -> None:
    clock = Clock()
    config = BreakerConfig(
        failure_threshold=2, min_calls=3, window=30.0, cooldown=3.0, max_cooldown=50.0,
        jitter=0.3, misconfigured_hold=20.0,
    )  # fmt: skip
    b = CircuitBreaker(config, now=clock, rng=random.Random(seed))
    out: list[Permit] = []
    for action, dt in steps:
        clock.advance(dt)
        if action == "acquire" or not out:
            acquire_checked(b, clock, out, blocked_until(b))
        else:
            settle(out.pop(int(dt) % len(out)), action)
        assert b.snapshot().cooldown <= config.max_cooldown
