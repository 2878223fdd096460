"""The provider mesh: the configured providers, their chains, their figures, changed live.

``Mesh`` turns ``[providers.*]``, ``[chains]`` and ``[router]`` into adapters, breakers, rate
limiters and a ``Router``, and keeps, per provider, what the providers panel shows: state,
TTFT percentiles and a recent series, tokens per second, errors, tokens and spend. Every
request the router makes reports here and is published (``ProviderRequestDone``, then
``ProviderChanged``); nothing published holds a key or a prompt's text.

Providers are switched off and on, probed and reordered while requests run: chains are rebuilt
and swapped into the router whole, so a request in flight keeps the chain it started with.

A provider that cannot work as configured (no key, an address missing) stays listed as
``misconfigured`` with the reason, and no chain calls it.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import msgspec

from agent.config import ChainLink, Config, ProviderEntry
from agent.protocol.messages import (
    ChainsChanged,
    Event,
    ProviderChanged,
    ProviderRequest,
    ProviderRequestDone,
    ProviderState,
    ProviderStatus,
)
from agent.protocol.text import inert
from agent.providers.autonomous import AutonomousProvider
from agent.providers.base import ChatRequest, Provider, StreamItem, Usage
from agent.providers.breaker import BreakerConfig, CircuitBreaker
from agent.providers.limits import RateLimiter, RateLimits
from agent.providers.presets import Preset, PresetError, lookup, request_for, with_base_url
from agent.providers.pricing import Price, cost, price_of
from agent.providers.retry import ConfigurationError, RetryPolicy
from agent.providers.router import Deadlines, Link, RequestOutcome, Router
from agent.providers.sdk_errors import verdict_of
from agent.secrets import Secrets, provider_key

log = logging.getLogger(__name__)

ROLES = ("reply", "idle", "summarize", "moderate")
AUTONOMOUS = "autonomous"
RECENT = 30
"""Answers kept per provider for percentiles, the sparkline and the degraded test."""
FAILED = frozenset({"failed_over", "cut", "misconfigured"})


class UnknownProvider(KeyError):
    def __str__(self) -> str:
        return f"no provider named {self.args[0]!r} is configured"


@dataclass
class Figures:
    """What one provider did this session."""

    requests: int = 0
    failures: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    spend: float = 0.0
    priced: bool = True
    last_error: str = ""
    ttfts: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    rates: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT))
    outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=10))


@dataclass
class Configured:
    """One provider as configured: its adapter (None when it cannot work) and its figures."""

    name: str
    preset: Preset
    model: str
    adapter: Provider | None
    problem: str = ""
    key: str = ""
    key_origin: str = ""
    enabled: bool = True
    price: Price | None = None
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    limiter: RateLimiter | None = None
    figures: Figures = field(default_factory=Figures)


class _OtherModel:
    """A provider asked for another model in one chain (``{ provider = "x", model = "y" }``)."""

    def __init__(self, inner: Provider, model: str) -> None:
        self.name = inner.name
        self.model = model
        self._inner = inner

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamItem]:
        return self._inner.stream(msgspec.structs.replace(request, model=self.model))

    async def probe(self) -> float:
        return await self._inner.probe()


@dataclass(frozen=True)
class ChainEntry:
    provider: str
    model: str = ""
    weight: float = 0.0


class Mesh:
    """The configured providers and the router over them; see the module docstring."""

    def __init__(
        self,
        config: Config,
        secrets: Secrets,
        publish: Callable[[Event], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._publish = publish
        self._clock = clock
        self._secrets = secrets
        self._persona = config.persona.name
        self._router_config = config.router
        self.providers: dict[str, Configured] = {}
        for name, entry in _entries(config):
            self.providers[name] = self._configure(name, entry, config)
        if config.router.autonomous_last or any(
            e.provider == AUTONOMOUS for role in ROLES for e in _chain(config, role)
        ):
            self.providers.setdefault(AUTONOMOUS, self._configure_autonomous())
        self.chains: dict[str, list[ChainEntry]] = {
            role: self._chain_for(config, role) for role in ROLES
        }
        deadlines = Deadlines(
            first_token=config.router.first_token,
            gap=config.router.gap,
            total=config.router.total,
        )
        self.router = Router(
            {role: self._links(role) for role in ROLES},
            deadlines=deadlines,
            on_outcome=self._on_outcome,
            hedge=config.router.hedge,
        )

    # --- building -----------------------------------------------------------------------------

    def _configure(self, name: str, entry: ProviderEntry, config: Config) -> Configured:
        preset = lookup(entry.preset or name)  # the config check named unknown presets already
        if preset.kind == "autonomous":
            return self._configure_autonomous(name)
        if entry.base_url:
            preset = with_base_url(preset, entry.base_url)
        model = entry.model or preset.default_model
        key, origin = provider_key(name, preset.name, preset.env_vars, self._secrets)
        breaker = CircuitBreaker(
            BreakerConfig(
                failure_threshold=config.router.failure_threshold,
                cooldown=config.router.cooldown,
            )
        )
        limits = RateLimits(
            requests_per_minute=entry.requests_per_minute,
            tokens_per_minute=entry.tokens_per_minute,
        )
        limiter = (
            RateLimiter(limits)
            if (limits.requests_per_minute or limits.tokens_per_minute)
            else None
        )
        configured = Configured(
            name, preset, model, None, key=key, key_origin=origin, enabled=entry.enabled,
            price=_price(preset, model, entry), breaker=breaker, limiter=limiter,
        )  # fmt: skip
        try:
            request_for(preset, model, key)  # a missing key or address, said now
        except PresetError as exc:
            configured.problem = str(exc)
            return configured
        configured.adapter = _adapter(name, preset, key, model, entry, config.router.total)
        return configured

    def _configure_autonomous(self, name: str = AUTONOMOUS) -> Configured:
        preset = lookup(AUTONOMOUS)
        provider = AutonomousProvider(self._persona)
        provider.name = name
        return Configured(name, preset, "persona", provider, price=Price(0.0, 0.0))

    def _chain_for(self, config: Config, role: str) -> list[ChainEntry]:
        entries = _chain(config, role) or [
            ChainEntry(name) for name in self.providers if name != AUTONOMOUS
        ]
        if config.router.autonomous_last and all(e.provider != AUTONOMOUS for e in entries):
            entries.append(ChainEntry(AUTONOMOUS))
        return entries

    def _links(self, role: str) -> list[Link]:
        links = []
        entries = self.chains[role]
        for i, entry in enumerate(entries):
            configured = self.providers[entry.provider]
            if configured.adapter is None or not configured.enabled:
                continue
            provider: Provider = configured.adapter
            if entry.model and entry.model != configured.model:
                provider = _OtherModel(provider, entry.model)
            links.append(
                Link(
                    provider,
                    breaker=configured.breaker,
                    policy=RetryPolicy(attempts=1)
                    if entry.provider == AUTONOMOUS
                    else RetryPolicy(),
                    weight=entry.weight or 1.0,
                    group=_group(entries, i),
                    limiter=configured.limiter,
                )
            )
        return links

    def _rebuild(self) -> None:
        for role in ROLES:
            self.router.set_chain(role, self._links(role))
        self._publish(ChainsChanged(chains=self.chain_names()))

    # --- what the control room sees -----------------------------------------------------------

    @property
    def has_models(self) -> bool:
        """True when some configured, working provider is a model (not only the persona)."""
        return any(
            c.adapter is not None and c.preset.kind != "autonomous" for c in self.providers.values()
        )

    def keys(self) -> list[str]:
        """Every key in use, for the log and health redaction."""
        return [c.key for c in self.providers.values() if c.key]

    def chain_names(self) -> dict[str, list[str]]:
        return {role: [e.provider for e in entries] for role, entries in self.chains.items()}

    def statuses(self) -> list[ProviderStatus]:
        return [self.status(name) for name in self.providers]

    def status(self, name: str) -> ProviderStatus:
        configured = self._get(name)
        figures = configured.figures
        ttfts = sorted(figures.ttfts)
        return ProviderStatus(
            name=name,
            preset=configured.preset.name,
            model=configured.model,
            state=self._state(configured),
            local=configured.preset.local or configured.preset.kind == "autonomous",
            enabled=configured.enabled,
            requests=figures.requests,
            failures=figures.failures,
            ttft_p50=_quantile(ttfts, 0.5),
            ttft_p95=_quantile(ttfts, 0.95),
            tokens_per_second=statistics.median(figures.rates) if figures.rates else None,
            input_tokens=figures.input_tokens,
            output_tokens=figures.output_tokens,
            spend=figures.spend if configured.price is not None and figures.priced else None,
            last_error=configured.problem or figures.last_error,
            recent_ttft=list(figures.ttfts),
        )

    def _state(self, configured: Configured) -> ProviderState:
        if not configured.enabled:
            return "disabled"
        breaker = configured.breaker.snapshot()
        if configured.problem or breaker.misconfigured:
            return "misconfigured"
        if breaker.state != "closed":
            return "open"
        outcomes = configured.figures.outcomes
        if not outcomes:
            return "idle"
        return "up" if all(outcomes) else "degraded"

    def llm_health(self) -> tuple[str, str]:
        """The `llm` row of the health panel: (state, detail)."""
        real = [c for n, c in self.providers.items() if c.preset.kind != "autonomous"]
        if not real:
            found = [name for name in ("openai", "anthropic") if self._key_set(name)]
            hint = f" ([providers.{found[0]}]: its key is already set)" if found else ""
            return "off", f"autonomous persona only: add [providers.NAME] to config.toml{hint}"
        states = {c.name: self._state(c) for c in real}
        working = [n for n, s in states.items() if s in ("up", "idle")]
        if working:
            return "up", f"{len(working)} of {len(real)} providers ready: {', '.join(working)}"
        trouble = ", ".join(f"{n} {s}" for n, s in states.items())
        return "degraded", f"no provider ready ({trouble}); the persona answers"

    def _key_set(self, preset_name: str) -> bool:
        preset = lookup(preset_name)
        return bool(provider_key(preset_name, preset_name, preset.env_vars, self._secrets)[0])

    # --- live changes -------------------------------------------------------------------------

    def set_enabled(self, name: str, enabled: bool) -> None:
        configured = self._get(name)
        if configured.enabled == enabled:
            return
        configured.enabled = enabled
        log.info("provider %s %s", name, "enabled" if enabled else "disabled")
        self._rebuild()
        self._publish(ProviderChanged(status=self.status(name)))

    def move(self, name: str, offset: int, role: str = "") -> None:
        """Move ``name`` by ``offset`` places in ``role``'s chain (every chain if empty)."""
        self._get(name)
        roles = [role] if role else list(ROLES)
        if role and role not in self.chains:
            raise ValueError(f"no chain called {role!r}: one of {', '.join(ROLES)}")
        moved = False
        for r in roles:
            entries = self.chains[r]
            at = next((i for i, e in enumerate(entries) if e.provider == name), None)
            if at is None:
                continue
            to = max(0, min(len(entries) - 1, at + offset))
            if to != at:
                entries.insert(to, entries.pop(at))
                moved = True
        if not moved:
            raise ValueError(f"{name} is already at that end of its chains")
        self._rebuild()

    async def probe(self, name: str) -> float:
        """Seconds a cheap call took; raises with the exact reason when it fails."""
        configured = self._get(name)
        if configured.adapter is None:
            raise RuntimeError(configured.problem)
        try:
            async with asyncio.timeout(self._router_config.first_token):
                seconds = await configured.adapter.probe()
        except Exception as exc:
            reason = _reason(exc)
            configured.figures.last_error = reason
            if isinstance(verdict_of(exc), ConfigurationError) and (
                permit := configured.breaker.acquire()
            ):
                permit.record_misconfigured(reason)
            self._publish(ProviderChanged(status=self.status(name)))
            raise RuntimeError(reason) from exc
        configured.breaker.reset()  # the streamer checked it by hand: let it take calls again
        configured.figures.last_error = ""
        self._publish(ProviderChanged(status=self.status(name)))
        return seconds

    async def warm(self) -> None:
        """Import the SDKs and build the clients now, so the first answer does not pay for it."""
        for configured in self.providers.values():
            client = getattr(configured.adapter, "client", None)
            if callable(client):
                await asyncio.to_thread(_import_sdk, configured.preset.kind)
                client()

    async def close(self) -> None:
        for configured in self.providers.values():
            closer = getattr(configured.adapter, "close", None)
            if callable(closer):
                try:
                    await closer()
                except Exception as exc:  # closing is best effort on the way out
                    log.debug("closing %s: %s", configured.name, exc)

    def _get(self, name: str) -> Configured:
        try:
            return self.providers[name]
        except KeyError:
            raise UnknownProvider(name) from None

    # --- outcomes -----------------------------------------------------------------------------

    def _on_outcome(self, outcome: RequestOutcome) -> None:
        configured = self.providers.get(outcome.provider)
        spent: float | None = None
        if configured is not None:
            spent = self._count(configured, outcome)
        self._publish(
            ProviderRequestDone(
                request=ProviderRequest(
                    role=outcome.role,
                    provider=outcome.provider,
                    model=outcome.model or (configured.model if configured else ""),
                    outcome=outcome.outcome,
                    ts=self._clock(),
                    attempts=outcome.attempts,
                    ttft=outcome.ttft,
                    duration=outcome.duration,
                    tokens_per_second=outcome.tokens_per_second,
                    input_tokens=outcome.input_tokens,
                    output_tokens=outcome.output_tokens,
                    cost=spent,
                    reason=inert(outcome.reason, 200),
                )
            )
        )
        if configured is not None:
            self._publish(ProviderChanged(status=self.status(outcome.provider)))

    def _count(self, configured: Configured, outcome: RequestOutcome) -> float | None:
        figures = configured.figures
        if outcome.outcome in ("refused_by_breaker", "rate_limited", "hedge_lost"):
            return None  # not a call the provider answered or failed
        figures.requests += 1
        failed = outcome.outcome in FAILED
        figures.outcomes.append(not failed)
        if failed:
            figures.failures += 1
            figures.last_error = inert(outcome.reason, 200)
        if outcome.ttft is not None:
            figures.ttfts.append(outcome.ttft)
        if outcome.tokens_per_second is not None:
            figures.rates.append(outcome.tokens_per_second)
        figures.input_tokens += outcome.input_tokens
        figures.output_tokens += outcome.output_tokens
        if configured.price is None:
            return None
        spent = cost(configured.price, Usage(outcome.input_tokens, outcome.output_tokens))
        figures.spend += spent
        return spent


