"""`airi service install`: run the agent as a systemd service (a user unit by default)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

service_app = typer.Typer(help="Run the agent as a systemd service.", no_args_is_help=True)


@service_app.command("install")
def install_command(
    user: Annotated[
        bool,
        typer.Option("--user/--system", help="A user unit (default), or a system-wide unit."),
    ] = True,
    print_only: Annotated[
        bool, typer.Option("--print", help="Write the unit to stdout instead of installing it.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing unit.")] = False,
) -> None:
    """Write the systemd unit for `airi agent` and say how to enable it."""
    from agent.systemd import unit_text

    command, environment = agent_command_line()
    run_as = None if user else _invoking_user()
    if run_as is not None:
        environment["XDG_RUNTIME_DIR"] = f"/run/user/{run_as[1]}"
    text = unit_text(command, user=user, environment=environment, run_as=run_as)
    path = unit_path(user)
    if print_only:
        typer.echo(text, nl=False)
        typer.echo(f"\nsave it as {path}, then:\n{_next_steps(user)}", err=True)
        return
    _write_unit(path, text, force=force, user=user)
    typer.echo(f"wrote {path}\nnext:\n{_next_steps(user)}")


def unit_path(user: bool) -> Path:
    from agent.systemd import UNIT_NAME

    if not user:
        return Path("/etc/systemd/system") / UNIT_NAME
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user" / UNIT_NAME


def agent_command_line() -> tuple[list[str], dict[str, str]]:
    """How a service starts the agent that is running now, and the environment it needs.

    The `airi` script when that is what runs, else this interpreter with ``-m agent.cli``
    (with PYTHONPATH when the package is not installed, e.g. a source checkout).
    """
    environment = {"PYTHONUNBUFFERED": "1"}  # log lines reach the journal as they happen
    for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        if os.environ.get(name):
            # The service must read the same files `airi config show` shows here.
            environment[name] = os.environ[name]
    script = Path(sys.argv[0])
    if script.name == "airi" and script.is_file():
        return [str(script.absolute()), "agent"], environment
    root = _package_root()
    if not _installed(root):
        environment["PYTHONPATH"] = str(root)
    return [os.path.abspath(sys.executable), "-m", "agent.cli", "agent"], environment


def _package_root() -> Path:
    import agent

    return Path(agent.__file__).resolve().parent.parent


def _installed(root: Path) -> bool:
    import sysconfig

    paths = sysconfig.get_paths()
    return any(Path(paths[key]).resolve() == root for key in ("purelib", "platlib"))


def _invoking_user() -> tuple[str, int]:
    """Who a system unit runs as: the user behind sudo, else whoever runs this."""
    import pwd

    name = os.environ.get("SUDO_USER", "")
    if name:
        try:
            return name, pwd.getpwnam(name).pw_uid
        except KeyError:
            pass
    uid = os.getuid()
    return pwd.getpwuid(uid).pw_name, uid


def _write_unit(path: Path, text: str, *, force: bool, user: bool) -> None:
    if path.exists() and not force:
        _fail(
            f"{path} already exists: not overwriting it. Add --force to replace it, "
            "or --print to see the new unit."
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except PermissionError:
        hint = "" if user else " A system unit needs root: run it with sudo, or use --user."
        _fail(f"cannot write {path}: permission denied.{hint}")
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}")


def _next_steps(user: bool) -> str:
    if user:
        steps = [
            (
                "systemctl --user daemon-reload && systemctl --user enable --now airi-agent",
                "start it now and at every login",
            ),
            ("loginctl enable-linger $USER", "keep it running without a login session"),
            ("journalctl --user -u airi-agent -f", "watch its log"),
        ]
    else:
        steps = [
            (
                "sudo systemctl daemon-reload && sudo systemctl enable --now airi-agent",
                "start it now and at every boot",
            ),
            ("journalctl -u airi-agent -f", "watch its log"),
        ]
    steps.append(("airi doctor", "check that it answers"))
    return "\n".join(f"  {command:<76} # {why}" for command, why in steps)


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)
