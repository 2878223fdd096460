"""`airi up` as a streamer runs it: in a real terminal (tmux), on a box with nothing configured."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, private_env

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Terminal:
    """A detached tmux session on its own server, read with capture-pane."""

    def __init__(self, tmp_path: Path) -> None:
        self.server = f"airi-test-{os.getpid()}-{tmp_path.name}"

    def tmux(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True)
        return out.stdout

    def start(self, command: str, env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={v}" for k, v in env.items() if k.startswith(("XDG_", "PATH")))
        self.tmux("new-session", "-d", "-x", "160", "-y", "45", f"env {exports} {command}")
        self.tmux("set-option", "-g", "escape-time", "0")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in (screen := self.screen()):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def wait_closed(self, timeout: float = 10.0) -> bool:
        """True once the program in the session has exited (tmux then ends the session)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if subprocess.run(
                ["tmux", "-L", self.server, "has-session"], capture_output=True
            ).returncode:
                return True
            time.sleep(0.2)
        return False

    def close(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    yield term
    term.close()


def ctl_status(env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-m", "agent.cli", "ctl", "status", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_airi_up_starts_an_agent_attaches_and_quitting_leaves_it_running(
    tmp_path: Path, terminal: Terminal
) -> None:
    env = private_env(tmp_path)
    airi = Path(sys.executable).with_name("airi")
    terminal.start(f"{airi} up", env)
    screen = terminal.wait_for("● attached")
    pid = int(ctl_status(env)["pid"])  # type: ignore[call-overload]
    try:
        assert "DEMO" in screen  # the simulated chat says what it is
        terminal.wait_for("demo ")  # and its lines arrive, each labelled
        terminal.tmux("send-keys", "2")
        assert _eventually_happy(env)
        terminal.tmux("send-keys", "q")
        assert terminal.wait_closed(), "the control room did not quit on q"
        assert ctl_status(env)["pid"] == pid  # the agent outlived its control room
    finally:
        os.kill(pid, signal.SIGTERM)


def _eventually_happy(env: dict[str, str]) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if ctl_status(env)["expression"] == "happy":
            return True
        time.sleep(0.2)
    return False
