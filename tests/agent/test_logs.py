"""Logs reach the journal in its form and the TUI's log view, with secrets masked on both."""

from __future__ import annotations

import asyncio
import logging

from agent.daemon import Agent
from agent.logs import EventStreamHandler, RedactingFormatter
from agent.protocol import Connection
from agent.protocol import messages as m

SECRET = "sk-live-0123456789abcdef"


def record(message: str, level: int = logging.WARNING) -> logging.LogRecord:
    return logging.LogRecord("agent.obs", level, __file__, 1, message, None, None)


def test_journal_lines_carry_the_syslog_priority_and_no_timestamp() -> None:
    formatter = RedactingFormatter([SECRET], journal=True)
    assert formatter.format(record(f"key {SECRET} refused")) == "<4>agent.obs: key ******** refused"


def test_terminal_lines_have_a_time_and_level() -> None:
    line = RedactingFormatter([], journal=False).format(record("hi", logging.INFO))
    assert line.endswith("INFO    agent.obs: hi") and line[2] == ":"


async def test_log_records_become_events_with_secrets_masked_and_text_inert() -> None:
    lines: list[m.LogLine] = []
    handler = EventStreamHandler(asyncio.get_running_loop(), lines.append, [SECRET])
    handler.emit(record(f"token {SECRET}\x1b[31m red"))
    await asyncio.sleep(0)
    assert lines[0].message == "token ********\ufffd[31m red" and lines[0].level == "warning"


async def test_agent_logs_reach_attached_clients(inproc_agent: Agent) -> None:
    conn = await Connection.open(inproc_agent.endpoint, "log-watcher")
    logging.getLogger("agent.test").warning("the stream is live")
    async with asyncio.timeout(5):
        async for event in conn.events():
            if isinstance(event, m.LogRecorded) and "the stream is live" in event.line.message:
                break
    await conn.close()
