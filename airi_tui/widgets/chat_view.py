"""Live chat: one inert line per message, demo lines tagged ``demo``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from textual.content import Content
from textual.reactive import reactive

from agent.protocol import inert
from agent.protocol.messages import ChatMessage
from airi_tui.display import CLOCK_PATTERN, clock
from airi_tui.widgets.styled_log import StyledLog

TITLE = "chat"
DEMO_TITLE = "chat \u00b7 DEMO: simulated viewers, not real chat"
DEMO_HINT = "for live chat set [twitch] channel in config.toml"
DEMO_TAG = "demo"


def chat_line(message: ChatMessage) -> str:
    """One message as a plain line: ``demo`` tag if simulated, time, author, text.

    The tag comes before the time, where no viewer's text can reach, so a real viewer cannot
    dress a line up as demo chat (or the reverse) by choosing a name.
    """
    tag = f"{DEMO_TAG} " if message.demo else ""
    return f"{tag}{clock(message.ts)} {inert(message.author, 64)}: {inert(message.text)}"


class ChatView(StyledLog):
    """The chat panel. Its title says so when the chat is the simulated demo chat."""

    PATTERN = re.compile(rf"(?:(?P<demo>{DEMO_TAG}) )?(?P<time>{CLOCK_PATTERN}) (?P<author>[^:]*):")
    COMPONENT_PREFIX = "chat-view"
    COMPONENT_CLASSES = {"chat-view--time", "chat-view--demo", "chat-view--author"}
    MAX_LINES = 1000

    demo: reactive[bool] = reactive(False)
    """True while simulated chat runs or its lines show (until the next redraw)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(self.MAX_LINES, id=id)

    def show(self, messages: Iterable[ChatMessage]) -> None:
        """Append messages at the bottom (one write for the whole batch)."""
        batch = list(messages)
        if batch:
            self.write_lines([chat_line(message) for message in batch])
            self.demo = self.demo or any(message.demo for message in batch)

    def reset(self, messages: Iterable[ChatMessage]) -> None:
        """Show exactly these messages, as after attaching."""
        self.clear()
        self.demo = False
        self.show(messages)

    def watch_demo(self, demo: bool) -> None:
        self.set_class(demo, "-demo")
        # Content, not str: a str title would be parsed as markup and eat "[twitch]".
        self.border_title = Content(DEMO_TITLE if demo else TITLE)
        self.border_subtitle = Content(DEMO_HINT) if demo else None
