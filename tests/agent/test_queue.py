"""The action queue as an operator meets it: approvals, edits, order, skip, the kill switch,
dry run, and a queue that survives the agent being SIGKILLed again and again."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import parse_config
from agent.daemon import Agent
from agent.protocol import AgentError, Connection
from agent.protocol import messages as m
from tests.conftest import AgentProcess

pytestmark = pytest.mark.timeout(120)


class Operator:
    """A control-room client: sends requests and keeps every event it sees."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.events: list[m.Event] = []
        self._changed = asyncio.Condition()
        self._pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.conn.events():
            async with self._changed:
                self.events.append(event)
                self._changed.notify_all()

    async def ask(self, request: m.Request) -> str:
        reply = await self.conn.request(request)
        assert isinstance(reply, m.Ok)
        return reply.detail

    async def state(self, action_id: str, state: str, timeout: float = 10.0) -> m.Action:
        def found() -> m.Action | None:
            for event in self.events:
                if (
                    isinstance(event, m.ActionQueued | m.ActionUpdated)
                    and event.action.id == action_id
                    and event.action.state == state
                ):
                    return event.action
            return None

        async with asyncio.timeout(timeout), self._changed:
            while (action := found()) is None:
                await self._changed.wait()
        return action

    async def first(self, kind: type, timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout), self._changed:
            while not (found := [e for e in self.events if isinstance(e, kind)]):
                await self._changed.wait()
        return found[-1]

    def captions(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, m.CaptionShown)]

    async def close(self) -> None:
        await self.conn.close()
        self._pump.cancel()


