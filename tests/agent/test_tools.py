"""Tool calls through both SDK adapters, against the local peer's byte-for-byte streams.

Whatever the service, the director sees one shape: text as ``Delta``, then one ``ToolCall`` per
call with its whole JSON arguments, then ``Finished("tool_calls")``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall, ChoiceDeltaToolCallFunction

from agent.providers.anthropic_messages import AnthropicMessages
from agent.providers.base import (
    ChatRequest,
    Delta,
    Finished,
    Message,
    StreamItem,
    Tool,
    ToolCall,
    Unsupported,
    complete,
)
from agent.providers.openai_compat import OpenAICompatible, _PendingCalls
from agent.providers.presets import lookup, with_base_url
from tests.peers import llm_server as peer
from tests.peers.llm_server import LLMServer

KEY = "sk-test-tools-0123456789"
EXPRESSION = Tool(
    "show_expression",
    "Show an expression on the avatar.",
    {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
)
SCENE = Tool("switch_scene", "Switch the OBS scene.", {"type": "object", "properties": {}})
ASK = ChatRequest(
    messages=(Message("system", "You are Airi."), Message("user", "smile for chat!")),
    tools=(EXPRESSION, SCENE),
)
HAPPY = peer.ToolCall("show_expression", {"name": "happy", "why": "chat asked nicely"}, pieces=5)
GAME = peer.ToolCall("switch_scene", {"scene": "Game"}, pieces=2)
Adapter = OpenAICompatible | AnthropicMessages


@pytest.fixture
async def server() -> AsyncIterator[LLMServer]:
    async with LLMServer(api_key=KEY) as running:
        yield running


@pytest.fixture(params=["openai", "anthropic"])
def adapter(request: pytest.FixtureRequest, server: LLMServer) -> Adapter:
    return make(server, request.param)


def make(server: LLMServer, name: str) -> Adapter:
    if name == "anthropic":
        return AnthropicMessages(with_base_url(lookup(name), server.url()), KEY, model="m")
    return OpenAICompatible(with_base_url(lookup(name), server.url("/v1")), KEY, model="m")


async def items_of(adapter: Adapter, request: ChatRequest = ASK) -> list[StreamItem]:
    return [item async for item in adapter.stream(request)]


async def test_arguments_split_over_chunks_arrive_as_one_call_with_whole_json(
    server: LLMServer, adapter: Adapter
) -> None:
    assert len(HAPPY.argument_pieces()) == 5  # the peer really splits them
    server.script(reply=[], tool_calls=[HAPPY])
    items = await items_of(adapter)
    [call] = [i for i in items if isinstance(i, ToolCall)]
    assert call.name == "show_expression" and call.id
    assert json.loads(call.arguments) == {"name": "happy", "why": "chat asked nicely"}
    end = items[-1]
    assert isinstance(end, Finished) and end.reason == "tool_calls"
    assert not [i for i in items if isinstance(i, Delta)]


async def test_text_before_a_call_still_streams_as_deltas_first(
    server: LLMServer, adapter: Adapter
) -> None:
    server.script(reply=["Okay", ", smiling", "!"], tool_calls=[HAPPY])
    items = await items_of(adapter)
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Delta", "Delta", "Delta", "ToolCall", "Finished"]
    assert [i.text for i in items if isinstance(i, Delta)] == ["Okay", ", smiling", "!"]


async def test_parallel_calls_come_in_order_each_whole(server: LLMServer, adapter: Adapter) -> None:
    server.script(reply=[], tool_calls=[HAPPY, GAME])
    calls = [i for i in await items_of(adapter) if isinstance(i, ToolCall)]
    assert [c.name for c in calls] == ["show_expression", "switch_scene"]
    assert json.loads(calls[1].arguments) == {"scene": "Game"}
    assert calls[0].id != calls[1].id


async def test_complete_gathers_text_and_calls(server: LLMServer, adapter: Adapter) -> None:
    server.script(reply=["On it."], tool_calls=[HAPPY, GAME])
    done = await complete(adapter, ASK)
    assert done.text == "On it."
    assert [c.name for c in done.tool_calls] == ["show_expression", "switch_scene"]
    assert done.finished.reason == "tool_calls"


async def test_openai_gets_tools_as_functions(server: LLMServer) -> None:
    await complete(make(server, "openai"), ASK)
    assert server.requests[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "show_expression",
                "description": "Show an expression on the avatar.",
                "parameters": EXPRESSION.parameters,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "switch_scene",
                "description": "Switch the OBS scene.",
                "parameters": {"type": "object", "properties": {}},
            },
        },
    ]


async def test_anthropic_gets_tools_with_an_input_schema(server: LLMServer) -> None:
    await complete(make(server, "anthropic"), ASK)
    assert server.requests[0].body["tools"] == [
        {
            "name": "show_expression",
            "description": "Show an expression on the avatar.",
            "input_schema": EXPRESSION.parameters,
        },
        {
            "name": "switch_scene",
            "description": "Switch the OBS scene.",
            "input_schema": {"type": "object", "properties": {}},
        },
    ]


async def test_no_tools_key_when_the_request_has_none(server: LLMServer, adapter: Adapter) -> None:
    done = await complete(adapter, ChatRequest(messages=ASK.messages))
    assert done.text == "Hello!" and done.tool_calls == ()
    assert "tools" not in server.requests[0].body


async def test_a_service_without_tools_says_so_before_sending(server: LLMServer) -> None:
    perplexity = OpenAICompatible(
        with_base_url(lookup("perplexity"), server.url("/v1")), KEY, model="m"
    )
    with pytest.raises(Unsupported, match=r"Perplexity .* offers no tool calls"):
        await complete(perplexity, ASK)
    assert server.requests == []


def test_calls_from_servers_that_reuse_index_0_stay_apart() -> None:
    # Some OpenAI-compatible servers send each parallel call whole, all at index 0, or with no
    # index at all; a new id still means a new call.
    def whole(call_id: str, name: str, arguments: str) -> ChoiceDeltaToolCall:
        function = ChoiceDeltaToolCallFunction(name=name, arguments=arguments)
        return ChoiceDeltaToolCall(index=0, id=call_id, type="function", function=function)

    pending = _PendingCalls()
    pending.add([whole("a", "show_expression", '{"name":"happy"}')])
    pending.add([whole("b", "switch_scene", "{}")])
    unindexed = ChoiceDeltaToolCall.model_construct(
        index=None, id="c", function=ChoiceDeltaToolCallFunction(name="wave", arguments="")
    )
    pending.add([unindexed])
    assert pending.whole() == [
        ToolCall("a", "show_expression", '{"name":"happy"}'),
        ToolCall("b", "switch_scene", "{}"),
        ToolCall("c", "wave", "{}"),
    ]
    assert pending.whole() == []
