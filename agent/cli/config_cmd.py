"""`airi config init|check|show` (placeholder until written)."""

import typer

config_app = typer.Typer(help="Write, check and show the config file.", no_args_is_help=True)