@pytest.fixture
async def operator_for(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[tuple[Agent, Operator]] = []

    async def make(**director: Any) -> tuple[Agent, Operator]:
        config = {
            "demo_chat": {"enabled": "off"},
            "director": {"reply_every": 0, "idle_after": 0, **director},
        }
        agent = Agent(
            parse_config(config),
            state_dir=tmp_path / "state",
            socket_path=tmp_path / f"a{len(made)}.sock",
        )
        await agent.start()
        operator = Operator(await Connection.open(agent.endpoint, "operator"))
        made.append((agent, operator))
        return agent, operator

    yield make
    for agent, operator in made:
        await operator.close()
        await agent.stop("test finished")


async def say(operator: Operator, text: str) -> str:
    return await operator.ask(m.Say(text=text))


# --- approval ----------------------------------------------------------------------------------


async def test_under_an_approve_gate_a_line_waits_until_approved(
    operator_for: Callable[..., Any],
) -> None:
    agent, op = await operator_for(approval={"control": "approve"})
    action_id = await say(op, "hello chat")
    pending = await op.state(action_id, "pending")
    assert pending.kind == "say"
    await asyncio.sleep(0.2)
    assert op.captions() == []  # nothing said without a human's yes
    assert [a.id for a in agent.snapshot().queue] == [action_id]
    assert "approved" in await op.ask(m.ApproveAction(action_id=action_id))
    await op.state(action_id, "running")
    assert op.captions() == ["hello chat"]


async def test_a_rejected_line_is_never_said_and_an_edited_one_is_said_as_edited(
    operator_for: Callable[..., Any],
) -> None:
    _, op = await operator_for(approval={"control": "approve"})
    bad = await say(op, "something rude")
    good = await say(op, "helo chat")
    await op.ask(m.RejectAction(action_id=bad))
    await op.state(bad, "rejected")
    await op.ask(m.EditAction(action_id=good, text="hello chat [b]![/b]"))
    edited = await op.state(good, "pending")
    await op.ask(m.ApproveAction(action_id=good))
    await op.state(good, "done")
    assert op.captions()[-1] == "hello chat [b]![/b]"  # as typed, never as markup
    assert edited.id == good
    assert "something rude" not in op.captions()


async def test_approval_gates_change_live_and_are_shown_to_every_client(
    operator_for: Callable[..., Any],
) -> None:
    agent, op = await operator_for()
    await op.ask(m.SetApproval(source="control", gate="approve"))
    changed = await op.first(m.DirectorChanged)
    assert changed.status.approval == {"control": "approve"}
    assert agent.snapshot().director.approval == {"control": "approve"}
    action_id = await say(op, "wait for me")
    await op.state(action_id, "pending")


async def test_operator_requests_on_unknown_or_running_actions_get_clear_errors(
    operator_for: Callable[..., Any],
) -> None:
    _, op = await operator_for()
    with pytest.raises(AgentError, match="no waiting or running action 'nope'"):
        await op.ask(m.ApproveAction(action_id="nope"))
    running = await say(op, "a long line that is being said right now")
    await op.state(running, "running")
    with pytest.raises(AgentError, match="running: skip it instead"):
        await op.ask(m.EditAction(action_id=running, text="too late"))


# --- order, skip and the kill switch -----------------------------------------------------------


async def test_moving_a_waiting_line_changes_what_is_said_next(
    operator_for: Callable[..., Any],
) -> None:
    agent, op = await operator_for()
    first = await say(op, "first")
    await op.state(first, "running")
    second, third = await say(op, "second"), await say(op, "third")
    await op.ask(m.MoveAction(action_id=third, offset=-1))
    assert [a.detail for a in agent.snapshot().queue] == ["first", "third", "second"]
    await op.ask(m.SkipCurrent())
    await op.state(first, "interrupted")
    await op.state(third, "running")
    assert op.captions()[:2] == ["first", "third"]
    assert second in [a.id for a in agent.snapshot().queue]


async def test_the_kill_switch_stops_the_line_and_clears_only_the_ai_actions(
    operator_for: Callable[..., Any],
) -> None:
    agent, op = await operator_for()
    talking = agent.queue.say("the AI is talking", "ai:reply")
    await op.state(talking.id, "running")
    ai_waiting = [agent.queue.say(f"more AI {n}", "ai:reply") for n in range(3)]
    mine = await say(op, "the streamer's own line")
    detail = await op.ask(m.Interrupt())
    assert "4 actions" in detail
    await op.state(talking.id, "interrupted")
    for action in ai_waiting:
        await op.state(action.id, "skipped")
    await op.state(mine, "running")  # the operator's line survives the kill switch


async def test_expressions_do_not_wait_behind_a_line(operator_for: Callable[..., Any]) -> None:
    agent, op = await operator_for()
    line = await say(op, "a long line " * 5)
    await op.state(line, "running")
    face = await op.ask(m.TriggerExpression(name="happy"))
    await op.state(face, "done")
    assert agent.snapshot().expression == "happy"
    assert [a.id for a in agent.snapshot().queue] == [line]  # still talking


async def test_dry_run_goes_through_the_queue_but_nothing_leaves_the_box(
    operator_for: Callable[..., Any],
) -> None:
    _, op = await operator_for()
    await op.ask(m.SetDryRun(enabled=True))
    action_id = await say(op, "not really")
    await op.state(action_id, "done")
    assert op.captions() == []


async def test_switching_mode_is_live_and_keeps_the_queue(operator_for: Callable[..., Any]) -> None:
    agent, op = await operator_for(approval={"control": "approve"})
    waiting = await say(op, "keep me")
    await op.ask(m.SetMode(mode="autonomous"))
    snapshot = agent.snapshot()
    assert snapshot.mode == "autonomous" and snapshot.director.mode == "autonomous"
    assert [a.id for a in snapshot.queue] == [waiting]


# --- crash safety --------------------------------------------------------------------------------


def stored_states(store: Path) -> dict[str, str]:
    with sqlite3.connect(store) as db:
        return dict(db.execute("SELECT action_id, state FROM action_log"))


async def test_sigkill_at_any_moment_loses_no_approved_action_and_runs_none_twice(
    agent_process: AgentProcess,
) -> None:
    """Five times: queue lines, kill -9 at a random moment. Then let the queue drain."""
    rng = random.Random(7)
    acknowledged: list[str] = []
    seen_done: set[str] = set()
    ran_after_done: list[str] = []
    started: list[str] = []

    async def watch(conn: Connection) -> None:
        async for event in conn.events():
            if isinstance(event, m.ActionUpdated):
                action = event.action
                if action.state == "running":
                    if action.id in seen_done:
                        ran_after_done.append(action.id)
                    started.append(action.id)
                elif action.state == "done":
                    seen_done.add(action.id)

    for round_ in range(5):
        agent_process.start()
        conn = await Connection.open(agent_process.endpoint, "t")
        restored = [a.id for a in conn.welcome.snapshot.queue]
        waiting = [i for i in acknowledged if i not in seen_done]
        # Every acknowledged line not seen done is back, in the order it was acknowledged.
        assert [i for i in restored if i in waiting] == [
            i for i in waiting if stored_states(agent_process.store_path)[i] != "done"
        ]
        watcher = asyncio.create_task(watch(conn))
        for n in range(3):
            reply = await conn.request(m.Say(text=f"round {round_} line {n}"))
            acknowledged.append(reply.detail)  # type: ignore[union-attr]
        await asyncio.sleep(rng.uniform(0.2, 2.5))
        agent_process.signal(signal.SIGKILL)
        watcher.cancel()

    agent_process.start()
    conn = await Connection.open(agent_process.endpoint, "t")
    watcher = asyncio.create_task(watch(conn))
    async with asyncio.timeout(90):
        while not all(
            stored_states(agent_process.store_path).get(i) == "done" for i in acknowledged
        ):
            await asyncio.sleep(0.2)
    watcher.cancel()
    await conn.close()
    assert ran_after_done == []  # nothing seen finished ever started again
    first_starts = list(dict.fromkeys(started))
    assert first_starts == [i for i in acknowledged if i in first_starts]  # in order


# --- airi ctl ----------------------------------------------------------------------------------


async def test_airi_ctl_runs_the_queue_from_a_shell(
    operator_for: Callable[..., Any], tmp_path: Path
) -> None:
    from tests.protocol.test_client_robustness import ctl

    agent, op = await operator_for(approval={"control": "approve"})
    socket = agent.socket_path
    first = await say(op, "first [b]line[/b]")
    second = await say(op, "second line")
    code, out, _ = await ctl(tmp_path, socket, "queue")
    assert code == 0 and "mode llm; approval: control approve" in out
    assert f"{first}  pending  say" in out and "first [b]line[/b]" in out
    code, out, _ = await ctl(tmp_path, socket, "edit", second, "second, edited")
    assert code == 0
    code, out, _ = await ctl(tmp_path, socket, "approve", second)
    assert (code, out.strip()) == (0, f"approved {second}")
    await op.state(second, "running")
    assert op.captions() == ["second, edited"]
    code, out, _ = await ctl(tmp_path, socket, "reject", first)
    assert code == 0 and agent.snapshot().queue[0].id == second
    code, _, err = await ctl(tmp_path, socket, "approve", "nope")
    assert code == 1 and "no waiting or running action 'nope'" in err
    code, out, _ = await ctl(tmp_path, socket, "stop")
    assert code == 0 and "kill switch" in out
    await op.state(second, "interrupted")
    code, out, _ = await ctl(tmp_path, socket, "mode", "autonomous")
    assert code == 0 and agent.snapshot().mode == "autonomous"
    code, _, err = await ctl(tmp_path, socket, "mode", "telepathy")
    assert code == 2 and "llm, autonomous, external" in err
    code, out, _ = await ctl(tmp_path, socket, "dry-run", "on")
    assert code == 0 and agent.snapshot().director.dry_run
    code, out, _ = await ctl(tmp_path, socket, "approval", "chat", "flagged")
    assert code == 0 and agent.snapshot().director.approval["chat"] == "flagged"
