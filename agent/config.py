"""The agent's configuration: one TOML file read into msgspec Structs.

The Structs below are the only declaration of what a config file may say: unknown keys are
errors, every field has a default (no file is needed), and each field's description is what
``airi config init`` writes above it. Secrets never live here: see ``agent.secrets``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
from msgspec import Meta

DEFAULT_EXPRESSIONS = [
    "neutral",
    "happy",
    "sad",
    "angry",
    "surprised",
    "thinking",
    "blush",
    "wink",
    "sleepy",
]


def _doc(text: str) -> Meta:
    return Meta(description=text)


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class AgentSection(_Section):
    """Who this agent is and how loudly it logs."""

    name: Annotated[str, _doc("Name of this agent, shown in the control room's status bar.")] = (
        "airi"
    )
    log_level: Annotated[
        Literal["debug", "info", "warning", "error"],
        _doc("Least severe log level written to stderr (the journal) and the TUI log view."),
    ] = "info"


class ControlSection(_Section):
    """The control socket that TUIs and `airi ctl` attach to."""

    socket: Annotated[str, _doc("Unix socket path. Empty: $XDG_RUNTIME_DIR/airi/agent.sock.")] = ""
    tcp_port: Annotated[
        int,
        Meta(ge=0, le=65535, description="Also listen on 127.0.0.1:PORT (token required). 0: off."),
    ] = 0
    token_file: Annotated[
        str, _doc("File (mode 0600) holding the TCP token. Empty: created in the state dir.")
    ] = ""
    client_queue: Annotated[
        int, Meta(ge=16, description="Events queued per client before it is sent a Gap.")
    ] = 4096
    client_stall_seconds: Annotated[
        float, Meta(gt=0, description="A client that reads nothing for this long is dropped.")
    ] = 10.0


class StoreSection(_Section):
    """Where the chat and action logs are kept (SQLite)."""

    path: Annotated[str, _doc("Database file. Empty: $XDG_STATE_HOME/airi/airi.sqlite3.")] = ""
    chat_history: Annotated[
        int, Meta(ge=0, le=2000, description="Chat lines kept in the snapshot a TUI draws from.")
    ] = 200


class PersonaSection(_Section):
    """The co-host's character."""

    name: Annotated[str, _doc("The AI's name as viewers know it.")] = "Airi"
    expressions: Annotated[
        list[str], _doc("Expressions the avatar can show, in expression-pad order.")
    ] = msgspec.field(default_factory=lambda: list(DEFAULT_EXPRESSIONS))


class PadSection(_Section):
    """The expression pad of the control room."""

    hotkeys: Annotated[
        dict[str, str],
        _doc('Key to expression, e.g. { f1 = "happy" }. Empty: 1-9 fire the first nine.'),
    ] = msgspec.field(default_factory=dict)


class DemoChatSection(_Section):
    """Simulated viewers so the control room is alive before a chat platform is set up."""

    enabled: Annotated[
        Literal["auto", "on", "off"],
        _doc("auto: on only while no real chat platform is configured."),
    ] = "auto"
    messages_per_minute: Annotated[
        float, Meta(gt=0, le=600000, description="Average chat rate of the simulated viewers.")
    ] = 30.0
    pacing: Annotated[
        Literal["poisson", "steady"],
        _doc("poisson: a lifelike, bursty chat. steady: an even rate, for load tests."),
    ] = "poisson"


class TuiSection(_Section):
    """The control room's look."""

    theme: Annotated[str, _doc("Theme name: airi-dark or airi-light (or any Textual theme).")] = (
        "airi-dark"
    )


class TwitchSection(_Section):
    """Twitch chat (EventSub). The client secret and tokens are secrets, not set here."""

    channel: Annotated[str, _doc("Channel login to join. Empty: Twitch is off.")] = ""
    client_id: Annotated[str, _doc("Your Twitch application's client id.")] = ""


class ObsSection(_Section):
    """OBS Studio over obs-websocket v5. The password is a secret (AIRI_OBS_PASSWORD)."""

    enabled: Annotated[bool, _doc("Connect to OBS.")] = False
    url: Annotated[str, _doc("obs-websocket address.")] = "ws://127.0.0.1:4455"


