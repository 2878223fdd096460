"""The external brain over its websocket: inputs out, actions in through the queue and its gate,
one brain at a time, and the fall-back said out loud when it is gone."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from agent.api.external import CLOSE_SLOW, OUTBOX
from agent.director.inputs import Input, chat_input
from agent.protocol import messages as m
from tests.api.conftest import Api

pytestmark = pytest.mark.timeout(60)


async def receive(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (others are skipped)."""
    async with asyncio.timeout(5):
        while True:
            message = json.loads(await ws.receive_str())
            if message["type"] == kind:
                return message  # type: ignore[no-any-return]


def health(api: Api, name: str) -> m.ServiceHealth:
    return next(h for h in api.agent.snapshot().health if h.name == name)


def chat(text: str, author: str = "viewer", *, first_time: bool = False) -> Input:
    """A chat line as the director would hand it over (``Brain`` calls ``offer``)."""
    message = m.ChatMessage(id=f"c-{text}", platform="twitch", author=author, text=text, ts=1.0)
    return chat_input(message, 1.0, persona="Airi", first_time=first_time)


async def test_an_input_goes_out_and_the_brain_s_line_comes_back_through_the_queue(
    api: Api,
) -> None:
    async with api.http.ws_connect(api.url("/v1/external")) as ws:
        welcome = await receive(ws, "welcome")
        assert welcome["protocol"] == 1
        assert "happy" in welcome["expressions"]
        assert api.server.external.connected
        assert health(api, "external").state == "up"

        assert api.server.external.offer(chat("what game is this?"))
        got = await receive(ws, "input")
        assert (got["source"], got["kind"], got["author"], got["text"]) == (
            "chat",
            "chat",
            "viewer",
            "what game is this?",
        )
        assert got["flags"] == ["question"]
        assert "flagged" not in got

        await ws.send_json(
            {"type": "say", "text": "It's Celeste!", "ref": "r1", "reply_to": got["id"]}
        )
        accepted = await receive(ws, "accepted")
        assert accepted["ref"] == "r1"
        said = await api.action(accepted["action_id"], "done")
        assert (said.kind, said.detail, said.source) == ("say", "It's Celeste!", "ai:external")
        assert api.agent.snapshot().caption == "It's Celeste!"
        while (update := await receive(ws, "action"))["action"]["state"] != "done":
            assert update["action"]["id"] == said.id  # the brain hears how its line went
        await ws.send_json({"type": "expression", "name": "happy"})
        shown = await receive(ws, "accepted")
        await api.action(shown["action_id"], "done")
        assert api.agent.snapshot().expression == "happy"


async def test_the_external_gate_holds_the_brain_s_lines_for_an_operator(
    api_for: Callable[..., Any],
) -> None:
    api: Api = await api_for(approval={"external": "flagged"})
    async with api.http.ws_connect(api.url("/v1/external")) as ws:
        api.server.external.offer(chat("hi!", "newcomer", first_time=True))
        got = await receive(ws, "input")
        assert got["flagged"] == "answers a first-time viewer"
        await ws.send_json({"type": "say", "text": "welcome!", "reply_to": got["id"]})
        held = await receive(ws, "accepted")
        await ws.send_json({"type": "say", "text": "and hello everyone"})
        free = await receive(ws, "accepted")
        assert (held["state"], free["state"]) == ("pending", "queued")
        status, _ = await api.call("POST", f"/v1/queue/{held['action_id']}/approve")
        assert status == 200
        await api.action(held["action_id"], "done")


async def test_bad_messages_are_refused_with_the_reason_and_the_brain_stays(api: Api) -> None:
    async with api.http.ws_connect(api.url("/v1/external")) as ws:
        await ws.send_str("{nope")
        assert "not JSON" in (await receive(ws, "refused"))["reason"]
        await ws.send_json({"type": "dance"})
        assert "not an action" in (await receive(ws, "refused"))["reason"]
        await ws.send_json({"type": "expression", "name": "smug", "ref": "e"})
        refused = await receive(ws, "refused")
        assert (refused["ref"], refused["reason"][:26]) == ("e", "unknown expression 'smug' ")
        await ws.send_json({"type": "scene", "name": "BRB"})
        assert (await receive(ws, "refused"))["reason"].startswith("OBS is not connected")
        await ws.send_json({"type": "say", "text": "still here"})
        accepted = await receive(ws, "accepted")
    said = await api.action(accepted["action_id"], "done")
    assert said.detail == "still here"
    assert len(api.agent.state.actions) == 1  # none of the refused ones got in