# --- helpers -----------------------------------------------------------------------------------


def _entries(config: Config) -> Iterable[tuple[str, ProviderEntry]]:
    """[providers] in order, then presets named only in chains, with their defaults."""
    seen = dict(config.providers)
    for role in ROLES:
        for entry in _chain(config, role):
            if entry.provider not in seen and entry.provider != AUTONOMOUS:
                seen[entry.provider] = ProviderEntry()
    return seen.items()


def _chain(config: Config, role: str) -> list[ChainEntry]:
    items = getattr(config.chains, role)
    return [ChainEntry(item) if isinstance(item, str) else _entry(item) for item in items]


def _entry(link: ChainLink) -> ChainEntry:
    return ChainEntry(link.provider, link.model, link.weight)


def _group(entries: list[ChainEntry], i: int) -> str:
    """Weighted neighbours share load: each run of them is one tier, named by where it starts."""
    if entries[i].weight <= 0:
        return ""
    start = i
    while start > 0 and entries[start - 1].weight > 0:
        start -= 1
    return f"weighted-{start}"


def _adapter(
    name: str, preset: Preset, key: str, model: str, entry: ProviderEntry, total: float
) -> Provider:
    from agent.providers.anthropic_messages import AnthropicMessages
    from agent.providers.openai_compat import OpenAICompatible

    kind = AnthropicMessages if preset.kind == "anthropic" else OpenAICompatible
    adapter = kind(
        preset, key, model=model, connect_timeout=entry.connect_timeout, read_timeout=total
    )
    adapter.name = name
    return adapter


def _price(preset: Preset, model: str, entry: ProviderEntry) -> Price | None:
    if entry.price_input >= 0 and entry.price_output >= 0:
        return Price(entry.price_input, entry.price_output)
    return price_of(preset.name, model)


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _reason(exc: Exception) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer to the probe in time"
    return inert(verdict_of(exc).reason, 200)


def _import_sdk(kind: str) -> None:
    import importlib

    importlib.import_module("anthropic" if kind == "anthropic" else "openai")