class MidiSection(_Section):
    """A MIDI pad that fires expressions."""

    enabled: Annotated[bool, _doc("Listen to a MIDI input port.")] = False
    port: Annotated[str, _doc("Input port name (`airi doctor` lists them). Empty: the first.")] = ""


class ProviderEntry(_Section):
    """One LLM provider: a preset (`airi providers list`) plus what you change about it.

    The key is a secret: secrets.toml `[providers] NAME = "..."`, or the preset's variable
    (AIRI_<PRESET>_API_KEY, or the service's own, e.g. GROQ_API_KEY).
    """

    preset: Annotated[
        str, _doc("Preset name. Empty: the table's own name, e.g. [providers.groq].")
    ] = ""
    model: Annotated[str, _doc("Model to ask. Empty: the preset's default model.")] = ""
    base_url: Annotated[
        str, _doc("Address of the API. Empty: the preset's. Required for `custom`.")
    ] = ""
    enabled: Annotated[bool, _doc("false: keep it configured but send it nothing.")] = True
    requests_per_minute: Annotated[
        int, Meta(ge=0, description="Your plan's request limit. 0: no limit.")
    ] = 0
    tokens_per_minute: Annotated[
        int, Meta(ge=0, description="Your plan's token limit. 0: no limit.")
    ] = 0
    price_input: Annotated[
        float, Meta(ge=-1, description="US$ per million input tokens. -1: airi's price table.")
    ] = -1.0
    price_output: Annotated[
        float, Meta(ge=-1, description="US$ per million output tokens. -1: airi's price table.")
    ] = -1.0
    connect_timeout: Annotated[
        float, Meta(gt=0, description="Seconds to open a connection before giving up.")
    ] = 5.0


class ChainLink(_Section):
    """A chain entry written as a table, for a model or a weight of its own."""

    provider: Annotated[str, _doc("A name from [providers], a preset name, or autonomous.")]
    model: Annotated[str, _doc("Model for this chain only. Empty: the provider's.")] = ""
    weight: Annotated[
        float, Meta(ge=0, description="Share of load among weighted neighbours. 0: no weight.")
    ] = 0.0


ChainItem = str | ChainLink


class ChainsSection(_Section):
    """Which providers answer each kind of request, in the order tried.

    Each entry is a provider name, or { provider = "groq", model = "...", weight = 2 }.
    Neighbours with a weight share load at random by weight. Empty: every enabled provider
    in the order of [providers]. The autonomous persona always ends a chain (see [router]).
    """

    reply: Annotated[list[ChainItem], _doc("Answers to chat.")] = msgspec.field(
        default_factory=list
    )
    idle: Annotated[list[ChainItem], _doc("Talk while chat is quiet.")] = msgspec.field(
        default_factory=list
    )
    summarize: Annotated[list[ChainItem], _doc("Summaries for memory.")] = msgspec.field(
        default_factory=list
    )
    moderate: Annotated[list[ChainItem], _doc("Second opinion on flagged text.")] = msgspec.field(
        default_factory=list
    )


class RouterSection(_Section):
    """How long providers get, and what happens when they fail."""

    first_token: Annotated[
        float, Meta(gt=0, description="Seconds to the first token before trying the next.")
    ] = 8.0
    gap: Annotated[
        float, Meta(gt=0, description="Longest silence mid-answer before the line is cut.")
    ] = 10.0
    total: Annotated[
        float, Meta(gt=0, description="Longest one provider may take for one answer.")
    ] = 60.0
    hedge: Annotated[
        bool,
        _doc("Start the next provider too when one is slower than its own p95; keep the first."),
    ] = False
    autonomous_last: Annotated[
        bool, _doc("End every chain with the offline persona, so the show never goes silent.")
    ] = True
    failure_threshold: Annotated[
        int, Meta(ge=1, description="Failures in a row that open a provider's breaker.")
    ] = 5
    cooldown: Annotated[
        float, Meta(gt=0, description="Seconds a breaker stays open before a probe.")
    ] = 15.0


