"""The ``airi`` command. Heavy imports stay inside the commands so ``airi --help`` is instant."""

from __future__ import annotations

import typer

from agent.cli.config_cmd import config_app
from agent.cli.ctl import ctl_app
from agent.cli.doctor_cmd import doctor
from agent.cli.providers_cmd import providers_app
from agent.cli.run import agent_command, tui_command, up_command
from agent.cli.service_cmd import service_app

app = typer.Typer(
    name="airi",
    help="airi: a control room for AI streamers (a headless agent and a TUI that drives it).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("agent")(agent_command)
app.command("tui")(tui_command)
app.command("up")(up_command)
app.command("doctor")(doctor)
app.add_typer(ctl_app, name="ctl")
app.add_typer(config_app, name="config")
app.add_typer(providers_app, name="providers")
app.add_typer(service_app, name="service")


def main() -> None:
    app()
