"""The local LLM service, driven by the real openai and anthropic SDKs.

These pin down the wire formats the provider adapters will meet and, for every fault, what each
SDK raises: the adapters' error handling is written against these facts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import httpx2
import openai
import pytest
from anthropic.types import MessageParam, ToolParam
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from tests.peers.llm_server import (
    Fail,
    Hang,
    Html,
    LLMServer,
    Reply,
    ToolCall,
    embedding,
)

KEY = "sk-test-0123456789"
CHAT: list[ChatCompletionMessageParam] = [{"role": "user", "content": "say hello to chat"}]
MESSAGES: list[MessageParam] = [{"role": "user", "content": "say hello to chat"}]
WEATHER = ToolCall("get_weather", {"city": "Seoul", "unit": "celsius"}, pieces=4)
OPENAI_TOOLS: list[ChatCompletionToolParam] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]
ANTHROPIC_TOOLS: list[ToolParam] = [
    {
        "name": "get_weather",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
SHORT = 0.3  # a client timeout for hangs: long enough for localhost, short for the suite


@pytest.fixture
async def server() -> AsyncIterator[LLMServer]:
    async with LLMServer(api_key=KEY) as peer:
        yield peer


def gpt(server: LLMServer, timeout: float = 5.0, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=server.url("/v1"), api_key=KEY, max_retries=0, timeout=timeout, **kwargs
    )


def claude(server: LLMServer, timeout: float = 5.0) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=server.url(), api_key=KEY, max_retries=0, timeout=timeout
    )


async def openai_deltas(client: openai.AsyncOpenAI, got: list[str]) -> None:
    stream = await client.chat.completions.create(model="m", messages=CHAT, stream=True)
    async for chunk in stream:
        got += [c.delta.content for c in chunk.choices if c.delta.content]


async def anthropic_deltas(client: anthropic.AsyncAnthropic, got: list[str]) -> None:
    async with client.messages.stream(model="m", max_tokens=50, messages=MESSAGES) as stream:
        async for text in stream.text_stream:
            got.append(text)


async def raw_post(
    server: LLMServer, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.url(path), json=body, headers=headers) as response,
    ):
        return response.status, response.headers["Content-Type"], await response.read()


# --- OpenAI Chat Completions ---------------------------------------------------------------------


async def test_openai_whole_reply_with_usage_and_the_request_recorded(server: LLMServer) -> None:
    server.script(reply=["Hello", " chat", "!"])
    completion = await gpt(server).chat.completions.create(model="gpt-4o-mini", messages=CHAT)
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].message.content == "Hello chat!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (4, 3)
    [seen] = server.requests
    assert (seen.method, seen.path, seen.api) == ("POST", "/v1/chat/completions", "openai")
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.body["messages"] == CHAT


async def test_openai_stream_sends_deltas_then_finish_then_usage(server: LLMServer) -> None:
    server.script(reply=["Hello", " chat", "!"], delay=0.001)
    stream = await gpt(server).chat.completions.create(
        model="m", messages=CHAT, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].delta.content for c in chunks[1:4]] == ["Hello", " chat", "!"]
    assert chunks[4].choices[0].finish_reason == "stop"
    assert chunks[5].choices == []
    assert chunks[5].usage is not None and chunks[5].usage.total_tokens == 7
    assert len({c.id for c in chunks}) == 1


async def test_openai_stream_bytes_on_the_wire(server: LLMServer) -> None:
    server.script(reply=["Hi"])
    body = {"model": "m", "messages": CHAT, "stream": True}
    auth = {"Authorization": f"Bearer {KEY}"}
    status, kind, raw = await raw_post(server, "/v1/chat/completions", body, auth)
    assert (status, kind) == (200, "text/event-stream; charset=utf-8")
    events = raw.decode().split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    chunks = [json.loads(event.removeprefix("data: ")) for event in events[:-2]]
    assert all(event.startswith("data: {") for event in events[:-2])
    assert [c["object"] for c in chunks] == ["chat.completion.chunk"] * 3
    assert "usage" not in chunks[0]  # only when stream_options.include_usage asks for it


async def test_openai_streamed_tool_call_is_assembled_by_the_sdk(server: LLMServer) -> None:
    server.script(reply=[], tool_calls=[WEATHER])
    async with gpt(server).chat.completions.stream(
        model="m", messages=CHAT, tools=OPENAI_TOOLS
    ) as stream:
        completion = await stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Seoul", "unit": "celsius"}
    assert call.id.startswith("call_")


async def test_openai_whole_reply_carries_tool_calls(server: LLMServer) -> None:
    server.script(reply=[], tool_calls=[WEATHER])
    completion = await gpt(server).chat.completions.create(
        model="m", messages=CHAT, tools=OPENAI_TOOLS
    )
    message = completion.choices[0].message
    assert message.content is None
    [call] = message.tool_calls or []
    assert call.type == "function"
    assert json.loads(call.function.arguments) == {"city": "Seoul", "unit": "celsius"}


@pytest.mark.parametrize("prefix", ["/openai/v1", "/api/v1", "/v1beta/openai"])
async def test_openai_paths_answer_under_any_base_prefix(server: LLMServer, prefix: str) -> None:
    client = openai.AsyncOpenAI(base_url=server.url(prefix), api_key=KEY, max_retries=0)
    completion = await client.chat.completions.create(model="m", messages=CHAT)
    assert completion.choices[0].message.content == "Hello!"
    assert server.requests[0].path == f"{prefix}/chat/completions"


async def test_openai_models_and_embeddings(server: LLMServer) -> None:
    server.models = ["gpt-4o-mini", "text-embedding-3-small"]
    client = gpt(server)
    assert [m.id async for m in client.models.list()] == server.models
    floats = await client.embeddings.create(
        model="e", input=["a", "b", "a"], encoding_format="float"
    )
    vectors = [item.embedding for item in floats.data]
    assert vectors[0] == vectors[2] == embedding("a") != vectors[1]
    # Left to itself the SDK asks for base64 (little-endian float32) and decodes it.
    decoded = await client.embeddings.create(model="e", input="a")
    assert server.requests[-1].body["encoding_format"] == "base64"
    assert decoded.data[0].embedding == pytest.approx(embedding("a"), abs=1e-6)
    packed = await client.embeddings.create(model="e", input="a", encoding_format="base64")
    raw = base64.b64decode(str(packed.data[0].embedding))
    assert list(struct.unpack("<8f", raw)) == pytest.approx(embedding("a"), abs=1e-6)


async def test_openai_embeddings_have_the_servers_size_unless_asked(server: LLMServer) -> None:
    server.embedding_size = 5
    client = gpt(server)
    sized = await client.embeddings.create(model="e", input="a", encoding_format="float")
    assert sized.data[0].embedding == embedding("a", 5)
    asked = await client.embeddings.create(
        model="e", input="a", encoding_format="float", dimensions=3
    )
    assert len(asked.data[0].embedding) == 3


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ([], "[] is too short - 'tools'"),
        ([{"function": {"name": "f"}}], "Missing required parameter: 'tools[0].type'."),
        ([*OPENAI_TOOLS, {"type": "function"}], "Missing required parameter: 'tools[1].function'."),
        (
            [{"type": "function", "function": {"parameters": {}}}],
            "Missing required parameter: 'tools[0].function.name'.",
        ),
    ],
)
async def test_openai_refuses_tools_it_cannot_use(
    server: LLMServer, tools: list[Any], message: str
) -> None:
    body = {"model": "m", "messages": CHAT, "tools": tools}
    auth = {"Authorization": f"Bearer {KEY}"}
    status, _, raw = await raw_post(server, "/v1/chat/completions", body, auth)
    assert (status, json.loads(raw)["error"]["message"]) == (400, message)


async def test_openai_headers_a_preset_adds_are_recorded(server: LLMServer) -> None:
    attribution = {"HTTP-Referer": "https://example.org/airi", "X-Title": "AIRI"}
    client = gpt(server, default_headers=attribution)
    await client.chat.completions.create(model="m", messages=CHAT)
    headers = server.requests[0].headers
    assert (headers["http-referer"], headers["x-title"]) == ("https://example.org/airi", "AIRI")


async def test_openai_wrong_key_is_refused_with_the_key_masked(server: LLMServer) -> None:
    server.queue(Reply(["kept for the next good request"]))
    client = openai.AsyncOpenAI(base_url=server.url("/v1"), api_key="sk-wrong-987654321")
    with pytest.raises(openai.AuthenticationError) as caught:
        await client.with_options(max_retries=0).chat.completions.create(model="m", messages=CHAT)
    assert caught.value.code == "invalid_api_key"
    assert "sk-wrong-987654321" not in caught.value.message
    assert server.pending == 1


async def test_a_server_without_key_accepts_any(server: LLMServer) -> None:
    server.api_key = None
    client = openai.AsyncOpenAI(base_url=server.url("/v1"), api_key="ollama", max_retries=0)
    completion = await client.chat.completions.create(model="m", messages=CHAT)
    assert completion.choices[0].message.content == "Hello!"


async def test_openai_unknown_path_is_a_404_in_openai_shape(server: LLMServer) -> None:
    client = openai.AsyncOpenAI(base_url=server.url("/v1/nope"), api_key=KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        await client.completions.create(model="m", prompt="hi")
    assert caught.value.message == "Error code: 404 - Invalid URL (POST /v1/nope/completions)"


# --- OpenAI faults -------------------------------------------------------------------------------


async def test_openai_faults_are_queued_per_request(server: LLMServer) -> None:
    server.queue(Fail(500), Reply(["second"]))
    client = gpt(server)
    with pytest.raises(openai.InternalServerError) as caught:
        await client.chat.completions.create(model="m", messages=CHAT)
    assert caught.value.type == "server_error"
    completion = await client.chat.completions.create(model="m", messages=CHAT)
    assert completion.choices[0].message.content == "second"
    third = await client.chat.completions.create(model="m", messages=CHAT)
    assert third.choices[0].message.content == "Hello!"
    assert server.pending == 0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_openai_error_statuses(
    server: LLMServer, status: int, error: type[openai.APIStatusError]
) -> None:
    server.queue(Fail(status))
    with pytest.raises(error) as caught:
        await gpt(server).chat.completions.create(model="m", messages=CHAT, stream=True)
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and set(caught.value.body) == {
        "message",
        "type",
        "param",
        "code",
    }


async def test_openai_rate_limit_shows_retry_after(server: LLMServer) -> None:
    server.queue(Fail(429, retry_after=2))
    with pytest.raises(openai.RateLimitError) as caught:
        await gpt(server).chat.completions.create(model="m", messages=CHAT)
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.code == "rate_limit_exceeded"


async def test_openai_hang_before_headers_times_out(server: LLMServer) -> None:
    server.queue(Hang())
    with pytest.raises(openai.APITimeoutError):
        await gpt(server, timeout=SHORT).chat.completions.create(model="m", messages=CHAT)
    [seen] = server.requests
    assert await seen.ended() == "client_gone"


async def test_openai_hang_after_first_token_times_out_mid_stream(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="hang"))
    got: list[str] = []
    with pytest.raises(openai.APITimeoutError):
        await openai_deltas(gpt(server, timeout=SHORT), got)
    assert got == ["Hel"]


async def test_openai_reset_mid_stream_is_a_connection_error(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="reset"))
    got: list[str] = []
    with pytest.raises(openai.APIConnectionError) as caught:
        await openai_deltas(gpt(server), got)
    assert type(caught.value) is openai.APIConnectionError
    assert got == ["Hel"]


async def test_openai_reset_of_a_whole_reply_is_a_connection_error(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="reset"))
    with pytest.raises(openai.APIConnectionError):
        await gpt(server).chat.completions.create(model="m", messages=CHAT)


async def test_openai_malformed_sse_line_raises_a_bare_json_error(server: LLMServer) -> None:
    # The SDK does not wrap it: an adapter must catch ValueError around the stream itself.
    server.queue(Reply(["Hel"], end="malformed"))
    got: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        await openai_deltas(gpt(server), got)
    assert got == ["Hel"]


async def test_openai_error_event_mid_stream_is_an_api_error(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="error"))
    got: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        await openai_deltas(gpt(server), got)
    assert not isinstance(caught.value, openai.APIStatusError)  # the status was 200
    assert caught.value.body == {
        "message": "The server had an error while processing your request. Sorry about that!",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert got == ["Hel"]


async def test_openai_html_page_passes_the_sdk_unnoticed(server: LLMServer) -> None:
    # Neither call raises: a whole reply comes back as a str, a stream as no chunks at all.
    server.queue(Html(), Html())
    client = gpt(server)
    whole: object = await client.chat.completions.create(model="m", messages=CHAT)
    assert isinstance(whole, str) and whole.startswith("<!DOCTYPE html>")
    got: list[str] = []
    await openai_deltas(client, got)
    assert got == []


async def test_a_client_that_gives_up_is_seen_leaving(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="hang"), Hang())
    client = gpt(server, timeout=SHORT)
    with pytest.raises(openai.APITimeoutError):
        await openai_deltas(client, [])
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="m", messages=CHAT)
    assert [await seen.ended() for seen in server.requests] == ["client_gone"] * 2


async def test_release_ends_hangs_with_a_reset(server: LLMServer) -> None:
    server.queue(Hang())
    call = asyncio.create_task(gpt(server).chat.completions.create(model="m", messages=CHAT))
    [seen] = await server.wait_for_requests(1)
    server.release()
    with pytest.raises(openai.APIConnectionError):
        await call
    assert await seen.ended() == "done"


async def test_a_scripted_outage_lasts_until_lifted(server: LLMServer) -> None:
    server.script(Fail(503))
    client = gpt(server)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=CHAT)
    server.script(reply=["back"])
    completion = await client.chat.completions.create(model="m", messages=CHAT)
    assert completion.choices[0].message.content == "back"
    assert [seen.serial for seen in server.requests] == [1, 2, 3, 4]


async def test_delays_hold_back_headers_and_first_token(server: LLMServer) -> None:
    # Lower bounds only: a sleep guarantees them, however loaded the machine is.
    server.queue(Reply(["late"], header_delay=0.1, first_delay=0.1))
    clock = asyncio.get_running_loop().time
    start = clock()
    stream = await gpt(server).chat.completions.create(model="m", messages=CHAT, stream=True)
    headers_at = clock() - start
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    assert headers_at >= 0.1
    assert clock() - start >= 0.2


async def test_many_concurrent_streams_each_get_their_own_answer(server: LLMServer) -> None:
    server.script(reply=["a", "b", "c"], delay=0.005)
    clients = [gpt(server) for _ in range(4)]
    results: list[list[str]] = [[] for _ in range(60)]
    async with asyncio.TaskGroup() as tasks:
        for n, got in enumerate(results):
            tasks.create_task(openai_deltas(clients[n % 4], got))
    assert results == [["a", "b", "c"]] * 60
    assert sorted(seen.serial for seen in server.requests) == list(range(1, 61))


# --- Anthropic Messages --------------------------------------------------------------------------


async def test_anthropic_whole_reply_with_usage_and_headers(server: LLMServer) -> None:
    server.script(reply=["Hello", " chat", "!"])
    message = await claude(server).messages.create(
        model="claude-x", max_tokens=50, system="be brief", messages=MESSAGES
    )
    assert message.type == "message" and message.model == "claude-x"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == "Hello chat!"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 3)
    [seen] = server.requests
    assert (seen.path, seen.api) == ("/v1/messages", "anthropic")
    assert "anthropic-version" in seen.headers
    # anthropic 2.x sends the api_key as a Bearer token, not x-api-key; the server takes both.
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.body["system"] == "be brief"


async def test_anthropic_stream_text_and_usage(server: LLMServer) -> None:
    server.script(reply=["Hello", " chat", "!"], delay=0.001)
    async with claude(server).messages.stream(
        model="m", max_tokens=50, messages=MESSAGES
    ) as stream:
        texts = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert texts == ["Hello", " chat", "!"]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (4, 3)


async def test_anthropic_stream_bytes_on_the_wire_and_x_api_key(server: LLMServer) -> None:
    server.script(reply=["Hi", "!"])
    body = {"model": "m", "max_tokens": 5, "messages": MESSAGES, "stream": True}
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    status, kind, raw = await raw_post(server, "/v1/messages", body, headers)
    assert (status, kind) == (200, "text/event-stream; charset=utf-8")
    events = raw.decode().split("\n\n")
    assert events[-1] == ""
    names = []
    for event in events[:-1]:
        name_line, data_line = event.split("\n")
        names.append(name_line.removeprefix("event: "))
        assert json.loads(data_line.removeprefix("data: "))["type"] == names[-1]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]


async def test_anthropic_streamed_tool_use_is_assembled_by_the_sdk(server: LLMServer) -> None:
    server.script(reply=["Let me look."], tool_calls=[WEATHER])
    async with claude(server).messages.stream(
        model="m", max_tokens=50, messages=MESSAGES, tools=ANTHROPIC_TOOLS
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    text, tool = final.content
    assert text.type == "text" and text.text == "Let me look."
    assert tool.type == "tool_use" and tool.name == "get_weather"
    assert tool.input == {"city": "Seoul", "unit": "celsius"}
    assert tool.id.startswith("toolu_")


async def test_anthropic_refuses_what_the_service_refuses(server: LLMServer) -> None:
    versioned = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body: dict[str, Any] = {"model": "m", "messages": MESSAGES}
    status, _, raw = await raw_post(server, "/v1/messages", body, versioned)
    assert (status, json.loads(raw)["error"]) == (
        400,
        {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    )
    body["max_tokens"] = 5
    status, _, raw = await raw_post(server, "/v1/messages", body, {"x-api-key": KEY})
    assert (status, json.loads(raw)["error"]["message"]) == (
        400,
        "anthropic-version: header is required",
    )
    status, _, _ = await raw_post(server, "/v1/messages", body, versioned)
    assert status == 200


async def test_anthropic_refuses_a_tool_without_its_schema(server: LLMServer) -> None:
    headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    body = {"model": "m", "max_tokens": 5, "messages": MESSAGES, "tools": [{"name": "f"}]}
    status, _, raw = await raw_post(server, "/v1/messages", body, headers)
    assert (status, json.loads(raw)["error"]["message"]) == (
        400,
        "tools.0.custom.input_schema: Field required",
    )
    body["tools"] = ANTHROPIC_TOOLS
    status, _, _ = await raw_post(server, "/v1/messages", body, headers)
    assert status == 200


async def test_anthropic_models_list(server: LLMServer) -> None:
    server.models = ["claude-a", "claude-b"]
    assert [m.id async for m in claude(server).models.list()] == ["claude-a", "claude-b"]


# --- Anthropic faults ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (503, anthropic.ServiceUnavailableError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
async def test_anthropic_error_statuses(
    server: LLMServer, status: int, error: type[anthropic.APIStatusError], kind: str
) -> None:
    server.queue(Fail(status))
    with pytest.raises(error) as caught:
        await claude(server).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert (caught.value.status_code, caught.value.type) == (status, kind)
    assert isinstance(caught.value.body, dict)
    assert caught.value.request_id == caught.value.body["request_id"] is not None


async def test_anthropic_wrong_key_and_rate_limit(server: LLMServer) -> None:
    wrong = anthropic.AsyncAnthropic(base_url=server.url(), api_key="nope", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as refused:
        await wrong.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert refused.value.api_message == "invalid x-api-key"
    server.queue(Fail(429, retry_after=7))
    with pytest.raises(anthropic.RateLimitError) as limited:
        await claude(server).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.type == "rate_limit_error"


async def test_anthropic_hang_before_headers_times_out(server: LLMServer) -> None:
    server.queue(Hang())
    with pytest.raises(anthropic.APITimeoutError):
        await claude(server, timeout=SHORT).messages.create(
            model="m", max_tokens=5, messages=MESSAGES
        )


async def test_anthropic_hang_after_first_token_escapes_as_httpx_timeout(
    server: LLMServer,
) -> None:
    # anthropic 2.x does not wrap transport errors raised while a stream is read.
    server.queue(Reply(["Hel"], end="hang"))
    got: list[str] = []
    with pytest.raises(httpx2.ReadTimeout):
        await anthropic_deltas(claude(server, timeout=SHORT), got)
    assert got == ["Hel"]


async def test_anthropic_reset_mid_stream_escapes_as_httpx_error(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="reset"))
    got: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError):
        await anthropic_deltas(claude(server), got)
    assert got == ["Hel"]


async def test_anthropic_reset_of_a_whole_reply_is_a_connection_error(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="reset"))
    with pytest.raises(anthropic.APIConnectionError):
        await claude(server).messages.create(model="m", max_tokens=5, messages=MESSAGES)


async def test_anthropic_error_event_is_a_status_error_of_200(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="error"))
    got: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        await anthropic_deltas(claude(server), got)
    assert caught.value.status_code == 200
    assert caught.value.type == "overloaded_error"
    assert got == ["Hel"]


async def test_anthropic_malformed_sse_line_raises_a_bare_json_error(server: LLMServer) -> None:
    server.queue(Reply(["Hel"], end="malformed"))
    got: list[str] = []
    with pytest.raises(json.JSONDecodeError):
        await anthropic_deltas(claude(server), got)
    assert got == ["Hel"]


async def test_anthropic_html_page_passes_the_sdk_unnoticed(server: LLMServer) -> None:
    server.queue(Html(), Html())
    client = claude(server)
    whole: object = await client.messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert isinstance(whole, str) and "<html>" in whole
    events = await client.messages.create(model="m", max_tokens=5, messages=MESSAGES, stream=True)
    assert [event async for event in events] == []