class DirectorSection(_Section):
    """When the AI talks on its own."""

    reply_every: Annotated[
        float,
        Meta(ge=0, description="At most one chat answer per this many seconds. 0: never answer."),
    ] = 20.0
    idle_after: Annotated[
        float, Meta(ge=0, description="Talk after this many quiet seconds. 0: never.")
    ] = 90.0
    system_prompt: Annotated[
        str, _doc("Extra instructions for the model, after the persona's own.")
    ] = ""
    mode: Annotated[
        Literal["llm", "autonomous", "external"],
        _doc("Who writes the answers: the LLM providers, the offline persona, or a client."),
    ] = "llm"
    dry_run: Annotated[bool, _doc("Actions go through the queue, but nothing leaves the box.")] = (
        False
    )
    summarize_every: Annotated[
        int,
        Meta(ge=0, description="Write a memory summary every this many chat lines. 0: never."),
    ] = 50
    queue_size: Annotated[
        int, Meta(ge=1, le=10000, description="Actions that may wait at once.")
    ] = 100
    approval: Annotated[
        dict[str, Literal["auto", "approve", "flagged"]],
        _doc(
            "Approval gate per source (chat, idle, control, command, rest, external, midi):"
            " auto, approve (each waits for an operator), flagged (only flagged ones wait)."
        ),
    ] = msgspec.field(default_factory=dict)


class Config(_Section):
    """The whole configuration file."""

    agent: AgentSection = msgspec.field(default_factory=AgentSection)
    control: ControlSection = msgspec.field(default_factory=ControlSection)
    store: StoreSection = msgspec.field(default_factory=StoreSection)
    persona: PersonaSection = msgspec.field(default_factory=PersonaSection)
    pad: PadSection = msgspec.field(default_factory=PadSection)
    demo_chat: DemoChatSection = msgspec.field(default_factory=DemoChatSection)
    tui: TuiSection = msgspec.field(default_factory=TuiSection)
    twitch: TwitchSection = msgspec.field(default_factory=TwitchSection)
    obs: ObsSection = msgspec.field(default_factory=ObsSection)
    midi: MidiSection = msgspec.field(default_factory=MidiSection)
    providers: Annotated[
        dict[str, ProviderEntry], _doc("LLM providers by name: [providers.NAME].")
    ] = msgspec.field(default_factory=dict)
    chains: ChainsSection = msgspec.field(default_factory=ChainsSection)
    router: RouterSection = msgspec.field(default_factory=RouterSection)
    director: DirectorSection = msgspec.field(default_factory=DirectorSection)

    @property
    def demo_chat_on(self) -> bool:
        if self.demo_chat.enabled == "auto":
            return not self.twitch.channel
        return self.demo_chat.enabled == "on"


# --- locations -----------------------------------------------------------------------------


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "airi"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "airi"


def default_config_path() -> Path:
    return config_dir() / "config.toml"


# --- loading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config file: where, and why."""

    file: str
    key: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}" if self.key else self.file
        return f"{where}: {self.reason}"


