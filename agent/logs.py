"""Logging: to stderr in a form journald reads well, and into the event stream for the TUI.

Under systemd (``JOURNAL_STREAM`` set) each line starts with its syslog priority (``<4>``) and
carries no timestamp, since the journal adds its own. Every record passes through ``redact`` so
a secret that slipped into a message is masked before it is written anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable

from agent.protocol.messages import LogLine
from agent.protocol.text import inert
from agent.secrets import redact

_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: list[str], journal: bool) -> None:
        fmt = (
            "%(name)s: %(message)s"
            if journal
            else "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
        )
        super().__init__(fmt, datefmt="%H:%M:%S")
        self.secrets = secrets
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = redact(super().format(record), self.secrets)
        if self.journal:
            # Every line carries the record's priority: a newline inside a message (a
            # traceback, or text from a client) cannot forge an entry of its own.
            priority = f"<{_PRIORITY.get(record.levelname, 6)}>"
            return "\n".join(priority + line for line in text.splitlines())
        return text


class EventStreamHandler(logging.Handler):
    """Hands each record to the bus as a LogLine, always from the event loop's thread."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        publish: Callable[[LogLine], None],
        secrets: list[str],
    ) -> None:
        super().__init__()
        self.loop = loop
        self.publish = publish
        self.secrets = secrets

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        message = redact(message, self.secrets)  # after composing: the error may quote a key
        line = LogLine(
            ts=record.created,
            level=record.levelname.lower(),
            logger=record.name,
            message=inert(message, 1000),
        )
        # Deferred even on the loop's thread: a log call made while publishing must not
        # publish re-entrantly.
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.publish, line)


def setup_logging(level: str, secrets: list[str]) -> None:
    """stderr logging for the whole process; call once, before anything logs."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingFormatter(secrets, journal=bool(os.environ.get("JOURNAL_STREAM")))
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.Formatter.converter = time.localtime


def attach_event_stream(handler: EventStreamHandler, level: str) -> None:
    handler.setLevel(level.upper())
    logging.getLogger().addHandler(handler)


def detach_event_stream(handler: EventStreamHandler) -> None:
    logging.getLogger().removeHandler(handler)
