"""What to do when a provider call fails: retry it on the same link, or move on and say why.

``classify`` turns a failure into a verdict:

- ``Retryable``: connect errors, timeouts, any other ``OSError``, HTTP 408, 409, 429 and 5xx
  (Anthropic's 529 "overloaded" included). Carries the server's ``Retry-After`` when it sent one.
- ``ConfigurationError``: HTTP 400, 401, 402, 403, 404, 422 and a refused TLS certificate.
  Never retried: the router goes straight to the next link and reports the provider as
  misconfigured. ``persistent`` ones (401, 402, 403, 404, TLS) fail every call the same way
  until someone fixes the key, account or URL; 400 and 422 may belong to this one request
  (OpenAI answers a too-long prompt with 400), so they do not hold the provider back.
- ``Fatal``: anything else (another 4xx such as 413, an unexpected status, a bug in an
  adapter). Not retried on this link; the next link may still answer.

``RetryPolicy.start`` gives one request's ``Retries`` on one link: after each failure it says
``RetryIn(delay)`` or ``GiveUp(reason)``. Delays are exponential with full jitter; a
``Retry-After`` raises the delay to at least what the server asked, a server that asks for more
than ``max_delay`` is not retried (waiting less would only earn another 429, and a live stream
would rather hear the next link), and no retry starts when the caller's deadline would pass
first.

This module knows nothing about the SDKs. The adapters map their exceptions onto its inputs,
checking the timeout class first because both SDKs derive it from the connection error:

- ``openai.APITimeoutError``, ``anthropic.APITimeoutError``: ``classify(TimeoutError(str(e)))``
- ``openai.APIConnectionError``, ``anthropic.APIConnectionError``:
  ``classify(ConnectionError(str(e)))``
- ``openai.APIStatusError`` and ``anthropic.APIStatusError`` with all their subclasses
  (``RateLimitError``, ``InternalServerError``, Anthropic's ``OverloadedError``, ...):
  ``classify(e.status_code, e.response.headers)``
- an ``error`` event inside an Anthropic stream, by its ``error.type``:
  ``invalid_request_error`` 400, ``authentication_error`` 401, ``permission_error`` 403,
  ``not_found_error`` 404, ``request_too_large`` 413, ``rate_limit_error`` 429,
  ``api_error`` 500, ``overloaded_error`` 529; an ``error`` object inside an OpenAI-compatible
  stream carries a ``code`` or ``status`` where the server sends one, else ``Fatal``.

Both SDKs retry on their own (``max_retries=2`` by default) and sleep through ``Retry-After``:
the adapters build their clients with ``max_retries=0`` so that this policy is the only retry
layer, its deadline holds, and the breaker hears about every failure.
"""

from __future__ import annotations

import math
import random
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Annotated

import msgspec
from msgspec import Meta

RETRY_AFTER_CAP = 3600.0
"""Longest Retry-After believed, in seconds; a server asking for days is read as an hour."""

RETRYABLE_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))

CONFIGURATION_STATUSES: dict[int, tuple[str, bool]] = {
    400: ("rejected the request: check the model name and its settings", False),
    401: ("refused the API key: check the key set for this provider", True),
    402: ("wants payment: check the account's credit or plan", True),
    403: ("does not let this key use that model or endpoint: check the key's access", True),
    404: ("has no such endpoint or model: check the base URL and the model name", True),
    422: ("could not use the request's settings: check the model settings", False),
}
"""Status → (what the provider did, whether every call will fail the same way)."""


@dataclass(frozen=True, slots=True)
class Retryable:
    """A failure worth another try on the same link (an outage for the breaker)."""

    reason: str
    status: int | None = None
    retry_after: float | None = None
    """Seconds the server asked us to wait, already capped; None when it did not say."""


@dataclass(frozen=True, slots=True)
class ConfigurationError:
    """The provider is set up wrong: never retried, reported as misconfigured, not as down."""

    reason: str
    status: int | None = None
    persistent: bool = True
    """Every call will fail the same way until someone fixes the key, account or URL."""


@dataclass(frozen=True, slots=True)
class Fatal:
    """A failure that retrying here cannot fix and that is not clearly configuration."""

    reason: str
    status: int | None = None


Verdict = Retryable | ConfigurationError | Fatal


def classify(
    failure: Exception | int,
    headers: Mapping[str, str] | None = None,
    *,
    wall: Callable[[], float] = time.time,
) -> Verdict:
    """The verdict on an exception, or on an HTTP status with its response headers."""
    if isinstance(failure, int):
        return classify_status(failure, headers or {}, wall=wall)
    return classify_exception(failure)


