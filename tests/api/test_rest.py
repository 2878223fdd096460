"""The REST API as a Stream Deck button or a script meets it, against a real in-process agent."""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from agent.api.config import RestSection
from agent.api.rest import RestServer
from agent.protocol import messages as m
from tests.api.conftest import Api

pytestmark = pytest.mark.timeout(60)


# --- the token ---------------------------------------------------------------------------------


async def test_requests_without_the_right_token_are_refused_and_the_token_is_never_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as anonymous:
        for headers in (
            {},
            {"Authorization": "Bearer not-the-token"},
            {"Authorization": f"Basic {api.token}"},
            {"Authorization": f"Bearer {api.token}x"},
        ):
            async with anonymous.post(
                api.url("/v1/say"), json={"text": "hi"}, headers=headers
            ) as response:
                assert response.status == 401
                assert "Bearer" in (await response.json())["error"]
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.agent.snapshot().queue == []  # nothing got through
    status, body = await api.call("GET", "/v1/status")
    assert status == 200
    assert body["agent_name"] == "airi"
    assert api.token not in caplog.text


async def test_the_token_lives_in_a_private_file_in_the_state_dir(api: Api) -> None:
    path = api.server.token_path
    assert path.parent == api.agent.state_dir
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(api.token) >= 16


async def test_unknown_routes_and_methods_answer_json(api: Api) -> None:
    status, body = await api.call("GET", "/v1/nothing-here")
    assert status == 404
    assert "no such endpoint" in body["error"]
    status, body = await api.call("DELETE", "/v1/say")
    assert status == 405
    assert "DELETE" in body["error"]


# --- saying and showing -------------------------------------------------------------------------


async def test_say_puts_the_line_in_the_agent_queue(api: Api) -> None:
    status, body = await api.call("POST", "/v1/say", {"text": "hello from the deck"})
    assert status == 202
    said = await api.action(body["action_id"], "done")
    assert (said.kind, said.detail, said.source) == ("say", "hello from the deck", "control")
    assert api.agent.snapshot().caption == "hello from the deck"


async def test_bad_bodies_get_a_4xx_with_the_reason(api: Api) -> None:
    cases: list[tuple[Any, str]] = [
        ({}, "text"),
        ({"text": 5}, "Expected `str`"),
        ({"text": "hi", "voice": "loud"}, "unknown field `voice`"),
        ({"text": ""}, "length"),
        ({"text": "x" * 501}, "length"),
        ({"text": "   "}, "empty"),
    ]
    for body, reason in cases:
        status, answer = await api.call("POST", "/v1/say", body)
        assert status == 400, body
        assert reason in answer["error"], (body, answer)
    async with api.http.post(api.url("/v1/say"), data=b"{not json") as response:
        assert response.status == 400
        assert "not JSON" in (await response.json())["error"]
    async with api.http.post(api.url("/v1/say"), data=b"x" * 20000) as response:
        assert response.status == 413
        assert "16384 bytes" in (await response.json())["error"]
    assert api.agent.snapshot().queue == []


async def test_expression_shows_on_the_avatar_and_an_unknown_one_is_refused(api: Api) -> None:
    status, body = await api.call("POST", "/v1/expression", {"name": "happy"})
    assert status == 202
    await api.action(body["action_id"], "done")
    assert api.agent.snapshot().expression == "happy"
    status, body = await api.call("POST", "/v1/expression", {"name": "smug"})
    assert status == 400
    assert "unknown expression 'smug'" in body["error"]
    assert "happy" in body["error"]  # the known ones are listed


async def test_scene_and_motion_say_what_is_missing_until_the_stage_exists(api: Api) -> None:
    status, body = await api.call("POST", "/v1/scene", {"name": "BRB"})
    assert (status, body["error"].split(":")[0]) == (503, "OBS is not connected")
    status, body = await api.call("POST", "/v1/motion", {"name": "wave"})
    assert status == 503
    assert "avatar" in body["error"]
    assert api.agent.snapshot().queue == []


async def test_generate_has_the_persona_answer_through_the_reply_chain(api: Api) -> None:
    before = set(api.agent.state.actions)
    status, body = await api.call("POST", "/v1/generate", {"prompt": "say hi to the raid"})
    assert (status, body["detail"]) == (202, "the persona answers it next, in the current mode")
    async with asyncio.timeout(10):
        while not [
            a
            for a in api.agent.state.actions.values()
            if a.id not in before and a.source == "ai:rest" and a.kind == "say"
        ]:
            await asyncio.sleep(0.05)
    status, body = await api.call("POST", "/v1/generate", {"prompt": " \t "})
    assert (status, body["error"]) == (400, "nothing to answer: the prompt is empty")


# --- the queue ----------------------------------------------------------------------------------


async def test_an_operator_approves_over_rest_what_the_gate_holds(
    api_for: Callable[..., Any],
) -> None:
    api: Api = await api_for(approval={"control": "approve"})
    _, body = await api.call("POST", "/v1/say", {"text": "hello chat"})
    action_id = body["action_id"]
    status, listing = await api.call("GET", "/v1/queue")
    assert status == 200
    assert [(a["id"], a["state"]) for a in listing["actions"]] == [(action_id, "pending")]
    await asyncio.sleep(0.1)
    assert api.agent.snapshot().caption == ""  # nothing said without a human's yes
    status, body = await api.call("POST", f"/v1/queue/{action_id}/approve")
    assert (status, body["detail"]) == (200, f"approved {action_id}")
    await api.action(action_id, "done")
    status, body = await api.call("POST", f"/v1/queue/{action_id}/approve")
    assert status == 404  # it is gone from the queue: it ran
    assert action_id in body["error"]


