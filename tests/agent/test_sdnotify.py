"""sd_notify without a library: datagrams a real AF_UNIX socket receives, as systemd would."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.systemd import Notifier


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket at a path, like the one systemd passes in NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(2.0)
        yield sock, str(path)


def received(sock: socket.socket) -> set[str]:
    return set(sock.recv(4096).decode().split("\n"))


def test_every_notification_reaches_the_socket(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, path = systemd_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    notifier.ready("serving on /run/user/1000/airi/agent.sock")
    assert received(sock) == {"READY=1", "STATUS=serving on /run/user/1000/airi/agent.sock"}
    notifier.status("2 clients attached\nall up")  # a newline would start a bogus field
    assert received(sock) == {"STATUS=2 clients attached all up"}
    notifier.watchdog()
    assert received(sock) == {"WATCHDOG=1"}
    notifier.stopping()
    assert received(sock) == {"STOPPING=1"}
    notifier.close()


def test_abstract_namespace_socket() -> None:
    name = f"airi-test-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(2.0)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": f"@{name}"})
        notifier.ready()
        assert received(sock) == {"READY=1"}
        notifier.watchdog()
        assert received(sock) == {"WATCHDOG=1"}


def test_reads_the_real_environment(
    systemd_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = systemd_socket
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    Notifier.from_env().stopping()
    assert received(sock) == {"STOPPING=1"}


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier.from_env()
    assert not notifier.enabled
    notifier.ready("x")
    notifier.watchdog()
    notifier.stopping()
    assert notifier.watchdog_interval is None


def test_a_vanished_socket_never_raises_and_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.DEBUG, logger="agent.systemd"):
        for _ in range(3):
            notifier.watchdog()
            notifier.status("still here")
    assert len([r for r in caplog.records if "sd_notify" in r.getMessage()]) == 1


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000"}
    assert Notifier.from_env(env).watchdog_interval == 15.0
    mine = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_env(mine).watchdog_interval == 15.0


@pytest.mark.parametrize(
    "extra",
    [
        {"WATCHDOG_PID": "1"},  # meant for another process (e.g. our parent)
        {"WATCHDOG_USEC": "0"},
        {"WATCHDOG_USEC": "soon"},
        {"WATCHDOG_USEC": ""},
    ],
)
def test_watchdog_interval_is_none_unless_meant_for_us(extra: dict[str, str]) -> None:
    env = {"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "30000000", **extra}
    assert Notifier.from_env(env).watchdog_interval is None
