"""Every preset on the wire: the real adapter, on the real SDK, sends its chat and its probe
to the path its service documents, with the auth header in the service's style and no other,
with the attribution and version headers the preset carries, and asks for the right model.

One local peer stands in for every host: each preset keeps its own URL path and only its scheme
and host are swapped for the peer's, so ``https://api.groq.com/openai/v1`` becomes
``http://127.0.0.1:PORT/openai/v1``. The peer accepts any key; the headers are checked here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest
import pytest_asyncio

from agent.providers.anthropic_messages import AnthropicMessages
from agent.providers.base import ChatRequest, Delta, Message, Unsupported
from agent.providers.openai_compat import OpenAICompatible
from agent.providers.presets import (
    ANTHROPIC_VERSION,
    PRESETS,
    Preset,
    request_for,
    with_base_url,
)
from agent.providers.sdk_provider import SdkProvider
from tests.peers.llm_server import LLMServer, ReceivedRequest

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(30)]

KEY = "sk-wire-test-0123456789"
LOADED = "loaded-model"  # what a local server serves: its presets name no model of their own
PEER_MODELS = ("peer-b", "peer-a")
# Where a `custom` preset points: its user supplies the address (the peer replaces the host).
CUSTOM_BASE = {
    "azure": "https://my-resource.openai.azure.com",
    "custom": "https://my-server.example/v1",
}
AUTH = ("authorization", "x-api-key", "api-key")
ATTRIBUTION = ("http-referer", "x-title", "x-openrouter-title")
# Azure's data plane, as its REST reference gives it for this api-version.
AZURE_CHAT = f"/openai/deployments/{LOADED}/chat/completions"
AZURE_MODELS = "/openai/models"
AZURE_QUERY = {"api-version": "2024-10-21"}

NETWORKED = [p for p in PRESETS if p.kind != "autonomous"]


def param(preset: Preset) -> object:
    return pytest.param(preset, id=preset.name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def peer() -> AsyncIterator[LLMServer]:
    async with LLMServer(api_key=None, models=PEER_MODELS) as server:
        yield server


def on_peer(preset: Preset, peer: LLMServer) -> Preset:
    """The preset with only its scheme and host swapped for the peer's."""
    own = urlsplit(preset.base_url or CUSTOM_BASE[preset.name])
    here = urlsplit(peer.url())
    return with_base_url(preset, urlunsplit((here.scheme, here.netloc, *own[2:])))


def key_for(preset: Preset) -> str:
    """A key for every hosted service; local servers as they usually run, without one."""
    return "" if preset.local else KEY


def adapter(preset: Preset, key: str) -> SdkProvider:
    kind = AnthropicMessages if preset.kind == "anthropic" else OpenAICompatible
    model = "" if preset.default_model else LOADED  # hosted ones: their own default
    return kind(preset, key, model=model, connect_timeout=2.0, read_timeout=5.0)


def base_path(preset: Preset) -> str:
    return urlsplit(preset.base_url).path.rstrip("/")


def expected_auth(preset: Preset, key: str) -> dict[str, str]:
    if not key or preset.auth == "none":
        return {}
    return {
        "bearer": {"authorization": f"Bearer {key}"},
        "x-api-key": {"x-api-key": key},
        "api-key": {"api-key": key},
    }[preset.auth]


def sent_auth(request: ReceivedRequest, preset: Preset, key: str) -> dict[str, str]:
    """The auth headers on the wire, less the anthropic SDK's documented Bearer copy of the key.

    anthropic_messages.py: the SDK sends the key as a Bearer token besides x-api-key, which the
    API accepts. It must be that same key, never another credential.
    """
    sent = {k.lower(): v for k, v in request.headers.items() if k.lower() in AUTH}
    if preset.kind == "anthropic":
        assert sent.pop("authorization", f"Bearer {key}") == f"Bearer {key}"
    return sent


def assert_preset_headers(request: ReceivedRequest, preset: Preset) -> None:
    """Version and attribution headers go where the preset has them, and only there."""
    own = {name.lower(): value for name, value in preset.headers}
    for name, value in own.items():
        assert request.headers.get(name) == value, name
    for name in ATTRIBUTION:
        if name not in own:
            assert name not in request.headers, f"{preset.name} sends {name}, meant for others"
    if preset.kind == "anthropic":
        assert request.headers.get("anthropic-version") == ANTHROPIC_VERSION
    else:
        assert "anthropic-version" not in request.headers


def one_request(peer: LLMServer, before: int) -> ReceivedRequest:
    requests = peer.requests[before:]
    assert len(requests) == 1, [r.path for r in requests]
    return requests[0]