def classify_status(
    status: int, headers: Mapping[str, str], *, wall: Callable[[], float] = time.time
) -> Verdict:
    """The verdict on an HTTP error status; ``headers`` may carry Retry-After."""
    if status in RETRYABLE_STATUSES:
        retry_after = parse_retry_after(headers, wall=wall)
        return Retryable(f"answered HTTP {status}", status, retry_after)
    if status in CONFIGURATION_STATUSES:
        what, persistent = CONFIGURATION_STATUSES[status]
        return ConfigurationError(f"{what} (HTTP {status})", status, persistent)
    return Fatal(f"answered HTTP {status}, which is not retried", status)


def classify_exception(exc: Exception) -> Verdict:
    """The verdict on an exception raised while connecting, sending or reading."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = "check the base URL (http or https?) and the server's certificate"
        return ConfigurationError(f"refused the TLS certificate: {hint} ({exc})")
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is this class since 3.11
        return Retryable(f"timed out{_colon(exc)}")
    if isinstance(exc, ConnectionError):
        return Retryable(f"could not connect or lost the connection{_colon(exc)}")
    if isinstance(exc, OSError):
        return Retryable(f"network error{_colon(exc)}")
    return Fatal(f"{type(exc).__name__}{_colon(exc)}")


def _colon(exc: Exception) -> str:
    text = str(exc)
    return f": {text}" if text else ""


# --- Retry-After -------------------------------------------------------------------------------


def parse_retry_after(
    headers: Mapping[str, str],
    *,
    cap: float = RETRY_AFTER_CAP,
    wall: Callable[[], float] = time.time,
) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After``, capped; None when absent or bad.

    ``retry-after-ms`` (sent by OpenAI and Azure) wins because it is more precise. Retry-After is
    delta-seconds or an HTTP-date; a date in the past means "now" (0.0). ``wall`` is the
    wall clock that HTTP-dates are measured against.
    """
    millis = _seconds(_header(headers, "retry-after-ms"))
    if millis is not None:
        return min(millis / 1000, cap)
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = _seconds(value)
    if seconds is None:
        seconds = _until_date(value, wall())
    return None if seconds is None else min(seconds, cap)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # httpx headers ignore case already; a plain dict from a test or another client may not.
    value = headers.get(name)
    if value is not None:
        return value
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _until_date(text: str, now: float) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" in RFC 5322; HTTP-dates are always GMT anyway
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


# --- the policy --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryIn:
    """Try the same link again after ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop retrying this link; ``reason`` says why, for the request's outcome event."""

    reason: str


class RetryPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """How many times, and how patiently, one link is tried before the router moves on."""

    attempts: Annotated[
        int, Meta(ge=1, description="Tries per link, the first included. 1: never retry.")
    ] = 3
    base_delay: Annotated[
        float, Meta(gt=0, description="Ceiling of the first retry's random delay, in seconds.")
    ] = 0.25
    max_delay: Annotated[
        float, Meta(gt=0, description="Longest wait before a retry; a longer Retry-After: move on.")
    ] = 4.0

    def start(
        self,
        deadline: float | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> Retries:
        """The retry budget of one request on one link; ``deadline`` is on ``now``'s clock."""
        return Retries(self, deadline, now, rng or random.Random())


class Retries:
    """Asked after every failed attempt of one request on one link: retry, or give up."""

    def __init__(
        self,
        policy: RetryPolicy,
        deadline: float | None,
        now: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.policy = policy
        self.deadline = deadline
        self.attempts_made = 1  # asked only after a failure, so the first try is behind us
        self._now = now
        self._rng = rng

    def after(self, verdict: Verdict) -> RetryIn | GiveUp:
        """What to do after an attempt failed with ``verdict``."""
        if not isinstance(verdict, Retryable):
            return GiveUp(f"not retried: {verdict.reason}")
        if self.attempts_made >= self.policy.attempts:
            return GiveUp(f"gave up after {self.attempts_made} attempts: {verdict.reason}")
        wanted = verdict.retry_after or 0.0
        if wanted > self.policy.max_delay:
            return GiveUp(f"{verdict.reason} and asked to wait {wanted:.1f} s: moving on")
        delay = max(self._jittered(), wanted)
        if self.deadline is not None and self._now() + delay >= self.deadline:
            return GiveUp(f"{verdict.reason}; no time left for another attempt")
        self.attempts_made += 1
        return RetryIn(delay)

    def _jittered(self) -> float:
        exponent = min(self.attempts_made - 1, 60)  # capped so a float cannot overflow
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2.0**exponent)
        return self._rng.uniform(0, ceiling)
