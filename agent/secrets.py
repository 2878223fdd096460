"""Secrets: API keys, passwords and tokens, from the environment or a private file.

They never live in config.toml, never reach a log (``redact`` is applied to every record),
the store, or a client of the control socket.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta

from agent.config import ConfigError, Problem, check_table, config_dir


class Secrets(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Every secret the agent knows of. Each may also come from ``AIRI_<NAME>`` in the env."""

    openai_api_key: Annotated[str, Meta(description="OpenAI (or compatible) API key.")] = ""
    anthropic_api_key: Annotated[str, Meta(description="Anthropic API key.")] = ""
    twitch_client_secret: Annotated[str, Meta(description="Twitch application secret.")] = ""
    obs_password: Annotated[str, Meta(description="obs-websocket password.")] = ""
    control_token: Annotated[str, Meta(description="Token for the TCP control port.")] = ""
    providers: Annotated[
        dict[str, str],
        Meta(description='LLM keys by provider name, e.g. [providers] groq = "gsk-...".'),
    ] = msgspec.field(default_factory=dict)


# Well-known variables other tools already use, accepted besides AIRI_<NAME>.
ALIASES = {"openai_api_key": "OPENAI_API_KEY", "anthropic_api_key": "ANTHROPIC_API_KEY"}


def default_secrets_path() -> Path:
    return config_dir() / "secrets.toml"


def env_names(name: str) -> list[str]:
    names = [f"AIRI_{name.upper()}"]
    if name in ALIASES:
        names.append(ALIASES[name])
    return names


def load_secrets(path: Path | None = None) -> tuple[Secrets, dict[str, str]]:
    """The secrets, and for each one that is set, where it came from (never its value)."""
    explicit = path is not None
    path = path or default_secrets_path()
    values: dict[str, str] = {}
    origin: dict[str, str] = {}
    if explicit or not _missing(path):
        for key, value in _read_private_toml(path).items():
            values[key] = value
            origin[key] = str(path)
    for field in msgspec.structs.fields(Secrets):
        if field.name == "providers":  # their variables are the presets' (see provider_key)
            continue
        for env in env_names(field.name):
            if os.environ.get(env):
                values[field.name] = os.environ[env]
                origin[field.name] = f"${env}"
                break
    return msgspec.convert(values, Secrets), origin


def _missing(path: Path) -> bool:
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False  # there, but unreadable: _read_private_toml says why
    return False


def _read_private_toml(path: Path) -> dict[str, str]:
    file = str(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise ConfigError([Problem(file, "", f"cannot be read: {exc.strerror}")]) from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(info.st_mode)
        reason = f"is readable by other users (mode {mode:04o}): run `chmod 600 {file}`"
        raise ConfigError([Problem(file, "", reason)])
    if info.st_uid != os.getuid():
        raise ConfigError([Problem(file, "", "belongs to another user: it must be yours")])
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(file, "", f"not valid TOML: {exc}")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(file, "", f"cannot be read: {exc}")]) from None
    problems = check_table(Secrets, data, file)
    if problems:
        raise ConfigError(problems)
    return dict(data)


def secret_values(secrets: Secrets) -> list[str]:
    """The set secrets' values, longest first, for redaction."""
    values = [*msgspec.structs.astuple(secrets), *secrets.providers.values()]
    return sorted({v for v in values if isinstance(v, str) and len(v) >= 4}, key=len, reverse=True)


def provider_key(
    name: str, preset_name: str, env_vars: tuple[str, ...], secrets: Secrets
) -> tuple[str, str]:
    """The key of the provider called ``name`` (preset ``preset_name``), and where it came from.

    In order: the secrets file's ``[providers]`` under the provider's name, then under the
    preset's; the preset's variables (AIRI_<PRESET>_API_KEY, then the service's own);
    for OpenAI and Anthropic, the older ``openai_api_key``/``anthropic_api_key``.
    ("", "") when none is set.
    """
    for label in (name, preset_name):
        if secrets.providers.get(label):
            return secrets.providers[label], f"secrets [providers] {label}"
    for env in env_vars:
        if os.environ.get(env):
            return os.environ[env], f"${env}"
    legacy = {"openai": secrets.openai_api_key, "anthropic": secrets.anthropic_api_key}
    if legacy.get(preset_name):
        return legacy[preset_name], f"{preset_name}_api_key"
    return "", ""


def redact(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, "********")
    return text
