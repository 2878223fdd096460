"""The OpenAI-compatible adapter against a local server that speaks the real wire format."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from agent.providers.base import (
    ChatRequest,
    Delta,
    Finished,
    Message,
    Unsupported,
    Usage,
    complete,
)
from agent.providers.openai_compat import OpenAICompatible
from agent.providers.presets import PresetError, lookup, with_base_url
from tests.peers.llm_server import Fail, LLMServer, Reply, embedding

KEY = "sk-test-adapter-0123456789"
ASK = ChatRequest(messages=(Message("system", "You are Airi."), Message("user", "hi!")))


@pytest.fixture
async def server() -> AsyncIterator[LLMServer]:
    async with LLMServer(api_key=KEY) as running:
        yield running


def provider(server: LLMServer, name: str, key: str = KEY) -> OpenAICompatible:
    preset = with_base_url(lookup(name), server.url("/v1"))
    return OpenAICompatible(preset, key, model="m")


async def test_a_stream_arrives_in_deltas_and_ends_with_usage(server: LLMServer) -> None:
    server.script(reply=["Hello", " chat", "!"])
    items = [item async for item in provider(server, "openai").stream(ASK)]
    assert [i.text for i in items if isinstance(i, Delta)] == ["Hello", " chat", "!"]
    end = items[-1]
    assert isinstance(end, Finished) and end.reason == "stop" and end.usage.output_tokens > 0
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions" and sent.body["stream"] is True
    assert sent.body["messages"][0] == {"role": "system", "content": "You are Airi."}
    assert "temperature" not in sent.body  # unset means the server's default, not null


async def test_attribution_headers_reach_the_wire(server: LLMServer) -> None:
    await complete(provider(server, "openrouter"), ASK)
    headers = server.requests[0].headers
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["X-Title"] == "airi" and "HTTP-Referer" in headers


async def test_a_local_server_without_a_key_gets_no_authorization_header() -> None:
    async with LLMServer(api_key=None) as local:
        reply = await complete(provider(local, "ollama", key=""), ASK)
        assert reply.text == "Hello!"
        assert "Authorization" not in local.requests[0].headers


async def test_errors_surface_as_the_sdks_exceptions_for_the_router_to_classify(
    server: LLMServer,
) -> None:
    server.queue(Fail(429, retry_after=2), Reply(["ok"]))
    adapter = provider(server, "openai")
    with pytest.raises(openai.RateLimitError) as limited:
        await complete(adapter, ASK)
    assert limited.value.response.headers["retry-after"] == "2"
    assert (await complete(adapter, ASK)).text == "ok"  # no retry of its own: the router's job
    assert len(server.requests) == 2
    with pytest.raises(openai.AuthenticationError):
        await complete(provider(server, "openai", key="sk-wrong-key-000000"), ASK)


async def test_probe_lists_models(server: LLMServer) -> None:
    assert await provider(server, "groq").probe() >= 0
    assert server.requests[-1].path == "/v1/models"


async def test_probe_of_a_service_without_a_model_list_asks_for_one_token(
    server: LLMServer,
) -> None:
    assert await provider(server, "perplexity").probe() >= 0
    sent = server.requests[-1]
    assert sent.path == "/v1/chat/completions" and sent.body["max_tokens"] == 1


async def test_usage_carries_both_token_counts(server: LLMServer) -> None:
    server.queue(Reply(["Hi"], input_tokens=1200, output_tokens=34))
    done = await complete(provider(server, "openai"), ASK)
    assert done.finished.usage == Usage(1200, 34)


async def test_models_lists_every_served_model_sorted(server: LLMServer) -> None:
    server.models = ["gpt-4o", "gpt-4.1-mini", "text-embedding-3-small"]
    assert await provider(server, "openai").models() == [
        "gpt-4.1-mini",
        "gpt-4o",
        "text-embedding-3-small",
    ]


async def test_models_of_a_service_without_a_model_list_is_unsupported(server: LLMServer) -> None:
    with pytest.raises(Unsupported, match="model list"):
        await provider(server, "cohere").models()
    assert server.requests == []


async def test_embed_returns_one_vector_per_text_of_the_servers_size(server: LLMServer) -> None:
    server.embedding_size = 12
    vectors = await provider(server, "openai").embed(["hi chat", "gg", "hi chat"])
    assert len(vectors) == 3 and all(len(v) == 12 for v in vectors)
    assert vectors[0] == vectors[2] == embedding("hi chat", 12) != vectors[1]
    sent = server.requests[0]
    assert sent.path == "/v1/embeddings"
    assert sent.body["model"] == "text-embedding-3-small"  # the preset's embedding model
    assert sent.body["input"] == ["hi chat", "gg", "hi chat"]


async def test_embed_takes_a_named_model_and_needs_one_without_a_default(
    server: LLMServer,
) -> None:
    await provider(server, "vllm").embed(["hi"], model="bge-small")
    assert server.requests[0].body["model"] == "bge-small"
    with pytest.raises(PresetError, match="no default embedding model"):
        await provider(server, "vllm").embed(["hi"])


async def test_embed_on_a_service_without_embeddings_is_unsupported(server: LLMServer) -> None:
    with pytest.raises(Unsupported, match=r"Groq \(groq\) offers no embeddings"):
        await provider(server, "groq").embed(["hi"])
    assert server.requests == []


async def test_cohere_gets_no_stream_options_which_it_refuses(server: LLMServer) -> None:
    await complete(provider(server, "openai"), ASK)
    await complete(provider(server, "cohere"), ASK)
    asked, cohere = server.requests
    assert asked.body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in cohere.body
