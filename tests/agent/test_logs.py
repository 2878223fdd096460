"""Logs reach the journal in its form and the TUI's log view, with secrets masked on both."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys

from agent.daemon import Agent
from agent.logs import EventStreamHandler, RedactingFormatter
from agent.protocol import Connection
from agent.protocol import messages as m
from tests.conftest import ROOT, AgentProcess, private_env

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


async def test_a_secret_in_the_environment_never_reaches_clients_logs_or_store(
    agent_process: AgentProcess,
) -> None:
    agent_process.env = private_env(agent_process.tmp_path)
    agent_process.env["AIRI_OPENAI_API_KEY"] = SECRET
    agent_process.config = {"demo_chat": {"enabled": "on", "messages_per_minute": 3000}}
    agent_process.start()
    conn = await Connection.open(agent_process.endpoint, "spy")
    await conn.request(m.Say(text="hello"))
    wire = [conn.welcome.snapshot]
    async with asyncio.timeout(5):
        async for event in conn.events():
            wire.append(event)
            if len(wire) > 30:
                break
    await conn.close()
    agent_process.stop()
    assert SECRET not in repr(wire)
    assert SECRET not in agent_process.log_path.read_text()
    dump = "\n".join(sqlite3.connect(agent_process.store_path).iterdump())
    assert "hello" in dump and SECRET not in dump
    shown = subprocess.run(
        [sys.executable, "-m", "agent.cli", "config", "show"],
        env=agent_process.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "openai_api_key" in shown.stdout and SECRET not in shown.stdout
