"""How values from the wire become text on screen.

Everything the agent sends may carry a stranger's bytes (chat text, author names), so it is
made inert and wrapped in plain ``Text``: nothing here is ever parsed as markup.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from rich.text import Text

from agent.protocol import inert

NO_CLOCK = "--:--:--"
"""What ``clock`` shows for a timestamp no clock can show (NaN, infinite, past year 9999...)."""
CLOCK_PATTERN = r"\d\d:\d\d:\d\d|--:--:--"
"""A regex alternative matching whatever ``clock`` returns, for the logs' highlighters."""


def clock(ts: float) -> str:
    """``HH:MM:SS`` of a wire timestamp, in local time; ``NO_CLOCK`` if it has none."""
    try:
        return time.strftime("%H:%M:%S", time.localtime(ts))
    except (OverflowError, ValueError, OSError):
        # The platform's time_t cannot hold it: one odd line must not end the control room.
        return NO_CLOCK


def plain(text: str, limit: int = 500) -> Text:
    """Untrusted text as a literal one-line ``Text`` (brackets stay brackets)."""
    return Text(inert(text, limit), no_wrap=True, overflow="ellipsis")


SPARKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"


def sparkline(values: Iterable[float]) -> str:
    """Block characters, one per value, scaled to the largest (values no bar can show are left
    out: the wire may carry NaN or negatives)."""
    shown = [value for value in values if math.isfinite(value) and value >= 0]
    top = max(shown, default=0.0) or 1.0
    last = len(SPARKS) - 1
    return "".join(SPARKS[min(last, round(value / top * last))] for value in shown)
