"""Child processes of a benchmark and what /proc says about them.

``start_agent`` runs a real ``airi agent`` under a private home (XDG dirs, socket, store) and
times it from ``Popen`` to its sd_notify ``READY=1``; ``start_bare`` runs a peer from
``bench.bare``. Every child is stopped by its pid in ``stopping``'s ``finally``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
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


def start_agent(home: Path, config_text: str = AGENT_CONFIG) -> AgentProcess:
    """Start ``airi agent`` (demo chat off unless told) and return once it notified ``READY=1``."""
    config = home / "config.toml"
    config.write_text(config_text)
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
    """User plus system CPU time of a process (all its threads, ended ones too) so far."""
    return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())


def stat_cpu_seconds(stat: str) -> float:
    """utime plus stime of a /proc stat line (after the command name, which may hold spaces)."""
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def thread_cpu_seconds(pid: int) -> dict[int, tuple[str, float]]:
    """User plus system CPU time of each live thread of a process: tid to (name, seconds)."""
    threads = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            stat = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended while we looked: its time stays in the process's
        threads[int(task.name)] = (name, stat_cpu_seconds(stat))
    return threads


@cache
def thread_names(pid: int) -> dict[int, str]:
    """Each thread's name: Python's, read once with ``py-spy dump`` if installed, else the OS's.

    Python before 3.14 never sets the OS name (comm), so there the agent's store thread
    (``airi-store_0``) is ``python``, like the main thread. The dump stops the process for a
    moment: call this before a measurement, not during one.
    """
    names = {tid: name for tid, (name, _) in thread_cpu_seconds(pid).items()}
    py_spy = Path(sys.executable).with_name("py-spy")
    if py_spy.exists():
        dump = subprocess.run(
            [py_spy, "dump", "-p", str(pid)], capture_output=True, text=True, timeout=10
        )
        for tid, name in re.findall(r'^Thread (\d+) \(\w+\): "(.*)"$', dump.stdout, re.M):
            names[int(tid)] = name
    return names


def rss_mib(pid: int) -> float:
    """Resident set size (VmRSS) of a process, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024
