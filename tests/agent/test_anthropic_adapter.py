"""The Anthropic adapter against a local server that speaks the Messages API's wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest

from agent.providers.anthropic_messages import AnthropicMessages, alternating
from agent.providers.base import ChatRequest, Delta, Finished, Message, complete
from agent.providers.presets import lookup, with_base_url
from tests.peers.llm_server import Fail, LLMServer

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