async def test_a_stopping_agent_tells_the_brain_why(api: Api) -> None:
    async with api.http.ws_connect(api.url("/v1/external")) as ws:
        await receive(ws, "welcome")
        stopping = asyncio.create_task(api.server.close())
        closing = await ws.receive()
        await stopping
        assert (ws.close_code, closing.extra) == (1001, "the agent is stopping")


async def test_one_brain_at_a_time_and_the_fallback_is_said(api: Api) -> None:
    await api.call("PUT", "/v1/mode", {"mode": "external"})
    assert health(api, "external").state == "degraded"
    assert "autonomous persona" in health(api, "external").detail
    async with api.http.ws_connect(api.url("/v1/external")) as first:
        await receive(first, "welcome")
        async with api.http.ws_connect(api.url("/v1/external")) as second:
            closing = await second.receive()
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert second.close_code == 4409
            assert closing.extra == "another external brain is connected"
        assert api.server.external.connected  # the first one is untouched
        assert (await api.call("GET", "/v1/status"))[1]["external_brain"] is True
    async with asyncio.timeout(5):
        while api.server.external.connected:
            await asyncio.sleep(0.02)
    assert not api.server.external.offer(chat("anyone?"))
    assert health(api, "external").state == "degraded"
    logs = [line.message for line in api.agent.snapshot().logs]
    assert any("disconnected: the autonomous persona answers now" in line for line in logs)


async def test_the_websocket_needs_the_token_too(api: Api) -> None:
    async with aiohttp.ClientSession() as anonymous:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await anonymous.ws_connect(api.url("/v1/external"))
    assert refused.value.status == 401
    status, body = await api.call("GET", "/v1/external")
    assert status == 426
    assert "Upgrade" in body["error"]


async def test_a_brain_that_stops_reading_is_let_go_and_may_come_back(api: Api) -> None:
    async with api.http.ws_connect(api.url("/v1/external")) as ws:
        await receive(ws, "welcome")
        for n in range(OUTBOX + 10):  # in one go: the writer gets no turn in between
            api.server.external.offer(chat(f"line {n}"))
        while (frame := await ws.receive()).type == aiohttp.WSMsgType.TEXT:
            pass
        assert (ws.close_code, frame.extra) == (CLOSE_SLOW, "you stopped reading: reconnect")
    async with asyncio.timeout(5):
        while api.server.external.connected:
            await asyncio.sleep(0.02)
    async with api.http.ws_connect(api.url("/v1/external")) as again:
        await receive(again, "welcome")
        assert api.server.external.offer(chat("welcome back"))
        assert (await receive(again, "input"))["text"] == "welcome back"


async def test_in_external_mode_chat_the_director_picks_reaches_the_brain_and_its_answer_is_said(
    api_for: Callable[..., Any],
) -> None:
    api: Api = await api_for(mode="external", reply_every=0.1)
    async with api.http.ws_connect(api.url("/v1/external")) as ws:
        assert (await receive(ws, "welcome"))["mode"] == "external"
        api.agent.receive_chat(
            m.ChatMessage(id="t1", platform="twitch", author="mika", text="airi, hi?", ts=1.0)
        )
        got = await receive(ws, "input")
        assert (got["kind"], got["author"], got["text"]) == ("chat", "mika", "airi, hi?")
        await ws.send_json({"type": "say", "text": "Hi Mika!", "reply_to": got["id"]})
        accepted = await receive(ws, "accepted")
        said = await api.action(accepted["action_id"], "done")
        assert (said.detail, said.source) == ("Hi Mika!", "ai:external")
    # gone: the offline persona answers the next line itself, and the health row says so
    async with asyncio.timeout(5):
        while api.server.external.connected:
            await asyncio.sleep(0.02)
    api.agent.receive_chat(
        m.ChatMessage(id="t2", platform="twitch", author="mika", text="airi, still there?", ts=2.0)
    )
    async with asyncio.timeout(10):
        while not any(a.source == "ai:reply" for a in api.agent.state.actions.values()):
            await asyncio.sleep(0.05)
    assert health(api, "external").state == "degraded"
