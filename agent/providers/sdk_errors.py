"""What the SDKs raise, turned into ``retry.classify`` verdicts, without importing the SDKs.

The mapping is the one ``retry``'s docstring documents, found by class name along the
exception's MRO so that the agent starts without paying for ``openai`` and ``anthropic``:

- ``APITimeoutError`` (checked first: both SDKs derive it from the connection error) and the
  HTTP client's ``TimeoutException`` family: a timeout. Anthropic's stream lets a bare
  ``httpx2.ReadTimeout`` through when the server goes quiet after the first token.
- ``APIConnectionError`` and the HTTP client's ``TransportError`` family (``ReadError``,
  ``RemoteProtocolError``, ...): a lost connection. Anthropic's stream lets a bare
  ``RemoteProtocolError`` through on a reset mid-stream.
- ``APIStatusError`` and its subclasses: the status and the response headers (Retry-After).
- an ``error`` event inside a stream, which arrives after a 200: Anthropic's SDK raises an
  ``APIStatusError`` with status 200, mapped by its ``error.type``; OpenAI's raises a bare
  ``APIError``, mapped by the ``code`` or ``status`` the server put in it, else ``Fatal``.
- ``json.JSONDecodeError``: both SDKs raise it bare on a malformed server-sent event; the
  server is not speaking the protocol, so it is not retried (``Fatal``).

Reasons are built from our own words and class names, never from ``str(exc)``: an SDK's
message may quote the server's error body, which may echo a key or a piece of the prompt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from agent.providers.retry import Fatal, Verdict, classify

_HTTP_CLIENTS = ("httpx", "httpx2", "httpcore")


def verdict_of(exc: BaseException) -> Verdict:
    """The retry verdict on anything an adapter raised while connecting or streaming."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    http_client = type(exc).__module__.split(".")[0] in _HTTP_CLIENTS
    kind = type(exc).__name__
    if "APITimeoutError" in names or (http_client and "TimeoutException" in names):
        return classify(TimeoutError(kind))
    if "APIConnectionError" in names or (http_client and "TransportError" in names):
        return classify(ConnectionError(kind))
    if "APIStatusError" in names:
        return _status_verdict(exc)
    if "APIError" in names:
        return _event_verdict(getattr(exc, "body", None))
    if isinstance(exc, json.JSONDecodeError):
        return Fatal("sent a malformed event (not the API's wire format?)")
    if isinstance(exc, OSError):
        return classify(type(exc)(kind))
    return Fatal(f"failed with {kind}")


def _status_verdict(exc: BaseException) -> Verdict:
    status: Any = getattr(exc, "status_code", None)
    response: Any = getattr(exc, "response", None)
    headers: Mapping[str, str] = getattr(response, "headers", None) or {}
    if not isinstance(status, int):
        return Fatal(f"failed with {type(exc).__name__} and no HTTP status")
    if status < 400:  # the HTTP exchange went well: an error event came inside the stream
        return _event_verdict(getattr(exc, "body", None))
    return classify(status, headers)


ANTHROPIC_ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


def _event_verdict(body: object) -> Verdict:
    """The verdict on an error event sent inside a stream, from its body."""
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return Fatal("sent an error event without details")
    kind = error.get("type")
    if isinstance(kind, str) and kind in ANTHROPIC_ERROR_STATUSES:
        verdict = classify(ANTHROPIC_ERROR_STATUSES[kind])
    else:
        status = next((_int(error.get(k)) for k in ("code", "status") if _int(error.get(k))), None)
        verdict = classify(status) if status else Fatal("failed")
    label = kind if isinstance(kind, str) and kind.isidentifier() else "error"
    return replace(verdict, reason=f"{verdict.reason} in a stream's error event ({label[:40]})")


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None
