"""The event loop every side of a benchmark runs on: the one ``airi agent`` picks."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

try:
    import uvloop
except ImportError:  # the agent falls back to the stdlib loop in the same case
    uvloop = None  # type: ignore[assignment]

LOOP_NAME = "uvloop" if uvloop is not None else "asyncio"


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on the agent's loop (see ``agent.cli.run``)."""
    if uvloop is not None:
        return uvloop.run(main)
    return asyncio.run(main)
