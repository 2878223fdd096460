"""Secrets: from the environment or a private file, reported by origin, redacted from text."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError
from agent.secrets import default_secrets_path, env_names, load_secrets, redact, secret_values


def write_secrets(text: str, mode: int = 0o600) -> Path:
    path = default_secrets_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_nothing_set_means_empty_secrets(home: Path) -> None:
    secrets, origin = load_secrets()
    assert secrets.openai_api_key == "" and origin == {}


def test_file_values_and_their_origin(home: Path) -> None:
    path = write_secrets('openai_api_key = "sk-file"\nobs_password = "pw-file"\n')
    secrets, origin = load_secrets()
    assert (secrets.openai_api_key, secrets.obs_password) == ("sk-file", "pw-file")
    assert origin == {"openai_api_key": str(path), "obs_password": str(path)}


def test_environment_wins_over_the_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_secrets('obs_password = "pw-file"\n')
    monkeypatch.setenv("AIRI_OBS_PASSWORD", "pw-env")
    secrets, origin = load_secrets()
    assert secrets.obs_password == "pw-env"
    assert origin["obs_password"] == "$AIRI_OBS_PASSWORD"


def test_well_known_variable_names_are_accepted(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-plain")
    secrets, origin = load_secrets()
    assert secrets.openai_api_key == "sk-plain"
    assert origin["openai_api_key"] == "$OPENAI_API_KEY"
    monkeypatch.setenv("AIRI_OPENAI_API_KEY", "sk-airi")  # the airi name is preferred
    assert load_secrets()[1]["openai_api_key"] == "$AIRI_OPENAI_API_KEY"
    assert env_names("openai_api_key") == ["AIRI_OPENAI_API_KEY", "OPENAI_API_KEY"]
    assert env_names("obs_password") == ["AIRI_OBS_PASSWORD"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_file_others_can_read_is_refused(home: Path, mode: int) -> None:
    path = write_secrets('obs_password = "pw-file"\n', mode)
    with pytest.raises(ConfigError) as caught:
        load_secrets()
    [problem] = caught.value.problems
    assert problem.file == str(path)
    assert f"(mode {mode:04o}): run `chmod 600 {path}`" in problem.reason
    assert "pw-file" not in str(caught.value)


def test_unknown_and_mistyped_keys_are_refused_without_showing_values(home: Path) -> None:
    write_secrets('openai_key = "sk-typo"\nobs_password = 1234567\n')
    with pytest.raises(ConfigError) as caught:
        load_secrets()
    keys = [p.key for p in caught.value.problems]
    assert keys == ["openai_key", "obs_password"]
    assert "sk-typo" not in str(caught.value)


def test_an_explicit_missing_file_is_an_error(home: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_secrets(home / "nope.toml")
    assert "cannot be read" in str(caught.value)


def test_redact_hides_every_set_value(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRI_OPENAI_API_KEY", "sk-abcdef")
    monkeypatch.setenv("AIRI_OBS_PASSWORD", "sk-abc")  # a prefix of the other: longest first
    secrets, _ = load_secrets()
    text = redact("key sk-abcdef and password sk-abc", secret_values(secrets))
    assert text == "key ******** and password ********"
