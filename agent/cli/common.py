"""What several commands share: loading config and secrets, and naming the agent's endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from agent.config import Config, ConfigError, load_config
from agent.protocol.endpoint import Endpoint, default_socket_path
from agent.secrets import Secrets, load_secrets

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="Config file (default: $XDG_CONFIG_HOME/airi/config.toml)."
    ),
]
SocketOption = Annotated[
    str | None, typer.Option("--socket", help="Agent socket path, or tcp://127.0.0.1:PORT.")
]
TokenFileOption = Annotated[
    Path | None, typer.Option("--token-file", help="Token file for a TCP endpoint.")
]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"airi: {message}", err=True)
    raise typer.Exit(code)


def load(config_path: Path | None) -> tuple[Config, Secrets]:
    """Config and secrets, or a clear list of problems and exit status 2."""
    try:
        config, _ = load_config(config_path)
        secrets, _ = load_secrets()
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"airi: {problem}", err=True)
        raise typer.Exit(2) from None
    return config, secrets


def socket_path(config: Config) -> Path:
    return Path(config.control.socket) if config.control.socket else default_socket_path()


def endpoint(config_path: Path | None, socket: str | None, token_file: Path | None) -> Endpoint:
    """Where to reach the agent: --socket wins, then the config's socket."""
    token = ""
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            fail(f"cannot read the token file {token_file}: {exc.strerror}")
    if socket:
        try:
            return Endpoint.parse(socket, token)
        except ValueError as exc:
            fail(str(exc), 2)
    config, _ = load(config_path)
    return Endpoint(path=str(socket_path(config)), token=token)
