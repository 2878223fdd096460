"""The optional TCP control port: 127.0.0.1 only, and a token from a 0600 file first."""

from __future__ import annotations

import socket
import stat
from pathlib import Path

import pytest

from agent.protocol import Connection, Endpoint, FatalLinkError
from tests.conftest import AgentProcess


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_tcp_needs_the_token_from_the_private_token_file(
    agent_process: AgentProcess,
) -> None:
    port = free_port()
    agent_process.config = {"demo_chat": {"enabled": "off"}, "control": {"tcp_port": port}}
    agent_process.start()
    token_file = agent_process.tmp_path / "state" / "airi" / "control.token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 32

    good = await Connection.open(Endpoint(host="127.0.0.1", port=port, token=token), "tcp")
    assert good.welcome.snapshot.agent_name == "airi"
    await good.close()
    for wrong in ("", "x" * len(token)):
        with pytest.raises(FatalLinkError, match="token"):
            await Connection.open(Endpoint(host="127.0.0.1", port=port, token=wrong), "tcp")


async def test_tcp_listens_on_loopback_only(agent_process: AgentProcess) -> None:
    port = free_port()
    agent_process.config = {"demo_chat": {"enabled": "off"}, "control": {"tcp_port": port}}
    agent_process.start()
    listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
    local = [line.split()[1] for line in listening if line.split()[3] == "0A"]  # LISTEN
    ours = [addr for addr in local if int(addr.split(":")[1], 16) == port]
    assert ours == ["0100007F:" + f"{port:04X}"]  # 127.0.0.1, nothing else
