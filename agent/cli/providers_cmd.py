"""`airi providers list`: every provider preset, where it lives, and whether its key is set.
`airi providers check`: probe the configured providers and say how fast each answered, or why not.

Key values are never printed: only the name of the variable (or file) that holds one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from agent.cli.common import ConfigOption

if TYPE_CHECKING:
    from agent.config import Config
    from agent.providers.mesh import Configured
    from agent.providers.presets import Preset
    from agent.secrets import Secrets

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


# --- airi providers check -------------------------------------------------------------------

_RESULT_STYLE = {"ok": "green", "failed": "bold red", "misconfigured": "yellow"}
NO_PROVIDERS = (
    "no LLM providers are configured: the autonomous persona answers chat on its own.\n"
    "To add one, put a table in config.toml (`airi config init` writes a starter file):\n"
    "  [providers.groq]\n"
    "then set its key, here $GROQ_API_KEY (`airi providers list` shows every service and its\n"
    "variable), and run `airi providers check` again."
)


class _UnknownName(Exception):
    """NAME is not a configured provider; the message lists the configured ones."""


@providers_app.command("check")
def check_command(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="Check only this provider (its name in config.toml)."),
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per provider, one per line.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds each provider gets to answer.")
    ] = 10.0,
    config: ConfigOption = None,
) -> None:
    """Probe the configured providers at once: latency, or exactly why one does not answer.

    Exit status 0 when every provider checked answered (or none is configured: the persona
    answers then), 1 when one did not, 2 for a config problem or an unknown NAME.
    """
    import asyncio

    from agent.cli.common import fail, load

    settings, secrets = load(config)
    try:
        rows = asyncio.run(check_providers(settings, secrets, name, timeout))
    except _UnknownName as exc:
        fail(str(exc), 2)
    if not rows:
        typer.echo(NO_PROVIDERS, err=json_lines)
        return
    if json_lines:
        import msgspec

        for row in rows:
            typer.echo(msgspec.json.encode(row).decode())
    else:
        _print_checks(rows)
    if any(row["status"] != "ok" for row in rows):
        raise typer.Exit(1)


async def check_providers(
    config: Config, secrets: Secrets, name: str | None, timeout: float
) -> list[dict[str, object]]:
    """One row per provider probed: built by the agent's own ``Mesh``, so both agree."""
    import asyncio

    import msgspec

    from agent.providers.mesh import Mesh
    from agent.secrets import secret_values

    # The mesh bounds a probe by `first_token`: here the streamer's --timeout bounds it instead.
    router = msgspec.structs.replace(config.router, first_token=timeout)
    mesh = Mesh(msgspec.structs.replace(config, router=router), secrets, lambda _event: None)
    try:
        names = _names(mesh.providers, name)
        await mesh.warm()  # SDK imports and clients now, so no latency counts them
        keys = [*mesh.keys(), *secret_values(secrets)]

        async def check(one: str) -> dict[str, object]:
            configured = mesh.providers[one]
            row = _check_row(configured)
            try:
                seconds = await mesh.probe(one)
            except RuntimeError as exc:
                row["status"] = "misconfigured" if configured.adapter is None else "failed"
                row["error"] = _why(exc, configured, timeout, keys)
            else:
                row["status"], row["latency_ms"] = "ok", round(seconds * 1000)
            return row

        return list(await asyncio.gather(*(check(one) for one in names)))
    finally:
        await mesh.close()


def _names(providers: dict[str, Configured], name: str | None) -> list[str]:
    """The providers to check: NAME alone, or every one that calls out (not the persona)."""
    if name is None:
        return [n for n, c in providers.items() if c.preset.kind != "autonomous"]
    if name in providers:
        return [name]
    known = [n for n, c in providers.items() if c.preset.kind != "autonomous"]
    where = f"configured: {', '.join(known)}" if known else "none is: add [providers.NAME]"
    raise _UnknownName(f"no provider named {name!r} is configured ({where})")


def _check_row(configured: Configured) -> dict[str, object]:
    """What `providers check` says of one provider before its probe: the same key words as
    `providers list` (set, not set, optional, not needed) and where a set key came from."""
    preset = configured.preset
    if configured.key_origin:
        key = "set"
    elif preset.auth == "none" or preset.kind == "autonomous":
        key = "not needed"
    else:
        key = "not set" if preset.key_required else "optional"
    return {
        "name": configured.name,
        "preset": preset.name,
        "model": configured.model,  # empty: whatever the local server has loaded
        "key": key,
        "key_from": configured.key_origin,  # never the value
        "address": _address_of(preset),
        "enabled": configured.enabled,
        "status": "",
        "latency_ms": None,
        "error": "",
    }


def _address_of(preset: Preset) -> str:
    """host:port of the preset's API, the port spelled out even when the scheme implies it."""
    from urllib.parse import urlsplit

    if not preset.base_url:
        return ""
    url = urlsplit(preset.base_url)
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:  # a port that is not a number: the SDK will say so on the probe
        return url.netloc
    return f"{url.hostname}:{port}"


def _why(exc: RuntimeError, configured: Configured, timeout: float, keys: list[str]) -> str:
    """The mesh's reason, made exact: the service's own words, or the address that failed.

    The service's message is shown redacted (some services echo the key they were sent).
    """
    import socket

    from agent.protocol.text import inert
    from agent.secrets import redact

    reason = str(exc)
    address = _address_of(configured.preset)
    chain = _causes(exc.__cause__)
    if any(isinstance(e, TimeoutError) for e in chain):
        return f"no answer within {timeout:g} s from {address}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return f"connection refused by {address}: is the server running there?"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return f"cannot resolve {configured.preset.base_url}: check the base URL"
    said = next((m for m in map(_service_message, chain) if m), "")
    if said:
        return f'{reason}; the service said: "{inert(redact(said, keys), 300)}"'
    if exc.__cause__ is not None and address:
        return f"{reason} ({address})"
    return reason


def _causes(exc: BaseException | None) -> list[BaseException]:
    """``exc`` and what it was raised from or during, outermost first."""
    chain: list[BaseException] = []
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def _service_message(exc: BaseException) -> str:
    """The message in an SDK error's JSON body: OpenAI's {"error": {...}} or Anthropic's."""
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) else ""


def _result(row: dict[str, object]) -> str:
    if row["status"] == "ok":
        return f"ok {row['latency_ms']} ms"
    return f"{row['status']}: {row['error']}"


def _print_checks(rows: list[dict[str, object]]) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    columns = ["name", "preset", "model", "key"]
    cells = [
        [
            str(r["name"]) + ("" if r["enabled"] else " (disabled)"),
            str(r["preset"]),
            str(r["model"] or "(server's model)"),
            str(r["key_from"] or r["key"]),  # where a set key came from, never its value
        ]
        for r in rows
    ]
    answered = sum(r["status"] == "ok" for r in rows)
    summary = f"{answered} of {len(rows)} answered"
    if not console.is_terminal:
        lines = [
            [*columns, "result"],
            *([*c, _result(r)] for c, r in zip(cells, rows, strict=True)),
        ]
        widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
        for line in lines:
            padded = [cell.ljust(w) for cell, w in zip(line, widths, strict=False)]
            typer.echo("  ".join([*padded, line[-1]]).rstrip())
        typer.echo(summary)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=column == "name")
    table.add_column("result", overflow="fold", ratio=1)
    for row_cells, row in zip(cells, rows, strict=True):
        result = Text(_result(row), style=_RESULT_STYLE[str(row["status"])])
        table.add_row(*map(Text, row_cells), result)
    console.print(table)
    console.print(summary, style="green" if answered == len(rows) else "bold red")
