"""`airi config init|check|show`: write a starter file, validate one, show what applies.

The starter file is generated from the config Structs (docstrings and field descriptions), so
``agent/config.py`` stays the only declaration of what a config file may say.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, get_args, get_origin

import typer

if TYPE_CHECKING:
    import msgspec

    from agent.config import Problem

config_app = typer.Typer(help="Write, check and show the config file.", no_args_is_help=True)


@config_app.command("init")
def init_command(
    path: Annotated[
        Path | None, typer.Argument(help="Where to write it. Default: the file the agent reads.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config.toml holding every setting at its default."""
    from agent.config import default_config_path

    path = path or default_config_path()
    try:
        _write_starter(path, force)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror or exc}")
    typer.echo(f"wrote {path}: every setting is at its default; edit what you need.")
    typer.echo(f"check it with `airi config check {path}`.")


@config_app.command("check")
def check_command(
    file: Annotated[
        Path | None, typer.Argument(help="File to check. Default: the file the agent reads.")
    ] = None,
) -> None:
    """Validate the config file (and the secrets file, if any); list every problem found."""
    from agent.config import ConfigError, default_config_path, load_config
    from agent.secrets import default_secrets_path

    problems: list[Problem] = []
    try:
        _, read = load_config(file)
    except ConfigError as exc:
        problems += exc.problems
        read = file
    problems += _secrets_problems()
    if problems:
        for problem in problems:
            typer.echo(str(problem))
        typer.echo(f"{len(problems)} problem(s) found.", err=True)
        raise typer.Exit(1)
    if read is None:
        typer.echo(f"ok: no config file at {default_config_path()}, defaults apply.")
    else:
        typer.echo(f"ok: {read} is valid.")
    if os.path.exists(default_secrets_path()):
        typer.echo(f"ok: {default_secrets_path()} is private and valid.")


@config_app.command("show")
def show_command(
    section: Annotated[str | None, typer.Argument(help="Show only this section, e.g. obs.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Config file. Default: the agent's file.")
    ] = None,
) -> None:
    """Print the effective config as TOML, then where each secret comes from (never values)."""
    import msgspec

    from agent.config import Config, ConfigError, load_config

    try:
        effective, read = load_config(config)
    except ConfigError as exc:
        _fail("\n".join(str(p) for p in exc.problems))
    table = msgspec.to_builtins(effective)
    if section is not None:
        if section not in table:
            known = ", ".join(f.name for f in msgspec.structs.fields(Config))
            _fail(f"no section {section!r} (sections: {known})")
        table = {section: table[section]}
    source = str(read) if read else "no config file: defaults"
    typer.echo(f"# effective config ({source})\n")
    typer.echo("\n".join(_table_text(name, values) for name, values in table.items()))
    if section is None:
        report, ok = _secrets_report()
        typer.echo(report)
        if not ok:
            raise typer.Exit(1)


# --- starter file --------------------------------------------------------------------------


def _write_starter(path: Path, force: bool) -> None:
    if path.is_dir():
        _fail(f"{path} is a directory: give the path of the file to write, e.g. {path}/config.toml")
    if path.exists() and not force:
        _fail(
            f"{path} already exists: not overwriting it. Check it with "
            f"`airi config check {path}`, or add --force to replace it with the defaults."
        )
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(starter_config(), encoding="utf-8")


def starter_config() -> str:
    """A config.toml holding every default, each section and key under its own description."""
    import msgspec

    from agent.config import Config

    defaults = Config()
    parts = [_header()]
    for field in msgspec.structs.fields(Config):
        value = getattr(defaults, field.name)
        if isinstance(value, dict):  # [providers.NAME]: an example, commented out
            parts.append(_example_tables(field.name, field.type))
        else:
            parts.append(_section_text(field.name, value))
    return "\n".join(parts)


def _example_tables(name: str, annotation: Any) -> str:
    """A table of named sub-tables, shown as one commented example (``[providers.groq]``)."""

    import inspect

    from agent.config import ProviderEntry

    doc = inspect.cleandoc(ProviderEntry.__doc__ or "").splitlines()
    lines = [_comment([_description(annotation), *doc, "", "For example (uncomment to use):"])]
    example = _section_text(f"{name}.groq", ProviderEntry()).splitlines()
    start = next(i for i, line in enumerate(example) if line.startswith("["))
    lines.append(_comment(example[start:]))
    return "\n".join(lines) + "\n"


def _header() -> str:
    import msgspec

    from agent.secrets import Secrets, default_secrets_path, env_names

    lines = [
        "airi agent configuration. Every value below is the default: change what you need,",
        "delete what you do not. `airi config check` validates this file.",
        "",
        "Secrets never go in this file. Set them in the environment:",
    ]
    for field in msgspec.structs.fields(Secrets):
        names = " or ".join(f"${name}" for name in env_names(field.name))
        lines.append(f"  {names}: {_description(field.type)}")
    lines += [
        f'or as `name = "value"` lines in {default_secrets_path()}',
        "(mode 0600: `chmod 600` it), using the names in lower case without AIRI_,",
        'e.g. openai_api_key = "sk-...".',
    ]
    return _comment(lines) + "\n"


def _section_text(name: str, section: msgspec.Struct) -> str:
    import inspect

    import msgspec

    lines = [_comment(inspect.cleandoc(type(section).__doc__ or "").splitlines()), f"[{name}]"]
    for field in msgspec.structs.fields(section):
        description = _description(field.type)
        if description:
            lines.append(_comment([description]))
        lines.append(f"{field.encode_name} = {_toml_value(getattr(section, field.name))}")
    return "\n".join(lines) + "\n"


def _table_text(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    import tomli_w

    if isinstance(value, dict):
        # tomli_w writes a table as a [header]; under a section it must be an inline table.
        items = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    return tomli_w.dumps({"v": value}).removeprefix("v = ").rstrip("\n")


def _toml_key(key: str) -> str:
    import tomli_w

    return tomli_w.dumps({key: 0}).rsplit(" = ", 1)[0]


def _description(annotation: Any) -> str:
    """The field's Meta description, plus the allowed values of a Literal."""
    from msgspec import Meta

    if get_origin(annotation) is not Annotated:
        return ""
    inner, *metas = get_args(annotation)
    text = next((m.description for m in metas if isinstance(m, Meta) and m.description), "")
    if get_origin(inner) is Literal:
        text += f" One of: {', '.join(map(str, get_args(inner)))}."
    return text.strip()


def _comment(lines: list[str]) -> str:
    return "\n".join(f"# {line}".rstrip() for line in lines)


# --- secrets -------------------------------------------------------------------------------


def _secrets_problems() -> list[Problem]:
    from agent.config import ConfigError
    from agent.secrets import load_secrets

    try:
        load_secrets()  # the default file, when there is one
    except ConfigError as exc:
        return exc.problems
    return []


def _secrets_report() -> tuple[str, bool]:
    """Each secret's state as TOML comments (where it comes from, never its value); ok?"""
    import msgspec

    from agent.config import ConfigError
    from agent.secrets import Secrets, load_secrets

    lines = ["# secrets (values are never shown)"]
    try:
        _, origin = load_secrets()
    except ConfigError as exc:
        return "\n".join([*lines, *(f"# error: {p}" for p in exc.problems)]), False
    for field in msgspec.structs.fields(Secrets):
        where = origin.get(field.name)
        state = f"set (from {where})" if where else "not set"
        lines.append(f"# {field.name:<22} {state}")
    return "\n".join(lines), True


def _fail(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(1)
