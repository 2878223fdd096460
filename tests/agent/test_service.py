"""`airi service install`: the unit it writes, checked by systemd's own parser, and run."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agent.cli import app
from agent.systemd import unit_text
from tests.conftest import ROOT, private_env

pytestmark = pytest.mark.timeout(60)

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in private_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith("AIRI_"):
            monkeypatch.delenv(name)
    return tmp_path


def airi(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def unit_file(home: Path) -> Path:
    return home / "config" / "systemd" / "user" / "airi-agent.service"


def settings(text: str) -> dict[str, list[str]]:
    """key -> values of a unit file (keys may repeat, e.g. Environment)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def verify(unit: Path, *, user: bool) -> list[str]:
    """What systemd's own parser says about the unit (it exits 0 even on bad lines)."""
    with tempfile.TemporaryDirectory(prefix="rt-") as runtime:  # short: socket paths in it
        command = ["systemd-analyze", *(["--user"] if user else []), "verify", str(unit)]
        env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
        checked = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30)
    assert checked.returncode == 0, checked.stderr
    # --user also loads the box's other user units; keep what concerns ours.
    return [line for line in checked.stderr.splitlines() if unit.name in line]


def test_install_writes_a_notify_user_unit(home: Path) -> None:
    result = airi("service", "install")
    assert result.exit_code == 0, result.output
    unit = unit_file(home)
    assert f"wrote {unit}" in result.output
    values = settings(unit.read_text())
    assert values["Type"] == ["notify"] and values["NotifyAccess"] == ["main"]
    assert values["Restart"] == ["on-failure"] and values["RestartSec"] == ["2"]
    assert values["WatchdogSec"] == ["30"] and values["TimeoutStopSec"] == ["15"]
    assert values["WantedBy"] == ["default.target"]
    assert "User" not in values  # a user unit runs as its user
    command = shlex.split(values["ExecStart"][0])
    assert command == [os.path.abspath(sys.executable), "-m", "agent.cli", "agent"]
    assert f'"XDG_CONFIG_HOME={home / "config"}"' in values["Environment"]
    # This checkout is not installed in site-packages: the unit must still find the package.
    assert f'"PYTHONPATH={ROOT}"' in values["Environment"]


def test_install_says_how_to_enable_and_watch_it(home: Path) -> None:
    output = airi("service", "install").output
    assert "systemctl --user daemon-reload && systemctl --user enable --now airi-agent" in output
    assert "loginctl enable-linger $USER" in output
    assert "journalctl --user -u airi-agent -f" in output


def test_install_refuses_to_overwrite_without_force(home: Path) -> None:
    unit = unit_file(home)
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    result = airi("service", "install")
    assert result.exit_code == 1
    assert "already exists" in result.output and "--force" in result.output
    assert unit.read_text() == "[Service]\nExecStart=/bin/true\n"
    assert airi("service", "install", "--force").exit_code == 0
    assert "Type=notify" in unit.read_text()


def test_print_writes_the_unit_to_stdout_and_nothing_to_disk(home: Path) -> None:
    result = airi("service", "install", "--print")
    assert result.exit_code == 0
    assert result.stdout.startswith("[Unit]\n") and "Type=notify" in result.stdout
    assert "systemctl --user" not in result.stdout  # the advice goes to stderr
    assert "systemctl --user enable --now airi-agent" in result.stderr
    assert not unit_file(home).exists()


def test_system_unit_runs_as_the_invoking_user(home: Path) -> None:
    import pwd

    result = airi("service", "install", "--system", "--print")
    assert result.exit_code == 0
    values = settings(result.stdout)
    assert values["WantedBy"] == ["multi-user.target"]
    assert values["User"] == [os.environ.get("SUDO_USER") or pwd.getpwuid(os.getuid()).pw_name]
    assert "sudo systemctl daemon-reload && sudo systemctl enable --now airi-agent" in (
        result.stderr
    )
    assert "/etc/systemd/system/airi-agent.service" in result.stderr


@needs_systemd_analyze
def test_systemd_accepts_the_user_unit(home: Path) -> None:
    airi("service", "install")
    assert verify(unit_file(home), user=True) == []


@needs_systemd_analyze
def test_systemd_accepts_the_system_unit(home: Path) -> None:
    unit = home / "airi-agent.service"
    unit.write_text(airi("service", "install", "--system", "--print").stdout)
    assert verify(unit, user=False) == []


def test_exec_start_quotes_what_systemd_would_expand() -> None:
    words = [sys.executable, "-c", "print('a b')", "50%", "$HOME", 'say "hi"', "back\\slash"]
    line = next(x for x in unit_text(words, user=True).splitlines() if x.startswith("ExecStart="))
    assert line == (
        f'ExecStart={sys.executable} -c "print(\'a b\')" "50%%" "$$HOME" '
        '"say \\"hi\\"" "back\\\\slash"'
    )
    with pytest.raises(ValueError, match="absolute"):
        unit_text(["python3", "-m", "agent.cli"], user=True)


@needs_systemd_analyze
def test_systemd_accepts_the_quoted_words(tmp_path: Path) -> None:
    words = [sys.executable, "-c", "print('a b')", "50%", "$HOME", 'say "hi"']
    unit = tmp_path / "airi-agent.service"
    unit.write_text(unit_text(words, user=False, environment={"A": "1 2", "B": "x%y"}))
    assert verify(unit, user=False) == []


def test_the_units_command_starts_an_agent_that_notifies_systemd(home: Path) -> None:
    """Run ExecStart with the unit's Environment, as systemd would, and be its NOTIFY_SOCKET."""
    values = settings(airi("service", "install", "--print").stdout)
    env = private_env(home)
    for assignment in values["Environment"]:
        key, _, value = assignment.strip('"').partition("=")
        env[key] = value
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(home / "notify"))
        notify.settimeout(20)
        env["NOTIFY_SOCKET"] = str(home / "notify")
        log = (home / "agent.log").open("wb")
        agent = subprocess.Popen(
            shlex.split(values["ExecStart"][0]), env=env, cwd="/", stdout=log, stderr=log
        )
        try:
            started = time.monotonic()
            assert "READY=1" in notify.recv(4096).decode().split("\n"), "no READY=1"
            assert time.monotonic() - started < 20
            agent.send_signal(signal.SIGTERM)
            seen = {notify.recv(4096).decode() for _ in range(2)}
            assert any("STOPPING=1" in message.split("\n") for message in seen), seen
            assert agent.wait(timeout=15) == 0
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
