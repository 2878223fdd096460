"""`airi providers list`: every provider preset, where it lives, and whether its key is set.

Key values are never printed: only the name of the variable that holds one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from agent.providers.presets import Preset

providers_app = typer.Typer(help="The LLM providers airi can talk to.", no_args_is_help=True)

_KEY_STYLE = {"set": "green", "not set": "yellow", "optional": "dim", "not needed": "dim"}


@providers_app.command("list")
def list_command(
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per preset, one per line.")
    ] = False,
    local_only: Annotated[
        bool, typer.Option("--local", help="Only servers on this machine (no cloud).")
    ] = False,
) -> None:
    """List every provider preset: kind, base URL, default model, and whether its key is set."""
    from agent.providers.presets import PRESETS

    rows = [preset_row(p) for p in PRESETS if p.local or not local_only]
    if json_lines:
        import msgspec

        for row in rows:
            typer.echo(msgspec.json.encode(row).decode())
    else:
        _print_table(rows)


def preset_row(preset: Preset) -> dict[str, object]:
    """What `providers list` says about one preset (never a key's value)."""
    state, source = key_state(preset)
    # The service's own variable is the one people know; AIRI_<NAME>_API_KEY wins when both are set.
    return {
        "name": preset.name,
        "display_name": preset.display_name,
        "kind": preset.kind,
        "where": "local" if preset.local else "hosted",
        "base_url": _address(preset),
        "default_model": preset.default_model or "(server's model)",
        "key_env": preset.env_vars[-1] if preset.env_vars else "",
        "key_envs": list(preset.env_vars),
        "key": state,
        "key_from": source,
        "confirmed": preset.confirmed,
        "note": preset.note,
    }


def _address(preset: Preset) -> str:
    if preset.kind == "autonomous":
        return "(no network)"
    return preset.base_url or "(your base_url)"


def key_state(preset: Preset) -> tuple[str, str]:
    """``(state, variable)``: set (and from which variable), not set, optional or not needed."""
    for env in preset.env_vars:
        if os.environ.get(env):
            return "set", env
    if not preset.env_vars:
        return "not needed", ""
    return ("not set" if preset.key_required else "optional"), ""


def _key_label(row: dict[str, object]) -> str:
    return f"{row['key']} (${row['key_from']})" if row["key_from"] else str(row["key"])


def _print_table(rows: list[dict[str, object]]) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    columns = ["name", "kind", "where", "base_url", "default_model", "key_env", "key"]
    if not console.is_terminal:
        # Plain aligned columns for pipes and logs: no box drawing, one preset per line.
        lines = [columns, *([str(r[c]) for c in columns[:-1]] + [_key_label(r)] for r in rows)]
        widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
        for line in lines:
            typer.echo(
                "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            )
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold", no_wrap=column == "name")
    for row in rows:
        cells = [Text(str(row[c])) for c in columns[:-1]]
        table.add_row(*cells, Text(_key_label(row), style=_KEY_STYLE[str(row["key"])]))
    console.print(table)
    unconfirmed = [str(r["name"]) for r in rows if not r["confirmed"]]
    if unconfirmed:
        console.print(f"[dim]not yet checked against the service's docs: {', '.join(unconfirmed)}")