async def test_reject_edit_and_move_change_the_waiting_lines(api_for: Callable[..., Any]) -> None:
    api: Api = await api_for(approval={"control": "approve"})
    ids = [(await api.call("POST", "/v1/say", {"text": t}))[1]["action_id"] for t in "abc"]
    status, _ = await api.call("PATCH", f"/v1/queue/{ids[1]}", {"text": "B, edited"})
    assert status == 200
    status, _ = await api.call("POST", f"/v1/queue/{ids[2]}/move", {"offset": -2})
    assert status == 200
    status, _ = await api.call("POST", f"/v1/queue/{ids[0]}/reject")
    assert status == 200
    waiting = [(a.id, a.detail) for a in api.agent.snapshot().queue]
    assert waiting == [(ids[2], "c"), (ids[1], "B, edited")]
    status, body = await api.call("PATCH", f"/v1/queue/{ids[1]}", {"text": "  "})
    assert (status, body["error"]) == (400, "the new text is empty")
    status, body = await api.call("POST", f"/v1/queue/{ids[2]}/move", {"offset": -1})
    assert status == 409
    assert "already at that end" in body["error"]
    status, _ = await api.call("POST", f"/v1/queue/{ids[0]}/reject")
    assert status == 404


async def test_skip_stops_the_running_line_and_the_kill_switch_clears_ai_lines(
    api_for: Callable[..., Any],
) -> None:
    api: Api = await api_for(approval={"chat": "approve"})
    _, body = await api.call("POST", "/v1/say", {"text": "a long line " * 30})
    running = body["action_id"]
    await api.action(running, "running")
    ai_line = api.agent.queue.say("an answer nobody approved yet", "ai:reply")
    status, body = await api.call("POST", f"/v1/queue/{ai_line.id}/skip")
    assert status == 409
    assert "not running" in body["error"]
    status, body = await api.call("POST", f"/v1/queue/{running}/skip")
    assert (status, body["detail"]) == (200, f"skipped {running}")
    await api.action(running, "interrupted")
    status, body = await api.call("POST", "/v1/queue/interrupt")
    assert status == 200
    assert body["detail"].startswith("kill switch: 1")
    await api.action(ai_line.id, "skipped")
    status, body = await api.call("POST", "/v1/queue/skip")
    assert (status, body["detail"]) == (200, "nothing was running")


# --- mode and status ----------------------------------------------------------------------------


async def test_mode_is_read_and_switched_live(api: Api) -> None:
    assert await api.call("GET", "/v1/mode") == (200, {"mode": "llm"})
    assert await api.call("PUT", "/v1/mode", {"mode": "autonomous"}) == (
        200,
        {"mode": "autonomous"},
    )
    assert api.agent.snapshot().director.mode == "autonomous"
    status, body = await api.call("PUT", "/v1/mode", {"mode": "telepathy"})
    assert status == 400
    assert "the modes: llm, autonomous, external" in body["error"]
    assert api.agent.snapshot().director.mode == "autonomous"


async def test_status_is_a_subset_of_the_snapshot_without_chat_logs_or_secrets(
    api: Api,
) -> None:
    api.agent.receive_chat(m.ChatMessage("1", "demo", "viewer", "my secret plan", 1.0))
    status, body = await api.call("GET", "/v1/status")
    assert status == 200
    assert body["mode"] == "llm"
    assert body["external_brain"] is False
    names = {h["name"]: h["state"] for h in body["health"]}
    assert names["rest"] == "up"
    assert names["queue"] in ("starting", "up")
    text = str(body)
    assert "my secret plan" not in text
    assert api.token not in text
    assert "chat" not in body
    assert "logs" not in body


# --- the OpenAPI document -----------------------------------------------------------------------


async def test_the_openapi_document_describes_every_route_with_generated_schemas(
    api: Api,
) -> None:
    status, doc = await api.call("GET", "/v1/openapi.json")
    assert status == 200
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": api.server.url}]
    assert set(doc["paths"]) >= {
        "/v1/say",
        "/v1/generate",
        "/v1/expression",
        "/v1/motion",
        "/v1/scene",
        "/v1/queue",
        "/v1/queue/{action_id}",
        "/v1/queue/{action_id}/approve",
        "/v1/queue/{action_id}/reject",
        "/v1/queue/{action_id}/skip",
        "/v1/queue/interrupt",
        "/v1/mode",
        "/v1/status",
        "/v1/external",
    }
    say = doc["components"]["schemas"]["SayBody"]
    assert say["properties"]["text"]["maxLength"] == 500
    assert say["required"] == ["text"]
    assert doc["paths"]["/v1/say"]["post"]["responses"]["401"]


async def test_a_busy_port_keeps_the_agent_running_and_says_what_to_set(
    api_for: Callable[..., Any],
) -> None:
    first: Api = await api_for()
    second: Api = await api_for()
    busy = RestServer(second.agent, RestSection(enabled=True, port=first.server.port))
    await busy.start()
    row = next(h for h in second.agent.snapshot().health if h.name == "rest")
    assert row.state == "down"
    assert f"cannot listen on 127.0.0.1:{first.server.port}" in row.detail
    assert "set [rest] port" in row.detail
    await busy.close()
    assert (await second.call("GET", "/v1/status"))[0] == 200  # its own server is untouched
