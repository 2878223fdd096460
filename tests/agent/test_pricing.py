"""Prices and costs: known list prices, free local servers, unknown never guessed."""

from __future__ import annotations

import msgspec
import pytest

from agent.providers.anthropic_messages import AnthropicMessages
from agent.providers.base import ChatRequest, Message, Usage, complete
from agent.providers.presets import PRESETS, lookup, with_base_url
from agent.providers.pricing import FREE, LIST_PRICES, Price, cost, price_of
from tests.peers.llm_server import LLMServer, Reply


def test_default_models_of_the_big_services_have_list_prices() -> None:
    assert price_of("openai", "gpt-4.1-mini") == Price(0.40, 1.60)
    assert price_of("openai", "gpt-4o-mini") == Price(0.15, 0.60)
    assert price_of("anthropic", "claude-haiku-4-5") == Price(1.00, 5.00)
    assert price_of("groq", "llama-3.3-70b-versatile") == Price(0.59, 0.79)


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-9-imaginary"),
        ("mistral", "mistral-small-latest"),  # an alias that moves: not guessed
        ("azure", "gpt-4o-mini"),  # your resource, your contract
        ("no-such-service", "gpt-4o-mini"),
    ],
)
def test_an_unknown_price_is_none_not_a_guess(provider: str, model: str) -> None:
    assert price_of(provider, model) is None


@pytest.mark.parametrize("provider", ["ollama", "vllm", "lmstudio", "autonomous"])
def test_local_servers_and_the_persona_are_free(provider: str) -> None:
    assert price_of(provider, "llama3.2") == FREE
    assert cost(FREE, Usage(50_000, 9_000)) == 0.0


def test_overrides_come_first_by_model_then_for_any_model() -> None:
    mine = {
        "openai": {"gpt-4o-mini": Price(0.10, 0.20)},
        "ollama": {"*": Price(0.01, 0.01)},  # the streamer prices their own GPU's power
    }
    assert price_of("openai", "gpt-4o-mini", mine) == Price(0.10, 0.20)
    assert price_of("openai", "gpt-4o", mine) == Price(2.50, 10.00)
    assert price_of("ollama", "anything", mine) == Price(0.01, 0.01)


def test_cost_is_tokens_times_the_per_million_rates() -> None:
    price = Price(0.40, 1.60)
    assert cost(price, Usage(1_000_000, 500_000)) == pytest.approx(1.20)
    assert cost(price, Usage(1200, 34)) == pytest.approx(0.0005344)
    assert cost(price, Usage()) == 0.0


def test_the_table_names_only_real_presets() -> None:
    names = {p.name for p in PRESETS}
    assert set(LIST_PRICES) <= names
    assert all(p.input_per_mtok > 0 for m in LIST_PRICES.values() for p in m.values())


def test_a_price_reads_from_config_and_refuses_unknown_keys() -> None:
    read = msgspec.convert({"input_per_mtok": 1, "output_per_mtok": 2.5}, Price)
    assert read == Price(1.0, 2.5)
    with pytest.raises(msgspec.ValidationError, match="input_per_mtk"):
        msgspec.convert({"input_per_mtk": 1, "output_per_mtok": 2}, Price)


async def test_a_streamed_call_is_priced_from_the_usage_it_reports() -> None:
    async with LLMServer(api_key="sk-ant-price-0000") as server:
        server.queue(Reply(["Hi", "!"], input_tokens=3000, output_tokens=200))
        claude = AnthropicMessages(
            with_base_url(lookup("anthropic"), server.url()), "sk-ant-price-0000"
        )
        done = await complete(claude, ChatRequest(messages=(Message("user", "hi"),)))
    price = price_of("anthropic", claude.model)
    assert price is not None
    assert cost(price, done.finished.usage) == pytest.approx((3000 * 1 + 200 * 5) / 1e6)
