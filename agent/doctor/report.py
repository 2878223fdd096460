"""What the doctor's checks look at (``Setup``) and what each one reports (``Finding``)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import msgspec

from agent.config import Config, ConfigError, Problem, default_config_path, load_config
from agent.protocol import default_socket_path
from agent.secrets import Secrets, default_secrets_path, env_names, load_secrets

Status = Literal["ok", "warn", "fail", "off"]


class Finding(msgspec.Struct):
    """One line of the report: what was checked, how it stands, and what to do about it."""

    check: str
    status: Status
    finding: str
    next_step: str = ""


@dataclass
class Setup:
    """What the checks look at: the config (defaults when it is unusable) and the secrets."""

    config: Config
    config_path: Path
    config_found: bool
    config_problems: list[Problem] = field(default_factory=list)
    secrets_path: Path = field(default_factory=default_secrets_path)
    secrets_problems: list[Problem] = field(default_factory=list)
    secret_origin: dict[str, str] = field(default_factory=dict)

    @property
    def socket_path(self) -> Path:
        socket = self.config.control.socket
        return Path(socket) if socket else default_socket_path()


def load_setup(config_path: Path | None = None) -> Setup:
    """Read the config and secrets, keeping their problems for the report instead of raising."""
    try:
        config, read = load_config(config_path)
        setup = Setup(config, read or default_config_path(), read is not None)
    except ConfigError as exc:
        setup = Setup(Config(), config_path or default_config_path(), True, exc.problems)
    try:
        _, setup.secret_origin = load_secrets()
    except ConfigError as exc:
        setup.secrets_problems = exc.problems
        setup.secret_origin = _env_origin()
    return setup


def _env_origin() -> dict[str, str]:
    origin = {}
    for f in msgspec.structs.fields(Secrets):
        found = next((name for name in env_names(f.name) if os.environ.get(name)), None)
        if found:
            origin[f.name] = f"${found}"
    return origin


Check = Callable[[Setup], Awaitable[Finding]]