class ConfigError(Exception):
    """A config file could not be used; ``problems`` lists every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def load_config(path: Path | None = None) -> tuple[Config, Path | None]:
    """The config at ``path`` (or the default file, if it exists), and the file actually read.

    An explicit path that does not exist is an error; a missing default file means defaults.
    """
    explicit = path is not None
    path = path or default_config_path()
    if not _exists(path):
        if explicit:
            raise ConfigError([Problem(str(path), "", "no such file")])
        return Config(), None
    return parse_config(_read_toml(path), str(path)), path


def _exists(path: Path) -> bool:
    # Path.exists() raises for anything but "not found" (EACCES on a parent, ENAMETOOLONG).
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise ConfigError([Problem(str(path), "", f"cannot be read: {exc.strerror}")]) from None
    return True


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(path), "", f"not valid TOML: {exc}")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(str(path), "", "is a directory, not a file")]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(path), "", f"cannot be read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise ConfigError([Problem(str(path), "", "is not UTF-8 text")]) from None


def parse_config(data: dict[str, Any], file: str = "<config>") -> Config:
    """Validate a parsed TOML table, reporting every bad key rather than the first."""
    problems = check_table(Config, data, file)
    if problems:
        raise ConfigError(problems)
    config = msgspec.convert(data, Config)
    problems = _check_hotkeys(config, file) + _check_providers(config, file)
    if problems:
        raise ConfigError(problems)
    return config


def _check_hotkeys(config: Config, file: str) -> list[Problem]:
    known = config.persona.expressions
    return [
        Problem(file, f"pad.hotkeys.{key}", f"{name!r} is not in persona.expressions {known}")
        for key, name in config.pad.hotkeys.items()
        if name not in known
    ]


def _check_providers(config: Config, file: str) -> list[Problem]:
    """Presets exist, custom ones have an address, chains name something known."""
    from agent.providers.presets import PresetError, lookup

    problems = []
    for name, entry in config.providers.items():
        try:
            preset = lookup(entry.preset or name)
        except PresetError as exc:
            problems.append(Problem(file, f"providers.{name}.preset", str(exc)))
            continue
        if not (entry.base_url or preset.base_url) and preset.kind != "autonomous":
            reason = f"{preset.name} needs an address: set base_url"
            problems.append(Problem(file, f"providers.{name}.base_url", reason))
    for role in msgspec.structs.fields(ChainsSection):
        for i, item in enumerate(getattr(config.chains, role.name)):
            provider = item if isinstance(item, str) else item.provider
            if provider in config.providers:
                continue
            try:
                lookup(provider)
            except PresetError as exc:
                reason = f"{exc} (nor a name from [providers])"
                problems.append(Problem(file, f"chains.{role.name}[{i}]", reason))
    return problems


def check_table(cls: type[msgspec.Struct], data: Any, file: str, prefix: str = "") -> list[Problem]:
    """Every problem in ``data`` as an instance of the Struct ``cls``, each with its key."""
    if not isinstance(data, dict):
        return [Problem(file, prefix, f"expected a table, got {_toml_type(data)}")]
    fields = {f.encode_name: f for f in msgspec.structs.fields(cls)}
    problems = []
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else key
        field = fields.get(key)
        if field is None:
            known = ", ".join(sorted(fields))
            problems.append(Problem(file, where, f"unknown key (known here: {known})"))
        elif isinstance(field.type, type) and issubclass(field.type, msgspec.Struct):
            problems += check_table(field.type, value, file, where)
        elif (table := _table_of_structs(field.type)) is not None:
            if not isinstance(value, dict):
                problems.append(Problem(file, where, f"expected a table, got {_toml_type(value)}"))
                continue
            for name, entry in value.items():
                problems += check_table(table, entry, file, f"{where}.{name}")
        else:
            problems += _check_value(field.type, value, file, where)
    return problems


def _table_of_structs(annotation: Any) -> type[msgspec.Struct] | None:
    """S for a ``dict[str, S]`` field (``[providers.NAME]``), else None."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is dict:
        value = get_args(annotation)[1]
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            return value
    return None


def _check_value(annotation: Any, value: Any, file: str, where: str) -> list[Problem]:
    try:
        msgspec.convert(value, annotation)
    except msgspec.ValidationError as exc:
        reason = _not_allowed(annotation, value) or str(exc)
        # msgspec appends "- at `$[0]`" for nested items; turn it into part of the key.
        if " - at `$" in reason:
            reason, _, path = reason.partition(" - at `$")
            where += path.rstrip("`")
        return [Problem(file, where, reason)]
    return []


def _not_allowed(annotation: Any, value: Any) -> str:
    """For a Literal field, name the allowed values (msgspec says only "Invalid enum value")."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal and isinstance(value, str):
        allowed = ", ".join(repr(choice) for choice in get_args(annotation))
        return f"{value!r} is not one of {allowed}"
    return ""


def _toml_type(value: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}.get(
        type(value), "an array" if isinstance(value, list) else type(value).__name__
    )


def hotkeys(config: Config) -> list[tuple[str, str]]:
    """The pad's (key, expression) pairs: configured ones, else 1-9 for the first nine."""
    if config.pad.hotkeys:
        return list(config.pad.hotkeys.items())
    return [(str(i + 1), name) for i, name in enumerate(config.persona.expressions[:9])]
