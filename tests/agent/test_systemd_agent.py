"""The agent process speaks sd_notify to a real datagram socket, as systemd would receive it."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import AgentProcess


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def collect(sock: socket.socket, until: str, timeout: float = 10.0) -> list[str]:
    """Datagrams (as text) until one contains ``until``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if until in seen[-1]:
            return seen
    raise AssertionError(f"no {until!r} within {timeout} s; got {seen}")


def test_ready_status_watchdog_and_stopping(
    agent_process: AgentProcess, notify_socket: socket.socket
) -> None:
    from tests.conftest import private_env

    agent_process.env = private_env(agent_process.tmp_path)
    agent_process.env["NOTIFY_SOCKET"] = notify_socket.getsockname()
    agent_process.env["WATCHDOG_USEC"] = "400000"  # ping expected every 0.2 s
    agent_process.start()
    ready = collect(notify_socket, "READY=1")
    assert any("STATUS=serving on" in d for d in ready)
    started = time.monotonic()
    pings = collect(notify_socket, "WATCHDOG=1")
    pings += collect(notify_socket, "WATCHDOG=1")
    assert time.monotonic() - started < 2.0  # two pings well within two watchdog periods
    assert any(d.startswith("STATUS=") for d in ready + pings)
    assert agent_process.signal(signal.SIGTERM) == 0
    assert any("STOPPING=1" in d for d in collect(notify_socket, "STOPPING=1"))
