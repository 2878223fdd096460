"""`airi agent`, `airi tui` and `airi up`: run the daemon, attach the control room, or both."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from agent.cli.common import (
    ConfigOption,
    SocketOption,
    TokenFileOption,
    endpoint,
    fail,
    load,
    socket_path,
)

ThemeOption = Annotated[str | None, typer.Option("--theme", help="airi-dark, airi-light, ...")]
START_TIMEOUT = 15.0


def agent_command(config: ConfigOption = None, socket: SocketOption = None) -> None:
    """Run the agent in the foreground (what the systemd unit runs). Stop with Ctrl+C or SIGTERM."""
    settings, secrets = load(config)
    from agent.daemon import Agent, serve
    from agent.logs import setup_logging
    from agent.secrets import secret_values
    from agent.server import ServerError
    from agent.store import StoreError
    from agent.systemd import Notifier

    setup_logging(settings.agent.log_level, secret_values(secrets))
    path = Path(socket) if socket else None
    agent = Agent(settings, secrets, socket_path=path, notifier=Notifier.from_env())
    setup_logging(settings.agent.log_level, agent.secret_values)  # provider keys from env too
    try:
        _run_loop(serve(agent))
    except (ServerError, StoreError) as exc:
        fail(str(exc))
    except OSError as exc:  # anything else the box refused: say what, without a traceback
        fail(f"the agent stopped: {exc}")


def _run_loop(main: object) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)  # type: ignore[arg-type]
    else:
        uvloop.run(main)  # type: ignore[arg-type]


def tui_command(
    config: ConfigOption = None,
    socket: SocketOption = None,
    token_file: TokenFileOption = None,
    theme: ThemeOption = None,
) -> None:
    """Attach the control room to a running agent. Quitting it leaves the agent running."""
    settings, _ = load(config)
    where = endpoint(config, socket, token_file)
    _exec_tui(where.describe(), token_file, theme or settings.tui.theme)


def _exec_tui(where: str, token_file: Path | None, theme: str) -> None:
    # The control room runs as its own program: the agent package never imports the TUI.
    args = [sys.executable, "-m", "airi_tui", "--theme", theme]
    if where.startswith("tcp://"):
        args += ["--tcp", where.removeprefix("tcp://")]
        if token_file:
            args += ["--token-file", str(token_file)]
    else:
        args += ["--socket", where]
    os.execv(sys.executable, args)


def up_command(config: ConfigOption = None, theme: ThemeOption = None) -> None:
    """Start an agent if none is running, then attach the control room to it."""
    settings, _ = load(config)
    path = socket_path(settings)
    if not _agent_answers(path):
        _start_agent_in_background(config, path)
    _exec_tui(str(path), None, theme or settings.tui.theme)


def _agent_answers(path: Path) -> bool:
    from agent.protocol.client import AgentError, Connection, ConnectionLost, FatalLinkError
    from agent.protocol.endpoint import Endpoint
    from agent.protocol.framing import FrameTooLarge

    async def ping() -> bool:
        try:
            connection = await Connection.open(
                Endpoint(path=str(path)), "airi-up", subscribe=False, timeout=2.0
            )
        except FatalLinkError as exc:
            # An agent is there but this airi cannot talk to it: starting another cannot help.
            fail(str(exc))
        except (OSError, TimeoutError, AgentError, ConnectionLost, FrameTooLarge):
            return False
        except asyncio.IncompleteReadError:
            return False  # something accepted and hung up: not an agent that answers
        await connection.close()
        return True

    return asyncio.run(ping())


def _start_agent_in_background(config: Path | None, path: Path) -> None:
    from agent.config import state_dir

    log_path = state_dir() / "agent.log"
    log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    args = [sys.executable, "-m", "agent.cli", "agent"]
    if config:
        args += ["--config", str(config)]
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").splitlines()[-5:]
            fail("the agent did not start:\n  " + "\n  ".join(tail) + f"\n(full log: {log_path})")
        if _agent_answers(path):
            typer.echo(f"started an agent (pid {process.pid}); its log: {log_path}", err=True)
            return
        time.sleep(0.1)
    process.terminate()
    fail(f"the agent did not answer on {path} within {START_TIMEOUT:g} s; see {log_path}")
