"""The Anthropic adapter against a local server that speaks the Messages API's wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

from agent.providers.anthropic_messages import AnthropicMessages, alternating
from agent.providers.base import (
    ChatRequest,
    Delta,
    Finished,
    Message,
    Unsupported,
    Usage,
    complete,
)
from agent.providers.presets import lookup, with_base_url
from tests.peers.llm_server import Fail, LLMServer, Reply

KEY = "sk-ant-test-0123456789"
ASK = ChatRequest(
    messages=(
        Message("system", "You are Airi."),
        Message("user", "hi!"),
        Message("user", "are you there?"),
    )
)


@pytest.fixture
async def server() -> AsyncIterator[LLMServer]:
    async with LLMServer(api_key=KEY) as running:
        yield running


def claude(server: LLMServer, key: str = KEY) -> AnthropicMessages:
    return AnthropicMessages(with_base_url(lookup("anthropic"), server.url()), key, model="m")


async def test_a_stream_arrives_in_deltas_with_the_system_prompt_sent_apart(
    server: LLMServer,
) -> None:
    server.script(reply=["Hi", " there", "!"])
    items = [item async for item in claude(server).stream(ASK)]
    assert [i.text for i in items if isinstance(i, Delta)] == ["Hi", " there", "!"]
    end = items[-1]
    assert isinstance(end, Finished) and end.reason == "stop"
    assert end.usage.input_tokens > 0 and end.usage.output_tokens > 0
    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"]
    assert sent.body["system"] == "You are Airi."
    assert sent.body["messages"] == [{"role": "user", "content": "hi!\n\nare you there?"}]


def test_turns_alternate_and_start_with_the_user() -> None:
    turns = alternating((Message("assistant", "welcome!"), Message("user", "hi")))
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]


async def test_errors_surface_as_the_sdks_exceptions(server: LLMServer) -> None:
    server.queue(Fail(529))
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        await complete(claude(server), ASK)
    assert overloaded.value.status_code == 529
    with pytest.raises(anthropic.AuthenticationError):
        await complete(claude(server, key="sk-ant-wrong-000000"), ASK)


async def test_usage_reads_input_from_the_start_and_output_from_the_end(
    server: LLMServer,
) -> None:
    server.queue(Reply(["Hi"], input_tokens=2048, output_tokens=17))
    done = await complete(claude(server), ASK)
    assert done.finished.usage == Usage(2048, 17)


async def test_models_lists_every_served_model_sorted(server: LLMServer) -> None:
    server.models = ["claude-sonnet-4-5", "claude-haiku-4-5"]
    assert await claude(server).models() == ["claude-haiku-4-5", "claude-sonnet-4-5"]


async def test_embed_is_unsupported_without_a_request(server: LLMServer) -> None:
    with pytest.raises(Unsupported, match="offers no embeddings"):
        await claude(server).embed(["hi"])
    assert server.requests == []


async def test_probe_of_a_service_without_a_model_list_asks_for_one_token(
    server: LLMServer,
) -> None:
    preset = with_base_url(lookup("deepseek-anthropic"), server.url())
    assert await AnthropicMessages(preset, KEY, model="m").probe() >= 0
    sent = server.requests[-1]
    assert sent.path == "/v1/messages" and sent.body["max_tokens"] == 1
