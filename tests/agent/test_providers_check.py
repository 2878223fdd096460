"""`airi providers check` on a private box: every configured provider probed at once, with the
latency of those that answer and the exact reason of those that do not, never a key's value.

The providers point at the local LLM peer (the real SDKs on the wire) or at a closed port. The
command runs in a worker thread, as from a shell, while the peer answers on the test's loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from typer.testing import CliRunner, Result

from agent.cli import app
from agent.providers.presets import PRESETS
from tests.peers.llm_server import Fail, Hang, LLMServer

pytestmark = pytest.mark.timeout(60)

GOOD_KEY = "sk-good-peer-key-0123456789"
WRONG_KEY = "gsk-wrong-key-abcdefghijklmnop"
FIELDS = {"name", "preset", "model", "key", "key_from", "address", "enabled", "status",
          "latency_ms", "error"}  # fmt: skip


@pytest.fixture
async def peer() -> AsyncIterator[LLMServer]:
    async with LLMServer(api_key=GOOD_KEY, models=("peer-model",)) as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A port on this machine where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def box(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The private config dir, with no preset's key in the environment and plain output."""
    for preset in PRESETS:
        for env in preset.env_vars:
            monkeypatch.delenv(env, raising=False)
    for env in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(env, raising=False)
    directory = home / "config" / "airi"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def configure(box: Path, providers: dict[str, Any], keys: dict[str, str] | None = None) -> None:
    (box / "config.toml").write_text(tomli_w.dumps({"providers": providers}))
    if keys:
        secrets = box / "secrets.toml"
        secrets.write_text(tomli_w.dumps({"providers": keys}))
        secrets.chmod(0o600)


def four_providers(box: Path, peer: LLMServer, closed_port: int) -> None:
    """One that answers, one with a wrong key, one whose server is down, one without a key."""
    configure(
        box,
        {
            "good": {"preset": "openai", "base_url": peer.url("/v1"), "model": "peer-model"},
            "groq": {"base_url": peer.url("/openai/v1")},
            "down": {"preset": "vllm", "base_url": f"http://127.0.0.1:{closed_port}/v1"},
            "mistral": {},
        },
        {"good": GOOD_KEY},
    )


