"""`airi config init|check|show`, through the real `airi` app: what a streamer types and sees."""

from __future__ import annotations

import inspect
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner, Result

from agent.cli import app
from agent.config import Config, ProviderEntry, parse_config
from agent.secrets import Secrets
from tests.conftest import ROOT

SECRET = "sk-test-0123456789abcdef"


def airi(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_clean_exit(result: Result, code: int) -> None:
    """The command ended with `code` on purpose: no exception escaped, no traceback shown."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def documented_fields(cls: type[msgspec.Struct]) -> dict[str, str]:
    """Each field's description, read back through msgspec's JSON schema of the Struct."""
    schema = msgspec.json.schema(cls)["$defs"][cls.__name__]
    return {key: prop["description"] for key, prop in schema["properties"].items()}


# --- init ----------------------------------------------------------------------------------


def test_init_writes_the_defaults_with_every_description(home: Path) -> None:
    target = home / "new" / "config.toml"
    result = airi("config", "init", str(target))
    assert_clean_exit(result, 0)
    text = target.read_text()
    assert parse_config(tomllib.loads(text), str(target)) == Config()
    lines = text.splitlines()
    for section in msgspec.structs.fields(Config):
        cls, header_line, prefix = section.type, f"[{section.name}]", ""
        if section.name == "providers":  # a table of named tables: one commented example
            cls, header_line, prefix = ProviderEntry, "# [providers.groq]", "# "
        else:
            last_doc_line = inspect.cleandoc(cls.__doc__ or "").splitlines()[-1]
            assert lines[lines.index(header_line) - 1] == f"# {last_doc_line}".rstrip()
        header = lines.index(header_line)
        for key, description in documented_fields(cls).items():
            # The description sits right above its key (a key may recur in other sections).
            pairs = zip(lines[header:], lines[header + 1 :], strict=False)
            assert any(
                above.startswith(f"{prefix}# {description}")
                and line.startswith(f"{prefix}{key} = ")
                for above, line in pairs
            ), (section.name, key)
    # Where secrets go, named from the Secrets Struct, never as keys of this file.
    for field in msgspec.structs.fields(Secrets):
        assert f"$AIRI_{field.name.upper()}" in text
    assert "0600" in text and "secrets.toml" in text


def test_init_lists_the_allowed_values_of_a_choice(home: Path) -> None:
    target = home / "config.toml"
    airi("config", "init", str(target))
    assert "One of: debug, info, warning, error." in target.read_text()


def test_init_defaults_to_the_agents_file_in_a_private_dir(home: Path) -> None:
    result = airi("config", "init")
    assert_clean_exit(result, 0)
    target = home / "config" / "airi" / "config.toml"
    assert target.is_file() and str(target) in result.output
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700


def test_init_refuses_to_overwrite_without_force(home: Path) -> None:
    target = home / "config.toml"
    target.write_text('[agent]\nname = "mine"\n')
    result = airi("config", "init", str(target))
    assert_clean_exit(result, 1)
    assert "already exists" in result.output and "--force" in result.output
    assert target.read_text() == '[agent]\nname = "mine"\n'
    assert_clean_exit(airi("config", "init", str(target), "--force"), 0)
    assert parse_config(tomllib.loads(target.read_text())) == Config()


def test_init_into_a_directory_says_so(home: Path) -> None:
    result = airi("config", "init", str(home))
    assert_clean_exit(result, 1)
    assert "is a directory" in result.output


# --- check ---------------------------------------------------------------------------------


def test_check_without_a_config_file_means_defaults(home: Path) -> None:
    result = airi("config", "check")
    assert_clean_exit(result, 0)
    assert "no config file" in result.output and "defaults apply" in result.output


def test_check_accepts_the_starter_file(home: Path) -> None:
    airi("config", "init")
    result = airi("config", "check")
    assert_clean_exit(result, 0)
    assert result.output.startswith("ok: ")


MALFORMED = {
    "bad syntax": (b"[agent\nname = 1\n", "not valid TOML"),
    "wrong type": (b"[agent]\nname = 1\n", "agent.name: Expected `str`, got `int`"),
    "unknown top-level key": (b"colour = 'red'\n", "colour: unknown key (known here: agent,"),
    "unknown nested key": (
        b"[obs]\npasword = 'x'\n",
        "obs.pasword: unknown key (known here: enabled",
    ),
    "unknown section": (b"[voice]\nname = 'x'\n", "voice: unknown key"),
    "section is not a table": (b"agent = 5\n", "agent: expected a table, got an integer"),
    "port out of range": (
        b"[control]\ntcp_port = 70000\n",
        "control.tcp_port: Expected `int` <= 65535",
    ),
    "rate not positive": (
        b"[demo_chat]\nmessages_per_minute = 0\n",
        "demo_chat.messages_per_minute: Expected `float` > 0.0",
    ),
    "bad choice": (
        b'[agent]\nlog_level = "loud"\n',
        "agent.log_level: 'loud' is not one of 'debug', 'info', 'warning', 'error'",
    ),
    "hotkey to an unknown expression": (
        b'[pad]\nhotkeys = { f1 = "happy", f2 = "dancing" }\n',
        "pad.hotkeys.f2: 'dancing' is not in persona.expressions",
    ),
    "array item of the wrong type": (
        b'[persona]\nexpressions = ["happy", 3]\n',
        "persona.expressions[1]: Expected `str`, got `int`",
    ),
    "not UTF-8": (b'[agent]\nname = "\xff\xfe"\n', "is not UTF-8 text"),
}


@pytest.mark.parametrize("content, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_check_reports_a_malformed_file(home: Path, content: bytes, message: str) -> None:
    target = home / "config.toml"
    target.write_bytes(content)
    result = airi("config", "check", str(target))
    assert_clean_exit(result, 1)
    assert f"{target}: {message}" in result.output


def test_check_reports_every_problem_not_just_the_first(home: Path) -> None:
    target = home / "config.toml"
    target.write_text('bogus = 1\n[agent]\nname = 1\nlog_level = "loud"\n[obs]\nurl = 5\n')
    result = airi("config", "check", str(target))
    assert_clean_exit(result, 1)
    problems = [line for line in result.output.splitlines() if line.startswith(str(target))]
    assert [p.split(": ")[1] for p in problems] == [
        "bogus",
        "agent.name",
        "agent.log_level",
        "obs.url",
    ]


def test_check_of_a_missing_explicit_file_fails(home: Path) -> None:
    result = airi("config", "check", str(home / "nope.toml"))
    assert_clean_exit(result, 1)
    assert f"{home / 'nope.toml'}: no such file" in result.output


def test_check_of_a_directory_fails(home: Path) -> None:
    result = airi("config", "check", str(home))
    assert_clean_exit(result, 1)
    assert f"{home}: is a directory, not a file" in result.output


def test_a_path_the_system_refuses_is_reported_not_raised(home: Path) -> None:
    # Path.exists() raises for errors other than "not found"; even root meets this one.
    target = home / ("x" * 300)
    for command in (("config", "check", str(target)), ("config", "init", str(target))):
        result = airi(*command)
        assert_clean_exit(result, 1)
        assert "File name too long" in result.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_check_of_an_unreadable_file_fails(home: Path) -> None:
    target = home / "config.toml"
    target.write_text("")
    target.chmod(0)
    result = airi("config", "check", str(target))
    assert_clean_exit(result, 1)
    assert f"{target}: cannot be read: Permission denied" in result.output


def secrets_file(home: Path, text: str, mode: int = 0o600) -> Path:
    path = home / "config" / "airi" / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_check_rejects_a_secrets_file_others_can_read(home: Path) -> None:
    path = secrets_file(home, f'openai_api_key = "{SECRET}"\n', mode=0o644)
    result = airi("config", "check")
    assert_clean_exit(result, 1)
    assert f"{path}: is readable by other users (mode 0644): run `chmod 600 {path}`" in (
        result.output
    )
    assert SECRET not in result.output


def test_check_rejects_an_unknown_key_in_the_secrets_file(home: Path) -> None:
    path = secrets_file(home, f'openai_key = "{SECRET}"\n')
    result = airi("config", "check")
    assert_clean_exit(result, 1)
    assert f"{path}: openai_key: unknown key (known here: anthropic_api_key" in result.output
    assert SECRET not in result.output


def test_check_accepts_a_private_secrets_file(home: Path) -> None:
    path = secrets_file(home, f'openai_api_key = "{SECRET}"\n')
    result = airi("config", "check")
    assert_clean_exit(result, 0)
    assert f"ok: {path} is private and valid." in result.output


def test_check_in_a_real_process_prints_no_traceback(home: Path) -> None:
    target = home / "config.toml"
    target.write_bytes(b"[agent]\nname = \xff\n")
    result = subprocess.run(
        [sys.executable, "-m", "agent.cli", "config", "check", str(target)],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"{target}: is not UTF-8 text" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


# --- show ----------------------------------------------------------------------------------


def toml_part(output: str) -> dict[str, object]:
    return tomllib.loads(
        "\n".join(line for line in output.splitlines() if not line.startswith("#"))
    )


def test_show_prints_the_effective_config_as_toml(home: Path) -> None:
    target = home / "config.toml"
    target.write_text('[obs]\nenabled = true\n[pad]\nhotkeys = { f1 = "happy" }\n')
    result = airi("config", "show", "--config", str(target))
    assert_clean_exit(result, 0)
    shown = parse_config(toml_part(result.output))  # type: ignore[arg-type]
    assert shown.obs.enabled and shown.pad.hotkeys == {"f1": "happy"}
    assert shown.agent == Config().agent
    assert f"# effective config ({target})" in result.output


def test_show_without_a_file_shows_the_defaults(home: Path) -> None:
    result = airi("config", "show")
    assert_clean_exit(result, 0)
    assert parse_config(toml_part(result.output)) == Config()  # type: ignore[arg-type]
    assert "no config file: defaults" in result.output


def test_show_says_where_each_secret_comes_from_never_its_value(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRI_OBS_PASSWORD", SECRET)
    path = secrets_file(home, 'anthropic_api_key = "sk-ant-file-secret-value"\n')
    result = airi("config", "show")
    assert_clean_exit(result, 0)
    assert SECRET not in result.output and "sk-ant-file-secret-value" not in result.output
    lines = {
        line.split()[1]: line
        for line in result.output.splitlines()
        if line.startswith("# ") and len(line.split()) > 2
    }
    assert lines["obs_password"].endswith("set (from $AIRI_OBS_PASSWORD)")
    assert lines["anthropic_api_key"].endswith(f"set (from {path})")
    assert lines["openai_api_key"].endswith("not set")


def test_show_one_section(home: Path) -> None:
    result = airi("config", "show", "obs")
    assert_clean_exit(result, 0)
    assert toml_part(result.output) == {"obs": {"enabled": False, "url": "ws://127.0.0.1:4455"}}
    bad = airi("config", "show", "voice")
    assert_clean_exit(bad, 1)
    assert "no section 'voice' (sections: agent," in bad.output


def test_show_of_a_broken_file_lists_its_problems(home: Path) -> None:
    target = home / "config.toml"
    target.write_text("[agent]\nname = 1\n")
    result = airi("config", "show", "--config", str(target))
    assert_clean_exit(result, 1)
    assert f"{target}: agent.name: Expected `str`, got `int`" in result.output
