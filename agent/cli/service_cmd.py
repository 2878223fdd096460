"""`airi service install` (placeholder until written)."""

import typer

service_app = typer.Typer(help="Run the agent as a systemd service.", no_args_is_help=True)
