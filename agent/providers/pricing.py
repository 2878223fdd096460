"""What a call costs: USD per million tokens for the presets' well-known models.

List prices as published, Nov 2026; override in config. The table holds the standard rate of
each service's own API (no batch or cache discounts, no free tiers) for the default models of
the presets and a few close siblings. A model that is not in it has an unknown price (``None``),
never a guessed one: an "alias" such as ``mistral-small-latest`` moves to new models at new
prices, so it is left to the streamer's config. Local servers and the autonomous persona cost
nothing: they run on the streamer's own machine.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from agent.providers.base import Usage
from agent.providers.presets import PRESETS

ANY_MODEL = "*"  # in overrides: every model of that provider


class Price(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """USD per million tokens, read from the prompt and written in the reply."""

    input_per_mtok: float
    output_per_mtok: float


FREE = Price(0.0, 0.0)

_GPT_4O_MINI = Price(0.15, 0.60)
_HAIKU_4_5 = Price(1.00, 5.00)
_SONNET_4 = Price(3.00, 15.00)
_DEEPSEEK_V4_FLASH = Price(0.14, 0.28)  # cache-miss input: a cache hit costs less

# provider (preset name) -> model id -> price
LIST_PRICES: Mapping[str, Mapping[str, Price]] = {
    "openai": {
        "gpt-4.1": Price(2.00, 8.00),
        "gpt-4.1-mini": Price(0.40, 1.60),
        "gpt-4.1-nano": Price(0.10, 0.40),
        "gpt-4o": Price(2.50, 10.00),
        "gpt-4o-mini": _GPT_4O_MINI,
    },
    "anthropic": {
        "claude-haiku-4-5": _HAIKU_4_5,
        "claude-haiku-4-5-20251001": _HAIKU_4_5,
        "claude-sonnet-4-5": _SONNET_4,
        "claude-sonnet-4-5-20250929": _SONNET_4,
        "claude-sonnet-4-6": _SONNET_4,
    },
    "gemini": {"gemini-2.5-flash": Price(0.30, 2.50)},
    "deepseek": {"deepseek-v4-flash": _DEEPSEEK_V4_FLASH},
    "deepseek-anthropic": {"deepseek-v4-flash": _DEEPSEEK_V4_FLASH},
    "groq": {
        "llama-3.3-70b-versatile": Price(0.59, 0.79),
        "llama-3.1-8b-instant": Price(0.05, 0.08),
    },
    "xai": {"grok-3-mini": Price(0.30, 0.50)},
    "cerebras": {"llama3.1-8b": Price(0.10, 0.10)},
    # Gateways that pass the model maker's list price through.
    "openrouter": {"openai/gpt-4o-mini": _GPT_4O_MINI},
    "vercel": {"openai/gpt-4o-mini": _GPT_4O_MINI},
}

_ON_THE_BOX = frozenset(p.name for p in PRESETS if p.local)

Overrides = Mapping[str, Mapping[str, Price]]


def price_of(provider: str, model: str, overrides: Overrides | None = None) -> Price | None:
    """The price of ``model`` on ``provider``; None when it is not known.

    The streamer's ``overrides`` (provider -> model, or ``"*"`` for all its models) come first,
    then the list prices; a local server or the persona is free unless overridden.
    """
    own = (overrides or {}).get(provider, {})
    price = own.get(model) or own.get(ANY_MODEL) or LIST_PRICES.get(provider, {}).get(model)
    if price is None and provider in _ON_THE_BOX:
        return FREE
    return price


def cost(price: Price, usage: Usage) -> float:
    """USD for one call's tokens at ``price``."""
    spent = usage.input_tokens * price.input_per_mtok + usage.output_tokens * price.output_per_mtok
    return spent / 1_000_000
