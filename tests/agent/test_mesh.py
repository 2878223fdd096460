"""The provider mesh inside a real agent: what the control room sees when providers answer,
fail, hang, are switched off, probed and reordered.

Each test runs an in-process agent whose providers point at the local LLM peer (the real SDKs
on the wire), and watches it through a real control-socket client, as the TUI does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.daemon import Agent
from agent.protocol import AgentError, Connection, encode
from agent.protocol import messages as m
from agent.secrets import Secrets
from tests.peers.llm_server import Fail, Hang, LLMServer, Reply
from tests.peers.llm_server import Html as Html_

pytestmark = pytest.mark.timeout(60)

KEY = "sk-peer-secret-0123456789"


def chat(text: str, author: str = "viewer", n: int = 0) -> m.ChatMessage:
    return m.ChatMessage(
        id=f"c{n}-{time.monotonic_ns()}", platform="test", author=author, text=text, ts=time.time()
    )


class Room:
    """An agent under test and a client attached to it, collecting every event."""

    def __init__(self, agent: Agent, conn: Connection) -> None:
        self.agent = agent
        self.conn = conn
        self.events: list[m.Event] = []
        self.frames: list[bytes] = []
        self._changed = asyncio.Condition()
        self._pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.conn.events():
            async with self._changed:
                self.events.append(event)
                self.frames.append(encode(event))
                self._changed.notify_all()

    async def wait_for(self, test: Callable[[m.Event], bool], timeout: float = 10.0) -> m.Event:
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for event in self.events:
                    if test(event):
                        return event
                await self._changed.wait()

    async def status(self, name: str, state: str, timeout: float = 10.0) -> m.ProviderStatus:
        event = await self.wait_for(
            lambda e: (
                isinstance(e, m.ProviderChanged)
                and e.status.name == name
                and e.status.state == state
            ),
            timeout,
        )
        assert isinstance(event, m.ProviderChanged)
        return event.status

    async def done(self, provider: str, outcome: str, timeout: float = 10.0) -> m.ProviderRequest:
        event = await self.wait_for(
            lambda e: (
                isinstance(e, m.ProviderRequestDone)
                and e.request.provider == provider
                and e.request.outcome == outcome
            ),
            timeout,
        )
        assert isinstance(event, m.ProviderRequestDone)
        return event.request

    def said(self) -> list[str]:
        return [
            e.action.detail
            for e in self.events
            if isinstance(e, m.ActionQueued) and e.action.kind == "say"
        ]

    async def said_something(self, timeout: float = 10.0) -> str:
        await self.wait_for(
            lambda e: isinstance(e, m.ActionQueued) and e.action.source.startswith("ai:"),
            timeout,
        )
        await asyncio.sleep(0.2)  # the rest of the answer's sentences
        return " ".join(self.said())

    async def close(self) -> None:
        await self.conn.close()
        self._pump.cancel()


@pytest.fixture
async def peer() -> AsyncIterator[LLMServer]:
    async with LLMServer(api_key=KEY, models=("peer-model",)) as server:
        yield server


def peer_config(peer: LLMServer, **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "demo_chat": {"enabled": "off"},
        "director": {"reply_every": 0.05, "idle_after": 0},
        "providers": {"peer": {"preset": "openai", "base_url": peer.url("/v1"), "model": "m"}},
        "router": {"first_token": 2.0, "gap": 2.0, "total": 10.0, "cooldown": 30.0},
    }
    for name, values in sections.items():
        config.setdefault(name, {}).update(values)
    return config


@pytest.fixture
async def room_for(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    rooms: list[Room] = []

    async def make(config: dict[str, Any], secrets: Secrets | None = None) -> Room:
        agent = Agent(
            parse_config(config),
            secrets if secrets is not None else Secrets(providers={"peer": KEY}),
            state_dir=tmp_path / f"state{len(rooms)}",
            socket_path=tmp_path / f"agent{len(rooms)}.sock",
        )
        await agent.start()
        conn = await Connection.open(agent.endpoint, "test")
        room = Room(agent, conn)
        rooms.append(room)
        return room

    yield make
    for room in rooms:
        await room.close()
        await room.agent.stop("test finished")


def no_key_anywhere(room: Room) -> None:
    for frame in room.frames:
        assert KEY.encode() not in frame
    assert KEY.encode() not in encode(room.agent.snapshot())


# --- the snapshot ------------------------------------------------------------------------------


async def test_the_control_room_sees_the_configured_providers_and_chains(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    room = await room_for(peer_config(peer, chains={"reply": ["peer"], "idle": []}))
    snap = room.conn.welcome.snapshot
    names = [p.name for p in snap.providers]
    assert names == ["peer", "autonomous"]
    peer_status = snap.providers[0]
    assert (peer_status.preset, peer_status.model, peer_status.state) == ("openai", "m", "idle")
    assert snap.chains["reply"] == ["peer", "autonomous"]
    assert snap.chains["idle"] == ["peer", "autonomous"]
    llm = next(h for h in snap.health if h.name == "llm")
    assert llm.state == "up" and "peer" in llm.detail
    no_key_anywhere(room)


async def test_a_provider_without_its_key_is_listed_as_misconfigured_and_never_called(
    peer: LLMServer, room_for: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for env in ("AIRI_OPENAI_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(env, raising=False)
    room = await room_for(peer_config(peer), Secrets())
    status = room.conn.welcome.snapshot.providers[0]
    assert status.state == "misconfigured"
    assert "AIRI_OPENAI_API_KEY" in status.last_error
    room.agent.receive_chat(chat("hello Airi?"))
    await room.done("autonomous", "ok")
    assert peer.requests == []


# --- answering -------------------------------------------------------------------------------


async def test_chat_is_answered_by_the_provider_sentence_by_sentence_with_its_figures(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    peer.script(["Hi there", " viewer! ", "Nice to", " see you."])
    room = await room_for(peer_config(peer))
    room.agent.receive_chat(chat("hello Airi, how are you?"))
    done = await room.done("peer", "ok")
    assert done.role == "reply" and done.model == "m"
    assert done.ttft is not None and done.output_tokens == 4 and done.input_tokens > 0
    assert done.cost is None  # "m" is in no price table: unknown, not guessed
    status = await room.status("peer", "up")
    assert status.requests == 1 and status.ttft_p50 is not None and len(status.recent_ttft) == 1
    await room.said_something()
    assert room.said()[:2] == ["Hi there viewer!", "Nice to see you."]
    sent = peer.requests[0].body
    assert sent["messages"][-1]["content"] == "viewer: hello Airi, how are you?"
    assert sent["messages"][0]["role"] == "system"
    no_key_anywhere(room)


async def test_a_configured_price_turns_tokens_into_spend(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    config = peer_config(peer)
    config["providers"]["peer"] |= {"price_input": 1.0, "price_output": 2.0}
    peer.queue(Reply(("Sure.",), input_tokens=1000, output_tokens=500))
    room = await room_for(config)
    room.agent.receive_chat(chat("price check?"))
    done = await room.done("peer", "ok")
    assert done.cost == pytest.approx(1000 * 1.0 / 1e6 + 500 * 2.0 / 1e6)
    status = await room.status("peer", "up")
    assert status.spend == pytest.approx(done.cost)


# --- failures ------------------------------------------------------------------------------------


async def test_a_500_fails_over_to_the_persona_and_the_provider_shows_degraded(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    peer.script(Fail(500))
    room = await room_for(peer_config(peer))
    room.agent.receive_chat(chat("anyone there?"))
    failed = await room.done("peer", "failed_over")
    assert "500" in failed.reason
    await room.done("autonomous", "ok")
    status = await room.status("peer", "degraded")
    assert status.failures == 1 and "500" in status.last_error
    assert await room.said_something()  # the persona spoke: the show went on


async def test_repeated_outages_open_the_breaker_and_the_llm_row_says_so(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    peer.script(Fail(503))
    room = await room_for(peer_config(peer, router={"failure_threshold": 2}))
    for n in range(2):
        room.agent.receive_chat(chat(f"question {n}?", n=n))
        await room.wait_for(
            lambda e, n=n: (
                isinstance(e, m.ProviderRequestDone)
                and e.request.provider == "autonomous"
                and sum(
                    isinstance(x, m.ProviderRequestDone) and x.request.provider == "autonomous"
                    for x in room.events
                )
                > n
            )
        )
    await room.status("peer", "open")
    health = await room.wait_for(
        lambda e: (
            isinstance(e, m.HealthChanged)
            and e.health.name == "llm"
            and e.health.state == "degraded"
        )
    )
    assert isinstance(health, m.HealthChanged) and "peer open" in health.health.detail
    calls = len(peer.requests)
    room.agent.receive_chat(chat("third?", n=3))
    await room.done("peer", "refused_by_breaker")
    assert len(peer.requests) == calls  # an open breaker sends nothing


async def test_a_refused_key_is_a_configuration_problem_not_an_outage(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    room = await room_for(peer_config(peer), Secrets(providers={"peer": "sk-wrong-key-000"}))
    room.agent.receive_chat(chat("hello?"))
    done = await room.done("peer", "misconfigured")
    assert "401" in done.reason
    status = await room.status("peer", "misconfigured")
    assert "401" in status.last_error
    assert len(peer.requests) == 1  # never retried
    assert all(b"sk-wrong-key-000" not in f for f in room.frames)


async def test_a_provider_that_hangs_before_its_first_token_is_left_silently(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    peer.script(Hang())
    room = await room_for(peer_config(peer, router={"first_token": 0.5}))
    room.agent.receive_chat(chat("hello?"))
    failed = await room.done("peer", "failed_over")
    assert "first token" in failed.reason
    await room.done("autonomous", "ok")
    said = await room.said_something()
    assert said and "…" not in said
    peer.release()


async def test_an_answer_cut_mid_sentence_ends_cleanly_and_is_reported(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    peer.queue(Reply(("First sentence here. ", "And then the sec"), end="reset"))
    room = await room_for(peer_config(peer))
    room.agent.receive_chat(chat("tell me a story?"))
    await room.done("peer", "cut")
    await asyncio.sleep(0.3)
    said = room.said()
    assert said[0] == "First sentence here."
    assert said[1] == "And then the…"  # never half a word, and nothing repeated by the persona
    assert not any(
        isinstance(e, m.ProviderRequestDone) and e.request.provider == "autonomous"
        for e in room.events
    )


# --- live control ------------------------------------------------------------------------------


async def test_disabling_a_provider_takes_it_out_of_every_chain_until_enabled(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    room = await room_for(peer_config(peer))
    ok = await room.conn.request(m.SetProviderEnabled(name="peer", enabled=False))
    assert isinstance(ok, m.Ok) and "disabled" in ok.detail
    await room.status("peer", "disabled")
    room.agent.receive_chat(chat("hi?"))
    await room.done("autonomous", "ok")
    assert peer.requests == []
    await room.conn.request(m.SetProviderEnabled(name="peer", enabled=True))
    room.agent.receive_chat(chat("hi again?", n=2))
    await room.done("peer", "ok")


async def test_moving_a_provider_reorders_its_chains_live(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    room = await room_for(peer_config(peer))
    await room.conn.request(m.MoveProvider(name="autonomous", offset=-1, role="reply"))
    changed = await room.wait_for(lambda e: isinstance(e, m.ChainsChanged))
    assert isinstance(changed, m.ChainsChanged)
    assert changed.chains["reply"] == ["autonomous", "peer"]
    assert changed.chains["idle"] == ["peer", "autonomous"]
    room.agent.receive_chat(chat("who answers?"))
    await room.done("autonomous", "ok")
    assert peer.requests == []
    with pytest.raises(AgentError) as refused:
        await room.conn.request(m.MoveProvider(name="nobody", offset=1))
    assert refused.value.code == "bad_request" and "nobody" in str(refused.value)


async def test_a_probe_gives_the_latency_or_the_exact_error_without_the_key(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    room = await room_for(peer_config(peer))
    ok = await room.conn.request(m.ProbeProvider(name="peer"))
    assert isinstance(ok, m.Ok) and ok.detail.startswith("peer answered in ")
    assert peer.requests[-1].path == "/v1/models"
    peer.queue(Fail(401))
    with pytest.raises(AgentError) as failed:
        await room.conn.request(m.ProbeProvider(name="peer"))
    assert failed.value.code == "failed" and "401" in str(failed.value)
    status = await room.status("peer", "misconfigured")
    assert "401" in status.last_error
    no_key_anywhere(room)


async def test_a_key_from_the_services_own_variable_is_masked_in_the_log_stream(
    peer: LLMServer, room_for: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # not in Secrets: the preset's own variable
    room = await room_for(peer_config(peer), Secrets())
    assert room.conn.welcome.snapshot.providers[0].state == "idle"  # the key was found
    logging.getLogger("agent.test").warning("a library quoted its request: key=%s", KEY)
    event = await room.wait_for(
        lambda e: isinstance(e, m.LogRecorded) and "library quoted" in e.line.message
    )
    assert isinstance(event, m.LogRecorded) and KEY not in event.line.message
    assert "********" in event.line.message


# --- airi ctl ----------------------------------------------------------------------------------


async def test_airi_ctl_switches_probes_and_moves_providers(
    peer: LLMServer, room_for: Callable[..., Any], tmp_path: Path
) -> None:
    from tests.protocol.test_client_robustness import ctl

    room = await room_for(peer_config(peer))
    socket = room.agent.socket_path
    code, out, _ = await ctl(tmp_path, socket, "provider", "disable", "peer")
    assert (code, out.strip()) == (0, "peer disabled")
    await room.status("peer", "disabled")
    code, out, _ = await ctl(tmp_path, socket, "provider", "up", "autonomous", "--role", "reply")
    assert code == 0 and room.agent.mesh.chain_names()["reply"] == ["autonomous", "peer"]
    code, out, _ = await ctl(tmp_path, socket, "provider", "probe", "peer")
    assert code == 0 and out.startswith("peer answered in ")
    code, out, err = await ctl(tmp_path, socket, "provider", "probe", "nobody")
    assert code == 1 and "no provider named 'nobody'" in err
    code, _, err = await ctl(tmp_path, socket, "provider", "reboot", "peer")
    assert code == 2 and "enable, disable, probe, up, down" in err
    code, out, _ = await ctl(tmp_path, socket, "status")
    assert "llm peer" in out and "disabled" in out and "chain reply     autonomous > peer" in out


# --- every fault, as the control room sees it -------------------------------------------------

FAULTS = [
    # (what the service does, the peer's outcome, the state the panel shows, words of the reason)
    pytest.param(Hang(), "failed_over", "degraded", "first token", id="hang-before-headers"),
    pytest.param(
        Reply(("Hello there. ", "and then we"), end="hang"), "cut", "degraded", "silent",
        id="hang-after-first-token",
    ),
    pytest.param(Fail(500), "failed_over", "degraded", "500", id="500"),
    pytest.param(Reply(("Hi. ", "and then we"), end="reset"), "cut", "degraded", "",
                 id="reset-mid-stream"),
    pytest.param(Reply((), end="malformed"), "failed_over", "degraded", "malformed",
                 id="malformed-sse"),
    pytest.param(Html_(), "failed_over", "degraded", "HTML", id="wrong-content-type"),
    pytest.param(Fail(401), "misconfigured", "misconfigured", "401", id="401"),
]  # fmt: skip


@pytest.mark.parametrize(("fault", "outcome", "state", "why"), FAULTS)
async def test_each_fault_has_its_documented_outcome_and_shows_over_the_socket(
    peer: LLMServer,
    room_for: Callable[..., Any],
    fault: Any,
    outcome: str,
    state: str,
    why: str,
) -> None:
    peer.script(fault)
    room = await room_for(peer_config(peer, router={"first_token": 0.5, "gap": 0.5}))
    room.agent.receive_chat(chat("hello?"))
    done = await room.done("peer", outcome)
    assert why in done.reason
    status = await room.status("peer", state)
    assert status.failures == 1 and status.requests == 1
    said = await room.said_something()
    if outcome == "cut":  # what was said stays said; the persona does not start over
        assert said.endswith("…") and not any(
            isinstance(e, m.ProviderRequestDone) and e.request.provider == "autonomous"
            for e in room.events
        )
    else:  # failed over before a word: the persona answered instead
        await room.done("autonomous", "ok")
    peer.release()


async def test_a_429_is_retried_after_its_retry_after_and_the_answer_still_comes(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    peer.queue(Fail(429, retry_after=0.2), Reply(("Made it.",)))
    room = await room_for(peer_config(peer))
    room.agent.receive_chat(chat("hello?"))
    done = await room.done("peer", "ok")
    assert done.attempts == 2 and len(peer.requests) == 2
    assert await room.said_something() == "Made it."
    await room.status("peer", "up")


async def test_a_line_cut_for_silence_hangs_up_on_the_provider_at_once(
    peer: LLMServer, room_for: Callable[..., Any]
) -> None:
    peer.queue(Reply(("Hello there. ", "and then we"), end="hang"))
    room = await room_for(peer_config(peer, router={"gap": 0.5}))
    room.agent.receive_chat(chat("hello?"))
    await room.done("peer", "cut")
    # The HTTP response is closed when the line is cut, not left open for the provider to fill.
    assert await peer.requests[0].ended(timeout=5.0) == "client_gone"


async def test_with_no_provider_configured_the_llm_row_says_how_and_spends_nothing(
    room_for: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # set for other tools: not a reason to spend
    room = await room_for({"demo_chat": {"enabled": "off"}}, Secrets())
    snap = room.conn.welcome.snapshot
    assert [p.name for p in snap.providers] == ["autonomous"]
    llm = next(h for h in snap.health if h.name == "llm")
    assert llm.state == "off"
    assert "[providers.openai]: its key is already set" in llm.detail
    no_key_anywhere(room)