# --- chat -----------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", [param(p) for p in NETWORKED])
async def test_a_chat_goes_to_the_presets_path_with_its_headers_and_model(
    peer: LLMServer, preset: Preset
) -> None:
    preset = on_peer(preset, peer)
    key = key_for(preset)
    provider = adapter(preset, key)
    before = len(peer.requests)
    try:
        request = ChatRequest(messages=(Message("user", "hello from the wire test"),))
        items = [item async for item in provider.stream(request)]
    finally:
        await provider.close()
    seen = one_request(peer, before)
    assert "".join(i.text for i in items if isinstance(i, Delta)) == "Hello!"

    if preset.name == "azure":
        assert (seen.path, dict(seen.query)) == (AZURE_CHAT, AZURE_QUERY)
    else:
        route = "/v1/messages" if preset.kind == "anthropic" else "/chat/completions"
        assert (seen.path, dict(seen.query)) == (base_path(preset) + route, {})
    # request_for is the one place that says where a call goes: the SDK must agree with it.
    target = urlsplit(request_for(preset, provider.model, key).url)
    assert (seen.path, dict(seen.query)) == (target.path, dict(parse_qsl(target.query)))
    assert seen.method == "POST"

    assert sent_auth(seen, preset, key) == expected_auth(preset, key)
    assert_preset_headers(seen, preset)
    assert seen.body["model"] == (preset.default_model or LOADED)
    assert seen.body["stream"] is True
    assert "hello from the wire test" in str(seen.body["messages"])


@pytest.mark.parametrize(
    ("name", "sent"),
    [("ollama", {}), ("vllm", {"authorization": f"Bearer {KEY}"})],
)
async def test_a_local_server_gets_a_configured_key_only_if_it_takes_one(
    peer: LLMServer, name: str, sent: dict[str, str]
) -> None:
    preset = on_peer(next(p for p in PRESETS if p.name == name), peer)
    provider = adapter(preset, KEY)
    before = len(peer.requests)
    try:
        request = ChatRequest(messages=(Message("user", "hi"),))
        _ = [item async for item in provider.stream(request)]
    finally:
        await provider.close()
    seen = one_request(peer, before)
    assert sent_auth(seen, preset, KEY) == sent


# --- the model list (what a probe asks for) -------------------------------------------------


@pytest.mark.parametrize("preset", [param(p) for p in NETWORKED if p.capabilities.models])
async def test_the_model_list_comes_from_the_presets_models_path(
    peer: LLMServer, preset: Preset
) -> None:
    preset = on_peer(preset, peer)
    key = key_for(preset)
    provider = adapter(preset, key)
    before = len(peer.requests)
    try:
        models = await provider.models()
    finally:
        await provider.close()
    seen = one_request(peer, before)
    assert models == sorted(PEER_MODELS)
    if preset.name == "azure":
        assert (seen.path, dict(seen.query)) == (AZURE_MODELS, AZURE_QUERY)
    else:
        route = "/v1/models" if preset.kind == "anthropic" else "/models"
        assert (seen.method, seen.path) == ("GET", base_path(preset) + route)
    assert sent_auth(seen, preset, key) == expected_auth(preset, key)
    assert_preset_headers(seen, preset)


@pytest.mark.parametrize(
    "preset",
    [pytest.param(p, id=p.name) for p in NETWORKED if not p.capabilities.models],
)
async def test_a_service_without_a_model_list_is_not_asked_for_one(
    peer: LLMServer, preset: Preset
) -> None:
    preset = on_peer(preset, peer)
    provider = adapter(preset, key_for(preset))
    before = len(peer.requests)
    try:
        with pytest.raises(Unsupported, match="model list"):
            await provider.models()
    finally:
        await provider.close()
    assert peer.requests[before:] == []


@pytest.mark.parametrize(
    "preset",
    [pytest.param(p, id=p.name) for p in NETWORKED if not p.capabilities.models],
)
async def test_a_probe_of_a_service_without_a_model_list_asks_one_token_at_its_chat_path(
    peer: LLMServer, preset: Preset
) -> None:
    preset = on_peer(preset, peer)
    key = key_for(preset)
    provider = adapter(preset, key)
    before = len(peer.requests)
    try:
        await provider.probe()
    finally:
        await provider.close()
    seen = one_request(peer, before)
    route = "/v1/messages" if preset.kind == "anthropic" else "/chat/completions"
    assert (seen.method, seen.path) == ("POST", base_path(preset) + route)
    assert seen.body["max_tokens"] == 1
    assert seen.body["model"] == preset.default_model
    assert sent_auth(seen, preset, key) == expected_auth(preset, key)
    assert_preset_headers(seen, preset)
