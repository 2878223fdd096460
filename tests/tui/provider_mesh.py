"""A stand-in for the agent's provider mesh, answering the providers panel's requests.

It sits in a real agent's request path (``agent.server.handle``) and publishes on the real
bus, so the control room sees exactly what a real mesh would send: ``ProviderChanged`` and
``ChainsChanged`` events, ``Ok`` and ``Err`` replies. What it knows is what the test gives it,
so no remote model is called and every figure is fixed.
"""

from __future__ import annotations

import msgspec

from agent.daemon import Agent
from agent.protocol.messages import (
    ChainsChanged,
    Err,
    MoveProvider,
    Ok,
    ProbeProvider,
    ProviderChanged,
    ProviderStatus,
    Reply,
    Request,
    SetProviderEnabled,
)

GROQ = ProviderStatus(
    name="groq",
    preset="groq",
    model="llama-3.3-70b-versatile",
    state="up",
    requests=40,
    failures=2,
    ttft_p50=0.21,
    ttft_p95=0.88,
    tokens_per_second=512.0,
    input_tokens=12_000,
    output_tokens=3_400,
    spend=0.0123,
    recent_ttft=[0.2, 0.31, 0.25, 0.88, 0.21, 0.19],
)
OPENAI = ProviderStatus(
    name="openai",
    preset="openai",
    model="gpt-4o-mini",
    state="open",
    requests=6,
    failures=5,
    ttft_p50=1.4,
    ttft_p95=3.2,
    spend=None,
    last_error="429 Too Many Requests: rate limit reached for gpt-4o-mini",
    recent_ttft=[1.1, 1.4, 3.2],
)
ANTHROPIC = ProviderStatus(
    name="anthropic",
    preset="anthropic",
    model="claude-3-5-haiku-latest",
    state="misconfigured",
    last_error="no key: set AIRI_ANTHROPIC_API_KEY or secrets.toml [providers] anthropic",
)
OLLAMA = ProviderStatus(
    name="ollama", preset="ollama", model="llama3.2", state="idle", local=True, spend=0.0
)
THREE = [GROQ, OPENAI, ANTHROPIC]
CHAINS = {"reply": ["groq", "openai", "anthropic"], "idle": ["groq"]}


class StandInMesh:
    """Answers SetProviderEnabled, ProbeProvider and MoveProvider for ``agent``'s providers.

    ``probes`` maps a provider to its probe's answer: an ``Ok`` detail, or an ``Err`` message
    when it starts with ``"!"``. Every provider request is kept in ``requests``, in order.
    """

    def __init__(
        self,
        agent: Agent,
        providers: list[ProviderStatus],
        chains: dict[str, list[str]],
        probes: dict[str, str] | None = None,
    ) -> None:
        self.agent = agent
        self.providers = {status.name: status for status in providers}
        self.chains = {role: list(names) for role, names in chains.items()}
        self.probes = probes or {}
        self.requests: list[Request] = []
        self._serve_others = agent.server.handle
        agent.server.handle = self.handle

    def publish_all(self) -> None:
        """Report every provider and the chains, as a mesh does when the agent starts."""
        for status in self.providers.values():
            self.agent.bus.publish(ProviderChanged(status=status))
        self.agent.bus.publish(ChainsChanged(chains=self.chains))

    def change(self, status: ProviderStatus) -> None:
        """A provider's figures changed (a request finished, a breaker opened)."""
        self.providers[status.name] = status
        self.agent.bus.publish(ProviderChanged(status=status))

    async def handle(self, request: Request) -> Reply:
        match request:
            case SetProviderEnabled(name=name, enabled=enabled):
                self.requests.append(request)
                state = "idle" if enabled else "disabled"
                self.change(
                    msgspec.structs.replace(self.providers[name], enabled=enabled, state=state)
                )
                return Ok(id=request.id, detail=f"{name} {'enabled' if enabled else 'disabled'}")
            case ProbeProvider(name=name):
                self.requests.append(request)
                answer = self.probes.get(name, "212 ms")
                if answer.startswith("!"):
                    return Err(id=request.id, code="failed", message=answer[1:])
                return Ok(id=request.id, detail=answer)
            case MoveProvider(name=name, offset=offset):
                self.requests.append(request)
                self._move(name, offset)
                return Ok(id=request.id, detail=f"{name} moved")
        return await self._serve_others(request)

    def _move(self, name: str, offset: int) -> None:
        for names in self.chains.values():
            if name in names:
                index = names.index(name)
                names.insert(max(0, min(len(names) - 1, index + offset)), names.pop(index))
        self.agent.bus.publish(ChainsChanged(chains={r: list(n) for r, n in self.chains.items()}))
