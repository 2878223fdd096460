"""Where the control socket lives and how to name an agent to connect to."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def runtime_dir() -> Path:
    """``$XDG_RUNTIME_DIR/airi``, or a per-user directory under the temp dir without one."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return Path(base) / "airi"
    return Path(os.environ.get("TMPDIR", "/tmp")) / f"airi-{os.getuid()}"


def default_socket_path() -> Path:
    return runtime_dir() / "agent.sock"


@dataclass(frozen=True)
class Endpoint:
    """A unix socket path, or a 127.0.0.1 TCP port with the token its first frame must carry."""

    path: str = ""
    host: str = ""
    port: int = 0
    token: str = ""

    @classmethod
    def parse(cls, spec: str, token: str = "") -> Endpoint:
        """``/path/to/agent.sock`` or ``tcp://127.0.0.1:7878`` (a bare ``host:port`` too)."""
        if spec.startswith("tcp://") or (":" in spec and "/" not in spec):
            host, _, port = spec.removeprefix("tcp://").rpartition(":")
            if not port.isdigit():
                raise ValueError(f"{spec!r} is not host:port (the port must be a number)")
            return cls(host=host or "127.0.0.1", port=int(port), token=token)
        return cls(path=spec or str(default_socket_path()), token=token)

    def describe(self) -> str:
        return f"tcp://{self.host}:{self.port}" if self.port else self.path
