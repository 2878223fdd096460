"""Rate limits per provider: requests and tokens per minute, as the provider's plan allows.

A ``RateLimiter`` holds two token buckets, one for requests and one for tokens, each as big as
its per-minute limit and refilled evenly over the minute (a full minute's budget can go at once,
then it comes back a little at a time). The router asks ``delay(tokens)`` before a call: 0.0
means the call fits now; a few tenths of a second are waited out; anything longer and the
router skips the link for this request, as it skips one whose breaker is open. A call's size is
not known until it ends, so the router takes an estimate and ``settle``s it with the usage the
provider reported.

A limit of 0 is no limit. A request larger than the whole bucket waits for a full bucket and
then goes (it would never fit otherwise). The clock is injectable so tests drive time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import msgspec
from msgspec import Meta


class RateLimits(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What a provider allows per minute; 0 is unlimited."""

    requests_per_minute: Annotated[
        int, Meta(ge=0, description="Calls a minute the provider accepts. 0: no limit.")
    ] = 0
    tokens_per_minute: Annotated[
        int,
        Meta(ge=0, description="Prompt and answer tokens a minute the provider accepts. 0: none."),
    ] = 0


class _Bucket:
    """``capacity`` units, refilled at ``capacity`` a minute; the level may go below zero."""

    __slots__ = ("_at", "_level", "_per_second", "capacity")

    def __init__(self, capacity: int, at: float) -> None:
        self.capacity = float(capacity)
        self._per_second = capacity / 60.0
        self._level = self.capacity
        self._at = at

    def delay(self, amount: float, now: float) -> float:
        if not self.capacity:
            return 0.0
        self._refill(now)
        missing = min(amount, self.capacity) - self._level
        return max(0.0, missing / self._per_second)

    def add(self, amount: float, now: float) -> None:
        if self.capacity:
            self._refill(now)
            self._level = min(self.capacity, self._level + amount)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._at)
        self._level = min(self.capacity, self._level + elapsed * self._per_second)
        self._at = now


class RateLimiter:
    """Requests and tokens per minute for one provider; see the module docstring."""

    def __init__(self, limits: RateLimits, *, now: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._now = now
        started = now()
        self._requests = _Bucket(limits.requests_per_minute, started)
        self._tokens = _Bucket(limits.tokens_per_minute, started)

    def delay(self, tokens: int) -> float:
        """Seconds until a request of about ``tokens`` tokens fits both limits; 0.0: now."""
        now = self._now()
        return max(self._requests.delay(1, now), self._tokens.delay(tokens, now))

    def take(self, tokens: int) -> None:
        """A request of about ``tokens`` tokens goes now."""
        now = self._now()
        self._requests.add(-1, now)
        self._tokens.add(-tokens, now)

    def settle(self, estimated: int, actual: int) -> None:
        """The request taken as ``estimated`` tokens used ``actual``: give back or take more."""
        self._tokens.add(estimated - actual, self._now())
