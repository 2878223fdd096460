"""The agent's log, as it streams over the socket."""

from __future__ import annotations

import re
from collections.abc import Iterable

from textual.content import Content

from agent.protocol import inert
from agent.protocol.messages import LogLine
from airi_tui.display import CLOCK_PATTERN, clock
from airi_tui.widgets.styled_log import StyledLog

LEVELS = ("debug", "info", "warning", "error", "critical")


def log_line(line: LogLine) -> str:
    """One record as a plain line: time, level, logger, message."""
    level = inert(line.level, 8).lower()
    return f"{clock(line.ts)} {level:<7} {inert(line.logger, 40)}: {inert(line.message, 1000)}"


class LogView(StyledLog):
    """The log panel: newest at the bottom, capped at ``MAX_LINES``."""

    PATTERN = re.compile(rf"(?P<time>{CLOCK_PATTERN}) (?P<level>\S+)")
    COMPONENT_PREFIX = "log-view"
    COMPONENT_CLASSES = {"log-view--time", *(f"log-view--{level}" for level in LEVELS)}
    MAX_LINES = 2000

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self.MAX_LINES, id=id)
        self.border_title = Content("log")
        self.border_subtitle = Content("ctrl+l clears")  # its key lives here: the footer is full

    def component_for(self, group: str, value: str) -> str | None:
        return f"log-view--{value}" if group == "level" else super().component_for(group, value)

    def show(self, lines: Iterable[LogLine]) -> None:
        """Append records at the bottom (one write for the whole batch)."""
        rendered = [log_line(line) for line in lines]
        if rendered:
            self.write_lines(rendered)

    def reset(self, lines: Iterable[LogLine]) -> None:
        """Show exactly these records, as after attaching."""
        self.clear()
        self.show(lines)