async def check(*args: str) -> Result:
    """`airi providers check ARGS`, in a thread: the command runs its own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, app, ["providers", "check", *args])


def json_rows(result: Result) -> dict[str, dict[str, Any]]:
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["name"]: row for row in rows}


def table_rows(result: Result) -> dict[str, str]:
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "preset", "model", "key", "result"]
    return {line.split()[0]: line for line in lines[1:-1]}


# --- what each provider gets said of it -----------------------------------------------------


async def test_each_provider_shows_its_latency_or_the_exact_reason_it_failed(
    box: Path, peer: LLMServer, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    four_providers(box, peer, closed_port)
    monkeypatch.setenv("GROQ_API_KEY", WRONG_KEY)
    result = await check()
    assert result.exit_code == 1, result.output
    rows = table_rows(result)
    assert list(rows) == ["good", "groq", "down", "mistral"]

    good = rows["good"].split()
    assert good[1:4] == ["openai", "peer-model", "secrets"]
    assert rows["good"].split("  ")[-1].strip().startswith("ok ")
    assert rows["good"].endswith(" ms")

    assert "$GROQ_API_KEY" in rows["groq"]
    assert "llama-3.3-70b-versatile" in rows["groq"]  # the preset's default model
    assert "refused the API key" in rows["groq"]
    assert "HTTP 401" in rows["groq"]
    assert "Incorrect API key provided" in rows["groq"]  # the service's own words

    assert f"connection refused by 127.0.0.1:{closed_port}" in rows["down"]
    assert "(server's model)" in rows["down"]
    assert "optional" in rows["down"]

    assert "not set" in rows["mistral"]
    assert "needs an API key: set $AIRI_MISTRAL_API_KEY or $MISTRAL_API_KEY" in rows["mistral"]

    assert result.stdout.splitlines()[-1] == "1 of 4 answered"
    for secret in (GOOD_KEY, WRONG_KEY):
        assert secret not in result.output


async def test_the_probes_ask_each_service_for_its_model_list_with_its_key(
    box: Path, peer: LLMServer, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    four_providers(box, peer, closed_port)
    monkeypatch.setenv("GROQ_API_KEY", WRONG_KEY)
    await check()
    sent = sorted((r.path, r.headers["Authorization"]) for r in peer.requests)
    assert sent == [
        ("/openai/v1/models", f"Bearer {WRONG_KEY}"),
        ("/v1/models", f"Bearer {GOOD_KEY}"),
    ]


async def test_an_anthropic_provider_with_a_wrong_key_shows_the_services_message(
    box: Path, peer: LLMServer
) -> None:
    configure(
        box, {"claude": {"preset": "anthropic", "base_url": peer.url()}}, {"claude": WRONG_KEY}
    )
    result = await check("--json")
    assert result.exit_code == 1
    row = json_rows(result)["claude"]
    assert row["status"] == "failed"
    assert "HTTP 401" in row["error"]
    assert 'the service said: "invalid x-api-key"' in row["error"]
    assert WRONG_KEY not in result.output


async def test_a_service_that_echoes_the_key_never_gets_it_printed(
    box: Path, peer: LLMServer
) -> None:
    configure(box, {"good": {"preset": "openai", "base_url": peer.url("/v1")}}, {"good": GOOD_KEY})
    peer.queue(Fail(403, message=f"key {GOOD_KEY} may not list models"))
    result = await check()
    assert result.exit_code == 1
    assert "HTTP 403" in result.stdout
    assert "key ******** may not list models" in result.stdout
    assert GOOD_KEY not in result.output


async def test_a_provider_that_never_answers_is_cut_at_the_timeout_while_the_others_run(
    box: Path, peer: LLMServer
) -> None:
    configure(
        box,
        {name: {"preset": "openai", "base_url": peer.url("/v1")} for name in ("slow", "slower")},
        {"slow": GOOD_KEY, "slower": GOOD_KEY},
    )
    peer.script(Hang())
    running = asyncio.create_task(check("--json", "--timeout", "2"))
    await peer.wait_for_requests(1, timeout=10)  # the SDK may still be importing until then
    # Probed one after the other, the second request would come only after 2 s.
    await peer.wait_for_requests(2, timeout=1.5)
    result = await running
    assert result.exit_code == 1
    for row in json_rows(result).values():
        assert row["status"] == "failed"
        assert row["error"] == f"no answer within 2 s from 127.0.0.1:{peer.url().rsplit(':', 1)[1]}"


# --- NAME, --json and exit codes ------------------------------------------------------------


async def test_name_checks_one_provider_and_exits_0_when_it_answers(
    box: Path, peer: LLMServer, closed_port: int
) -> None:
    four_providers(box, peer, closed_port)
    result = await check("good")
    assert result.exit_code == 0, result.output
    assert list(table_rows(result)) == ["good"]
    assert [r.path for r in peer.requests] == ["/v1/models"]  # the others were left alone


async def test_an_unknown_name_lists_the_configured_ones_and_exits_2(
    box: Path, peer: LLMServer, closed_port: int
) -> None:
    four_providers(box, peer, closed_port)
    result = await check("gorq")
    assert result.exit_code == 2
    assert "no provider named 'gorq' is configured" in result.stderr
    assert "configured: good, groq, down, mistral" in result.stderr
    assert result.stdout == ""
    assert peer.requests == []


async def test_json_gives_one_object_per_provider_with_the_same_facts(
    box: Path, peer: LLMServer, closed_port: int
) -> None:
    four_providers(box, peer, closed_port)
    result = await check("--json")
    assert result.exit_code == 1
    rows = json_rows(result)
    assert list(rows) == ["good", "groq", "down", "mistral"]
    assert all(set(row) == FIELDS for row in rows.values())
    good = rows["good"]
    assert (good["status"], good["error"], good["key"]) == ("ok", "", "set")
    assert good["key_from"] == "secrets [providers] good"
    assert isinstance(good["latency_ms"], int) and good["latency_ms"] >= 0
    assert rows["groq"]["status"] == "misconfigured"  # no key anywhere in this test
    assert rows["down"]["status"] == "failed"
    assert rows["down"]["model"] == ""
    assert rows["down"]["address"] == f"127.0.0.1:{closed_port}"
    assert rows["mistral"]["address"] == "api.mistral.ai:443"
    assert all(r["latency_ms"] is None for n, r in rows.items() if n != "good")


async def test_a_disabled_provider_is_still_checked_and_says_so(box: Path, peer: LLMServer) -> None:
    configure(
        box,
        {"good": {"preset": "openai", "base_url": peer.url("/v1"), "enabled": False}},
        {"good": GOOD_KEY},
    )
    result = await check()
    assert result.exit_code == 0, result.output
    assert "good (disabled)" in result.stdout


async def test_with_no_providers_it_says_how_to_add_one_and_exits_0(box: Path) -> None:
    result = await check()
    assert result.exit_code == 0
    assert "no LLM providers are configured" in result.stdout
    assert "[providers.groq]" in result.stdout
    as_json = await check("--json")
    assert as_json.exit_code == 0
    assert as_json.stdout == ""  # scripts get no rows; the advice goes to stderr
    assert "[providers.groq]" in as_json.stderr


async def test_config_names_another_file(box: Path, peer: LLMServer, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    local = {"preset": "vllm", "base_url": peer.url("/v1")}
    other.write_text(tomli_w.dumps({"providers": {"local": local}}))
    peer.api_key = None  # a local server without --api-key
    result = await check("--config", str(other), "--json")
    assert result.exit_code == 0, result.output
    assert json_rows(result)["local"]["status"] == "ok"


async def test_on_a_terminal_the_table_shows_the_same_results(
    box: Path, peer: LLMServer, closed_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    four_providers(box, peer, closed_port)
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich draws its table as on a terminal
    monkeypatch.setenv("COLUMNS", "240")
    result = await check()
    assert result.exit_code == 1
    table = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    lines = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert re.search(r"secrets \[providers\] good\s+ok \d+ ms", lines["good"])
    assert f"connection refused by 127.0.0.1:{closed_port}" in lines["down"]
    assert "1 of 4 answered" in table
    assert GOOD_KEY not in result.output
