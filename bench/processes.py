"""Child processes of a benchmark and what /proc says about them.

``start_agent`` runs a real ``airi agent`` under a private home (XDG dirs, socket, store) and
times it from ``Popen`` to its sd_notify ``READY=1``; ``start_bare`` runs a peer from
``bench.bare``. Every child is stopped by its pid in ``stopping``'s ``finally``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
AGENT_CONFIG = '[demo_chat]\nenabled = "off"\n'
INHERITED_NOT = ("AIRI_", "XDG_", "NOTIFY_", "WATCHDOG_", "JOURNAL_", "OPENAI_", "ANTHROPIC_")


@dataclass
class AgentProcess:
    """A running agent, and how long it took from ``Popen`` to ``READY=1``."""

    home: Path
    proc: subprocess.Popen[bytes]
    ready_seconds: float

    @property
    def socket(self) -> str:
        return str(self.home / "runtime" / "airi" / "agent.sock")


def private_env(home: Path) -> dict[str, str]:
    """This environment with every XDG dir under ``home`` and no airi, systemd or API keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED_NOT)}
    for name, variable in (
        ("config", "XDG_CONFIG_HOME"),
        ("state", "XDG_STATE_HOME"),
        ("runtime", "XDG_RUNTIME_DIR"),
    ):
        (home / name).mkdir(mode=0o700, exist_ok=True)
        env[variable] = str(home / name)
    return env


def start_agent(home: Path) -> AgentProcess:
    """Start ``airi agent`` (demo chat off) and return once it has notified ``READY=1``."""
    config = home / "config.toml"
    config.write_text(AGENT_CONFIG)
    env = private_env(home)
    with notify_socket(home / "notify.sock") as notify:
        env["NOTIFY_SOCKET"] = notify.getsockname()
        args = [sys.executable, "-m", "agent.cli", "agent", "--config", str(config)]
        with (home / "agent.log").open("ab") as log:
            start = time.perf_counter()
            proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=log)
        with stopping(proc, on_error_only=True):
            wait_ready(notify, proc, home / "agent.log")
        return AgentProcess(home, proc, time.perf_counter() - start)


@contextmanager
def notify_socket(path: Path) -> Iterator[socket.socket]:
    """A datagram socket in the role of systemd's ``$NOTIFY_SOCKET``."""
    path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(0.05)
        yield sock
    path.unlink(missing_ok=True)


def wait_ready(notify: socket.socket, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if b"READY=1" in notify.recv(4096).split(b"\n"):
                return
        except TimeoutError:
            if proc.poll() is not None:
                raise RuntimeError(f"the agent exited early:\n{log.read_text()}") from None
    raise RuntimeError(f"the agent sent no READY=1 in {START_TIMEOUT:g} s:\n{log.read_text()}")


def start_bare(kind: str, path: str) -> subprocess.Popen[bytes]:
    """Start a ``bench.bare`` peer and return once it listens on ``path``."""
    args = [sys.executable, "-m", "bench.bare", kind, path]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    with stopping(proc, on_error_only=True):
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError(f"the bare {kind} server did not start (exit {proc.wait()})")
    return proc


@contextmanager
def stopping(proc: subprocess.Popen[bytes], on_error_only: bool = False) -> Iterator[None]:
    """Stop ``proc`` (SIGTERM, then SIGKILL after 10 s) on leaving, or only on an error."""
    try:
        yield
    except BaseException:
        stop(proc)
        raise
    if not on_error_only:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def python_startup_seconds() -> float:
    """Wall time of ``python -c pass`` with this interpreter: the floor under any start."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) of a process, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024
