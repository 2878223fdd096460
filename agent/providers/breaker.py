"""A circuit breaker per provider: stop calling one that keeps failing, and probe it now and then.

``closed``: calls go through. The breaker opens after ``failure_threshold`` outages in a row,
or when at least ``min_calls`` calls ended in the last ``window`` seconds and ``failure_rate``
of them failed. ``open``: every call is refused until ``retry_at``. ``half_open``: exactly one
call, the probe, goes through; the others are refused at once, not queued. A probe that
succeeds closes the breaker and forgets its history; one that fails opens it again with twice
the cooldown, up to ``max_cooldown``, shortened by up to ``jitter`` so that providers opened
together are not probed together.

Calls are admitted by ``acquire()``, which hands out a ``Permit`` to settle exactly once. Used
as a context manager, a permit that is never settled (the call was cancelled, a hedge lost)
is abandoned: it says nothing about the provider, and an abandoned probe frees the slot for the
next caller, so a cancelled probe can never leave the breaker half-open forever. Results of
calls admitted before the breaker last changed state are ignored: a slow call that started
while all was well cannot close a breaker that opened since.

Configuration problems are not outages. A 401 says the key is wrong, not that the provider is
down, so ``record_misconfigured`` leaves the outage counters alone and sets ``misconfigured``
in the snapshot (the control room shows "misconfigured", not "open breaker"). When the problem
is ``persistent`` (every call will fail the same way: a refused key, a wrong base URL) the
breaker also stops admitting calls for ``misconfigured_hold`` seconds, then probes again as
usual, so a fixed key is picked up without a restart. A success clears ``misconfigured``.

Latency is not the breaker's business: TTFT percentiles live with the router's statistics.
The clock is injectable (``now``) so tests drive time without sleeping.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

BreakerState = Literal["closed", "open", "half_open"]


class BreakerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """When a provider's breaker opens and how long it stays open."""

    failure_threshold: Annotated[
        int, Meta(ge=1, description="Outages in a row that open the breaker.")
    ] = 5
    failure_rate: Annotated[
        float, Meta(gt=0, le=1, description="Share of failed calls in the window that opens it.")
    ] = 0.5
    min_calls: Annotated[
        int, Meta(ge=1, description="Calls the window must hold before the rate counts.")
    ] = 10
    window: Annotated[
        float, Meta(gt=0, description="Seconds of recent calls the failure rate looks at.")
    ] = 60.0
    cooldown: Annotated[
        float, Meta(gt=0, description="Seconds open before the first probe; doubles per failure.")
    ] = 5.0
    max_cooldown: Annotated[
        float, Meta(gt=0, description="Longest the cooldown grows to, in seconds.")
    ] = 300.0
    jitter: Annotated[
        float, Meta(ge=0, lt=1, description="Up to this share of a cooldown is cut at random.")
    ] = 0.1
    misconfigured_hold: Annotated[
        float, Meta(ge=0, description="Seconds a refused key or wrong URL stops calls. 0: never.")
    ] = 60.0

    def __post_init__(self) -> None:
        # msgspec checks Meta constraints when decoding config, not on construction.
        if self.max_cooldown < self.cooldown:
            raise ValueError("breaker max_cooldown must be at least its cooldown")


class BreakerSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A breaker's health for the providers panel. Times are on the breaker's clock."""

    state: BreakerState
    consecutive_failures: int
    failure_rate: float
    """Share of failed calls in the window (0.0 when it is empty)."""
    calls_in_window: int
    opened_at: float | None
    """When the breaker last opened; None while closed."""
    cooldown: float
    """Seconds of the current open spell (0.0 while closed)."""
    retry_in: float
    """Seconds until the next probe is admitted (0.0 unless open)."""
    misconfigured: str = ""
    """Why the provider is misconfigured, until a call succeeds. Empty: it is not."""
    last_error: str = ""


class _Window:
    """Outcomes of the calls that ended in the last ``span`` seconds, with running counts."""

    def __init__(self, span: float) -> None:
        self._span = span
        self._outcomes: deque[tuple[float, bool]] = deque()
        self.calls = 0
        self.failures = 0

    def add(self, at: float, failed: bool) -> None:
        self._outcomes.append((at, failed))
        self.calls += 1
        self.failures += failed

    def prune(self, now: float) -> None:
        while self._outcomes and self._outcomes[0][0] <= now - self._span:
            _, failed = self._outcomes.popleft()
            self.calls -= 1
            self.failures -= failed

    def rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    def clear(self) -> None:
        self._outcomes.clear()
        self.calls = self.failures = 0


class Permit:
    """One admitted call. Settle it once; leaving its ``with`` block unsettled abandons it."""

    __slots__ = ("_breaker", "_epoch", "_settled", "probe")

    def __init__(self, breaker: CircuitBreaker, epoch: int, probe: bool) -> None:
        self._breaker = breaker
        self._epoch = epoch
        self._settled = False
        self.probe = probe

    def record_success(self) -> None:
        """The provider answered."""
        self._settle()._on_success(self._epoch)

    def record_failure(self, detail: str) -> None:
        """An outage: connect error, timeout, 429, 5xx. ``detail`` is shown as the last error."""
        self._settle()._on_failure(self._epoch, detail)

    def record_misconfigured(self, detail: str, *, persistent: bool = True) -> None:
        """A configuration problem (400/401/403/404): reported, never counted as an outage."""
        self._settle()._on_misconfigured(self._epoch, detail, persistent)

    def abandon(self) -> None:
        """The call ended without a verdict on the provider (cancelled, hedge lost)."""
        self._settle()._on_abandon(self._epoch)

    def __enter__(self) -> Permit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._settled:
            self.abandon()

    def _settle(self) -> CircuitBreaker:
        if self._settled:
            raise RuntimeError("a breaker permit was settled twice")
        self._settled = True
        return self._breaker


class CircuitBreaker:
    """Closed, open or half-open for one provider; see the module docstring."""

    def __init__(
        self,
        config: BreakerConfig | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or BreakerConfig()
        self._now = now
        self._rng = rng or random.Random()
        self._window = _Window(self.config.window)
        self._state: BreakerState = "closed"
        self._epoch = 0
        self._consecutive = 0
        self._trips = 0
        self._probe_out = False
        self._opened_at: float | None = None
        self._cooldown = 0.0
        self._retry_at = 0.0
        self._misconfigured = ""
        self._last_error = ""

    @property
    def state(self) -> BreakerState:
        self._half_open_if_due()
        return self._state

    @property
    def retry_at(self) -> float | None:
        """When an open breaker admits its next probe; None unless open."""
        return self._retry_at if self.state == "open" else None

    def acquire(self) -> Permit | None:
        """A permit to call the provider now, or None when the breaker refuses the call."""
        state = self.state
        if state == "open" or (state == "half_open" and self._probe_out):
            return None
        if state == "half_open":
            self._probe_out = True
        return Permit(self, self._epoch, probe=state == "half_open")

    def reset(self) -> None:
        """Close and forget everything: the user re-enabled the provider or changed its config."""
        self._close()
        self._misconfigured = self._last_error = ""

    def snapshot(self) -> BreakerSnapshot:
        state, now = self.state, self._now()
        self._window.prune(now)
        return BreakerSnapshot(
            state=state,
            consecutive_failures=self._consecutive,
            failure_rate=self._window.rate(),
            calls_in_window=self._window.calls,
            opened_at=self._opened_at,
            cooldown=self._cooldown,
            retry_in=max(0.0, self._retry_at - now) if state == "open" else 0.0,
            misconfigured=self._misconfigured,
            last_error=self._last_error,
        )

    # --- what permits report -----------------------------------------------------------------

    def _on_success(self, epoch: int) -> None:
        if epoch != self._epoch:
            return
        self._misconfigured = ""
        if self._state == "half_open":
            self._close()
        else:
            self._consecutive = 0
            self._window.add(self._now(), failed=False)

    def _on_failure(self, epoch: int, detail: str) -> None:
        self._last_error = detail
        if epoch != self._epoch:
            return
        if self._state == "half_open":
            self._open(self._next_cooldown())
            return
        self._consecutive += 1
        self._window.add(self._now(), failed=True)
        if self._tripped():
            self._open(self._next_cooldown())

    def _on_misconfigured(self, epoch: int, detail: str, persistent: bool) -> None:
        self._misconfigured = self._last_error = detail
        if epoch != self._epoch:
            return
        if persistent and self.config.misconfigured_hold > 0:
            self._open(self.config.misconfigured_hold)
        else:
            # The provider answered, so this says nothing about an outage: let the next call
            # probe.
            self._probe_out = False

    def _on_abandon(self, epoch: int) -> None:
        if epoch == self._epoch:
            self._probe_out = False

    # --- transitions -------------------------------------------------------------------------

    def _tripped(self) -> bool:
        if self._consecutive >= self.config.failure_threshold:
            return True
        self._window.prune(self._now())
        enough = self._window.calls >= self.config.min_calls
        return enough and self._window.rate() >= self.config.failure_rate

    def _next_cooldown(self) -> float:
        # The exponent is capped so that a provider down for days cannot overflow a float.
        full = min(self.config.max_cooldown, self.config.cooldown * 2.0 ** min(self._trips, 60))
        self._trips += 1
        return full * (1 - self.config.jitter * self._rng.random())

    def _open(self, cooldown: float) -> None:
        now = self._now()
        self._state, self._epoch = "open", self._epoch + 1
        self._opened_at, self._cooldown, self._retry_at = now, cooldown, now + cooldown
        self._probe_out = False

    def _half_open_if_due(self) -> None:
        if self._state == "open" and self._now() >= self._retry_at:
            self._state, self._epoch = "half_open", self._epoch + 1
            self._probe_out = False

    def _close(self) -> None:
        self._state, self._epoch = "closed", self._epoch + 1
        self._consecutive = self._trips = 0
        self._window.clear()
        self._probe_out = False
        self._opened_at, self._cooldown, self._retry_at = None, 0.0, 0.0
