"""The preset registry: every preset builds the request its service expects, and the list
command tells the streamer which keys are set without ever printing one."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.providers.presets import (
    ANTHROPIC_VERSION,
    PRESETS,
    Preset,
    PresetError,
    lookup,
    request_for,
    with_base_url,
)

KEY = "sk-test-do-not-print-0123456789"
NAMED_IN_THE_ISSUE = {
    "openai", "anthropic", "gemini", "deepseek", "mistral", "groq", "xai", "openrouter",
    "together", "nvidia", "zhipu", "moonshot", "siliconflow", "dashscope", "nanogpt", "chutes",
    "pollinations", "cohere", "fireworks", "cerebras", "perplexity", "ollama", "lmstudio",
    "llamacpp", "vllm", "sglang", "textgen-webui", "koboldcpp", "localai", "custom",
    "autonomous",
}  # fmt: skip
# Where a `custom` preset points in these tests: its user supplies the address.
CUSTOM_BASE = {"azure": "https://my-resource.openai.azure.com", "custom": "http://127.0.0.1:9/v1"}
NETWORKED = [p for p in PRESETS if p.kind != "autonomous"]


def ready(preset: Preset) -> Preset:
    """The preset as a user would configure it: `custom` kinds get their base URL."""
    return with_base_url(preset, CUSTOM_BASE[preset.name]) if preset.kind == "custom" else preset


def auth_headers(headers: dict[str, str]) -> dict[str, str]:
    return {
        k: v for k, v in headers.items() if k.lower() in ("authorization", "x-api-key", "api-key")
    }


# --- the registry ---------------------------------------------------------------------------


def test_there_are_forty_presets_or_more_with_unique_lower_case_names() -> None:
    names = [p.name for p in PRESETS]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    assert all(name == name.lower() and " " not in name for name in names)


def test_every_service_the_issue_names_has_a_preset() -> None:
    assert {p.name for p in PRESETS} >= NAMED_IN_THE_ISSUE


@pytest.mark.parametrize("preset", [p for p in PRESETS if p.base_url], ids=lambda p: p.name)
def test_hosted_presets_use_https_and_local_ones_stay_on_this_machine(preset: Preset) -> None:
    url = urlsplit(preset.base_url)
    if preset.local:
        assert url.scheme == "http"
        assert url.hostname in ("127.0.0.1", "localhost")
    else:
        assert url.scheme == "https"
        assert url.hostname not in ("127.0.0.1", "localhost")
        assert preset.default_model, "a hosted preset must name a model the user gets by default"


def test_only_custom_and_autonomous_presets_come_without_an_address() -> None:
    assert {p.kind for p in PRESETS if not p.base_url} == {"custom", "autonomous"}


def test_each_key_can_come_from_airi_name_or_the_services_own_variable() -> None:
    groq = lookup("groq")
    assert groq.env_vars == ("AIRI_GROQ_API_KEY", "GROQ_API_KEY")
    assert lookup("moonshot-cn").env_vars[0] == "AIRI_MOONSHOT_CN_API_KEY"
    usual = {
        "deepseek": "DEEPSEEK_API_KEY",
        "openrouter": "OPENROUTER_API_KEY",
        "gemini": "GEMINI_API_KEY",
        "anthropic": "ANTHROPIC_API_KEY",
    }
    for name, env in usual.items():
        assert env in lookup(name).env_vars
    assert lookup("ollama").env_vars == ()  # Ollama takes no key at all


# --- the request each preset makes ----------------------------------------------------------


@pytest.mark.parametrize("preset", NETWORKED, ids=lambda p: p.name)
def test_each_preset_calls_its_chat_path_with_its_auth_header(preset: Preset) -> None:
    preset = ready(preset)
    url, headers = request_for(preset, "some-model", KEY)
    assert url.startswith(preset.base_url.rstrip("/") + "/")
    assert "//" not in urlsplit(url).path
    if preset.kind == "anthropic":
        assert urlsplit(url).path.endswith("/v1/messages")
    elif preset.name == "azure":
        assert "/openai/deployments/some-model/chat/completions" in url
    else:
        assert urlsplit(url).path.endswith("/chat/completions")
    expected = {
        "bearer": {"Authorization": f"Bearer {KEY}"},
        "x-api-key": {"x-api-key": KEY},
        "api-key": {"api-key": KEY},
        "none": {},
    }[preset.auth]
    assert auth_headers(headers) == expected


@pytest.mark.parametrize("preset", NETWORKED, ids=lambda p: p.name)
def test_without_a_key_a_preset_either_sends_none_or_says_which_variable_to_set(
    preset: Preset,
) -> None:
    preset = ready(preset)
    if preset.key_required:
        with pytest.raises(PresetError, match=preset.env_vars[0]):
            request_for(preset, "m", "")
    else:
        _, headers = request_for(preset, "m", "")
        assert auth_headers(headers) == {}


def test_gemini_goes_through_its_openai_compatible_endpoint() -> None:
    url, headers = request_for(lookup("gemini"), "", KEY)
    assert url == "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"
    assert headers["Authorization"] == f"Bearer {KEY}"


def test_openrouter_carries_its_attribution_headers() -> None:
    url, headers = request_for(lookup("openrouter"), "", KEY)
    assert url == "https://openrouter.ai/api/v1/chat/completions"
    assert headers["HTTP-Referer"]
    assert headers["X-Title"] == "airi"


@pytest.mark.parametrize("name", ["anthropic", "deepseek-anthropic"])
def test_anthropic_kind_sends_x_api_key_and_a_version_never_a_bearer_token(name: str) -> None:
    url, headers = request_for(lookup(name), "", KEY)
    assert url.endswith("/v1/messages")
    assert headers["x-api-key"] == KEY
    assert headers["anthropic-version"] == ANTHROPIC_VERSION
    assert "Authorization" not in headers


def test_anthropic_calls_the_messages_endpoint_of_its_api_host() -> None:
    url, _ = request_for(lookup("anthropic"), "", KEY)
    assert url == "https://api.anthropic.com/v1/messages"


def test_ollama_gets_no_auth_header_even_when_a_key_is_configured() -> None:
    url, headers = request_for(lookup("ollama"), "", KEY)
    assert url == "http://127.0.0.1:11434/v1/chat/completions"
    assert auth_headers(headers) == {}


def test_a_custom_preset_needs_its_base_url_before_it_can_call() -> None:
    with pytest.raises(PresetError, match="base_url"):
        request_for(lookup("custom"), "m", "")
    url, _ = request_for(with_base_url(lookup("custom"), "http://10.0.0.5:8000/v1/"), "m", "")
    assert url == "http://10.0.0.5:8000/v1/chat/completions"


def test_azure_needs_a_deployment_name() -> None:
    with pytest.raises(PresetError, match="deployment"):
        request_for(ready(lookup("azure")), "", KEY)


def test_the_autonomous_preset_never_makes_a_request() -> None:
    with pytest.raises(PresetError, match="no network"):
        request_for(lookup("autonomous"), "", "")


# --- lookup ---------------------------------------------------------------------------------


def test_lookup_ignores_case_and_surrounding_space() -> None:
    assert lookup("  Groq ").name == "groq"


@pytest.mark.parametrize(
    ("typo", "meant"), [("openrouer", "openrouter"), ("grok", "groq"), ("lm-studio", "lmstudio")]
)
def test_an_unknown_name_suggests_the_closest_preset(typo: str, meant: str) -> None:
    with pytest.raises(PresetError, match=f"Did you mean {meant}") as caught:
        lookup(typo)
    assert "airi providers list" in str(caught.value)


def test_a_name_like_nothing_gets_no_wild_guess() -> None:
    with pytest.raises(PresetError) as caught:
        lookup("zzzzzz")
    assert "Did you mean" not in str(caught.value)


# --- airi providers list --------------------------------------------------------------------


def run_list(*args: str) -> str:
    result = CliRunner().invoke(app, ["providers", "list", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def rows(output: str) -> dict[str, dict[str, object]]:
    parsed = [json.loads(line) for line in output.splitlines()]
    return {str(row["name"]): row for row in parsed}


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """No preset's key in the environment, whatever the developer's shell holds, and output
    that is not forced to look like a terminal."""
    for preset in PRESETS:
        for env in preset.env_vars:
            monkeypatch.delenv(env, raising=False)
    for env in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(env, raising=False)


@pytest.mark.usefixtures("no_keys")
def test_list_json_has_one_line_per_preset() -> None:
    found = rows(run_list("--json"))
    assert list(found) == [p.name for p in PRESETS]
    groq = found["groq"]
    assert groq["base_url"] == "https://api.groq.com/openai/v1"
    assert groq["key_env"] == "GROQ_API_KEY"
    assert groq["key"] == "not set"
    assert groq["where"] == "hosted"
    assert found["ollama"]["key"] == "not needed"
    assert found["vllm"]["key"] == "optional"


@pytest.mark.usefixtures("no_keys")
def test_list_local_shows_only_servers_on_this_machine() -> None:
    found = rows(run_list("--json", "--local"))
    assert {"ollama", "lmstudio", "vllm", "autonomous"} <= set(found)
    assert all(row["where"] == "local" for row in found.values())
    assert "openai" not in found


@pytest.mark.usefixtures("no_keys")
def test_a_key_in_the_environment_shows_as_set_and_its_value_never_appears(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    monkeypatch.setenv("AIRI_OPENROUTER_API_KEY", KEY)
    as_json = run_list("--json")
    found = rows(as_json)
    assert (found["groq"]["key"], found["groq"]["key_from"]) == ("set", "GROQ_API_KEY")
    assert found["openrouter"]["key_from"] == "AIRI_OPENROUTER_API_KEY"
    assert found["deepseek"]["key"] == "not set"
    table = run_list()
    assert "set ($GROQ_API_KEY)" in table
    for output in (as_json, table):
        assert KEY not in output


@pytest.mark.usefixtures("no_keys")
def test_the_plain_table_lists_every_preset_with_its_address() -> None:
    table = run_list().splitlines()
    assert table[0].split() == ["name", "kind", "where", "base_url", "default_model", "key_env",
                                "key"]  # fmt: skip
    by_name = {line.split()[0]: line for line in table[1:]}
    assert list(by_name) == [p.name for p in PRESETS]
    assert "http://127.0.0.1:11434/v1" in by_name["ollama"]
    assert "(no network)" in by_name["autonomous"]


@pytest.mark.usefixtures("no_keys")
def test_the_terminal_table_says_which_key_is_set_and_flags_unchecked_presets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws its table as on a terminal
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.setenv("GROQ_API_KEY", KEY)
    table = re.sub(r"\x1b\[[0-9;]*m", "", run_list())
    groq = next(line for line in table.splitlines() if line.startswith("groq "))
    assert "set ($GROQ_API_KEY)" in groq
    assert KEY not in table
    unchecked = [p.name for p in PRESETS if not p.confirmed]
    assert f"not yet checked against the service's docs: {', '.join(unchecked)}" in table
