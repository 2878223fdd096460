"""`airi doctor`: a table of what works on this box, or JSON lines for scripts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from agent.doctor import Finding

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "off": "dim"}


def doctor(
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per check, one per line.")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file. Default: the agent's file.")
    ] = None,
) -> None:
    """List what works on this box and the next step for what does not."""
    import asyncio

    from agent.doctor import failed, load_setup, run_checks

    findings = asyncio.run(run_checks(load_setup(config)))
    if json_lines:
        import msgspec

        for finding in findings:
            typer.echo(msgspec.json.encode(finding).decode())
    else:
        _print_report(findings)
    if failed(findings):
        raise typer.Exit(1)


def _print_report(findings: list[Finding]) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        # Plain lines for pipes and logs: no box drawing, one finding per line.
        width = max(len(f.check) for f in findings)
        for f in findings:
            typer.echo(f"{f.status:<4}  {f.check:<{width}}  {f.finding}")
            if f.next_step:
                typer.echo(f"{'':<4}  {'':<{width}}  next: {f.next_step}")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("check", style="bold", no_wrap=True)
    table.add_column("finding", overflow="fold", ratio=1)
    table.add_column("next step", overflow="fold", ratio=1)
    for f in findings:
        table.add_row(
            Text(f.status, style=_STYLE[f.status]),
            f.check,
            Text(f.finding),
            Text(f.next_step, style="cyan"),
        )
    console.print(table)
