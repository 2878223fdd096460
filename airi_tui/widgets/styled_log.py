"""A ``Log`` of plain-text lines coloured by a pattern, never by markup.

``Log`` takes whole batches of lines cheaply (``write_lines``), which keeps a fast chat
readable; colour comes from a highlighter that styles the pattern's named groups with the
widget's component classes, so the stylesheet (and so the theme) decides every colour.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.text import Text
from textual.widgets import Log


class StyledLog(Log):
    """A bounded ``Log`` whose ``PATTERN`` groups take the style of ``<prefix>--<group>``."""

    PATTERN: ClassVar[re.Pattern[str]] = re.compile("(?!)")
    COMPONENT_PREFIX: ClassVar[str] = "styled-log"

    def __init__(self, max_lines: int, *, id: str | None = None) -> None:
        super().__init__(highlight=True, max_lines=max_lines, id=id)
        self.highlighter = _GroupHighlighter(self)

    def component_for(self, group: str, value: str) -> str | None:
        """The component class that styles ``group`` (None: leave it unstyled)."""
        return f"{self.COMPONENT_PREFIX}--{group}"


class _GroupHighlighter(Highlighter):
    def __init__(self, log: StyledLog) -> None:
        self._log = log

    def highlight(self, text: Text) -> None:
        match = self._log.PATTERN.match(text.plain)
        if match is None:
            return
        for group, value in match.groupdict().items():
            component = self._log.component_for(group, value) if value else None
            if component in self._log.COMPONENT_CLASSES:
                style = self._log.get_component_rich_style(component, partial=True)
                text.stylize(style, *match.span(group))
