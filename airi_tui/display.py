"""How values from the wire become text on screen.

Everything the agent sends may carry a stranger's bytes (chat text, author names), so it is
made inert and wrapped in plain ``Text``: nothing here is ever parsed as markup.
"""

from __future__ import annotations

import time

from rich.text import Text

from agent.protocol import inert


def clock(ts: float) -> str:
    """``HH:MM:SS`` of a wire timestamp, in local time."""
    return time.strftime("%H:%M:%S", time.localtime(ts))


def plain(text: str, limit: int = 500) -> Text:
    """Untrusted text as a literal one-line ``Text`` (brackets stay brackets)."""
    return Text(inert(text, limit), no_wrap=True, overflow="ellipsis")
