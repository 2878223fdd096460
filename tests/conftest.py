"""Shared fixtures: a real agent as a separate process, and one in-process, on tmp sockets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import tomli_w

from agent.config import parse_config
from agent.daemon import Agent
from agent.protocol import PROTOCOL_VERSION, Endpoint, Hello, encode

ROOT = Path(__file__).resolve().parent.parent


def private_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose XDG dirs all live under tmp_path, with no keys leaking in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRI_", "XDG_", "NOTIFY_"))}
    env.pop("OPENAI_API_KEY", None)
    env.pop("ANTHROPIC_API_KEY", None)
    for name in ("CONFIG", "STATE", "RUNTIME"):
        path = tmp_path / name.lower()
        path.mkdir(mode=0o700, exist_ok=True)
        env[f"XDG_{name}_HOME" if name != "RUNTIME" else "XDG_RUNTIME_DIR"] = str(path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def answers(path: Path) -> bool:
    """True when an agent at ``path`` completes a handshake (blocking; usable anywhere)."""
    hello = encode(Hello(protocol_version=PROTOCOL_VERSION, client_name="probe", subscribe=False))
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(hello)
            header = sock.recv(4)
    except OSError:
        return False
    return len(header) == 4


@dataclass
class AgentProcess:
    """A real `airi agent` process on a private socket."""

    tmp_path: Path
    config: dict[str, object]
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.tmp_path / "runtime" / "airi" / "agent.sock"

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(path=str(self.socket))

    @property
    def store_path(self) -> Path:
        return self.tmp_path / "state" / "airi" / "airi.sqlite3"

    @property
    def log_path(self) -> Path:
        return self.tmp_path / "agent.log"

    def start(self, timeout: float = 15.0) -> None:
        config_file = self.tmp_path / "config.toml"
        config_file.write_text(tomli_w.dumps(self.config))
        self.env = self.env or private_env(self.tmp_path)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "agent", "--config", str(config_file)],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"agent exited early:\n{self.log_path.read_text()}")
            if self.socket.exists() and answers(self.socket):
                return
            time.sleep(0.05)
        raise AssertionError(f"agent did not come up:\n{self.log_path.read_text()}")

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGTERM)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process's XDG dirs under tmp_path, with no keys from the developer's environment."""
    for name, value in private_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    for name in list(os.environ):
        if name.startswith("AIRI_") or name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
            monkeypatch.delenv(name)
    return tmp_path


@pytest.fixture
def agent_process(tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(tmp_path, {"demo_chat": {"enabled": "off"}})
    yield process
    process.stop()


@pytest.fixture
async def inproc_agent(tmp_path: Path) -> AsyncIterator[Agent]:
    config = parse_config({"demo_chat": {"enabled": "off"}})
    agent = Agent(config, state_dir=tmp_path / "state", socket_path=tmp_path / "agent.sock")
    await agent.start()
    yield agent
    await agent.stop("test finished")
