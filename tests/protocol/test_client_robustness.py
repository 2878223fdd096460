"""The client facing agents it cannot read, agents that drop it at once, and silent agents.

A newer agent may send message types this airi does not know. That must end in one clear
sentence (never a traceback, never a reconnect storm); an agent that accepts and drops at once
is retried with growing delays; ``airi ctl`` says in words when the agent hangs up or goes quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import sys
import time
from collections.abc import AsyncGenerator
from pathlib import Path

import msgspec
import pytest

from agent.protocol import (
    Attached,
    Backoff,
    Connection,
    Detached,
    FatalLinkError,
    LinkUpdate,
    encode,
    follow,
)
from agent.protocol import messages as m
from tests.conftest import ROOT, private_env
from tests.protocol.fake_agent import SNAPSHOT, FakeAgent, says, welcome

PAUSED_HEALTH = {
    **msgspec.structs.asdict(SNAPSHOT),
    "health": [{"name": "twitch", "state": "paused"}],  # a state a newer agent might add
}
UNKNOWN_EVENT = encode({"type": "ViewerJoined", "name": "kumo", "seq": 1})
NEXT_STEP = "run the same airi version on both sides"


async def ctl(tmp_path: Path, socket: Path, *args: str) -> tuple[int, str, str]:
    """Run ``airi ctl --socket SOCKET ARGS`` as a real process: exit status, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "agent.cli", "ctl", "--socket", str(socket), *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=private_env(tmp_path),
        cwd=ROOT,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def updates_until_stopped(
    updates: AsyncGenerator[LinkUpdate, None], limit: int = 10
) -> list[LinkUpdate]:
    """What ``follow`` yields until it stops, reading each session's events to their end."""
    seen: list[LinkUpdate] = []
    async with asyncio.timeout(10), contextlib.aclosing(updates):
        async for update in updates:
            seen.append(update)
            if isinstance(update, Attached):
                async for _ in update.connection.events():
                    pass
            assert len(seen) <= limit, f"follow() did not stop: {seen}"
    return seen


# --- a message this airi cannot read ---------------------------------------------------------


async def test_an_unreadable_welcome_is_a_fatal_error_in_one_sentence(tmp_path: Path) -> None:
    async with FakeAgent(tmp_path / "s", says(welcome(PAUSED_HEALTH))) as agent:
        with pytest.raises(FatalLinkError) as raised:
            await Connection.open(agent.endpoint, "t")
    message = str(raised.value)
    assert message.startswith(f"the agent at {agent.endpoint.describe()} sent a message")
    assert "cannot read" in message and "'paused'" in message and message.endswith(NEXT_STEP)


async def test_the_reason_quoted_from_the_wire_is_short_and_inert(tmp_path: Path) -> None:
    hostile = encode({"type": "\x1b]0;pwned\x07\x1b[2J" + "x" * 5000, "seq": 1})
    async with FakeAgent(tmp_path / "s", says(hostile)) as agent:
        with pytest.raises(FatalLinkError) as raised:
            await Connection.open(agent.endpoint, "t")
    message = str(raised.value)
    assert "\x1b" not in message and "\x07" not in message
    # msgspec's reason is cut to 120 characters; the rest is our own sentence.
    assert len(message) < 120 + len(agent.endpoint.describe()) + 100


@pytest.mark.parametrize("command", [["status"], ["say", "hi"], ["events"]])
async def test_ctl_says_one_clear_line_when_the_welcome_is_unreadable(
    tmp_path: Path, command: list[str]
) -> None:
    async with FakeAgent(tmp_path / "s", says(welcome(PAUSED_HEALTH))) as agent:
        code, out, err = await ctl(tmp_path, agent.path, *command)
    assert code == 1 and out == ""
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("airi: the agent at ") and last.endswith(NEXT_STEP), err
    assert agent.sessions == 1  # `ctl events` gave up instead of retrying


async def test_an_unknown_event_mid_session_ends_follow_with_one_fatal_detach(
    tmp_path: Path,
) -> None:
    script = says(welcome(), UNKNOWN_EVENT, then="listen")
    async with FakeAgent(tmp_path / "s", script) as agent:
        updates = follow(agent.endpoint, "t", Backoff(base=0.01, cap=0.02))
        seen = await updates_until_stopped(updates)
        await asyncio.sleep(0.2)  # room for a reconnect that must not come
        assert agent.sessions == 1
    assert [type(update) for update in seen] == [Attached, Detached]
    detached = seen[1]
    assert isinstance(detached, Detached) and detached.fatal
    assert "'ViewerJoined'" in detached.reason and detached.reason.endswith(NEXT_STEP)


async def test_ctl_events_stops_on_an_unknown_event_instead_of_reconnecting(
    tmp_path: Path,
) -> None:
    script = says(welcome(), UNKNOWN_EVENT, then="listen")
    async with FakeAgent(tmp_path / "s", script) as agent:
        code, _, err = await ctl(tmp_path, agent.path, "events")
    assert code == 1 and "Traceback" not in err
    assert err.count("# attached") == 1
    assert err.strip().splitlines()[-1].endswith(NEXT_STEP)
    assert agent.sessions == 1


# --- agents that drop the client ---------------------------------------------------------------


async def test_an_agent_that_accepts_and_drops_at_once_is_retried_with_growing_delays(
    tmp_path: Path,
) -> None:
    base, cap, window = 0.02, 1.28, 1.5
    # What the delays are when the backoff is never reset: the same seed, drawn in order.
    never_reset = Backoff(base=base, cap=cap, rng=random.Random(3))
    expected = [never_reset.next_delay() for _ in range(40)]
    delays: list[float] = []

    async def run(agent: FakeAgent) -> None:
        updates = follow(agent.endpoint, "t", Backoff(base=base, cap=cap, rng=random.Random(3)))
        async for update in updates:
            if isinstance(update, Detached):
                delays.append(update.retry_in)

    async with FakeAgent(tmp_path / "s", says(welcome())) as agent:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(window):
                await run(agent)
    assert len(delays) >= 4
    assert delays == expected[: len(delays)]
    # Each session is followed by at least its delay, so this many fit in the window at most.
    fit = sum(1 for total in itertools.accumulate(expected) if total <= window)
    assert agent.sessions <= fit + 1, f"{agent.sessions} sessions in {window} s"


async def test_a_session_that_lasted_resets_the_backoff(tmp_path: Path) -> None:
    async def stay_a_while(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(welcome())
        await asyncio.sleep(0.15)

    base = 0.01
    rng = random.Random(5)
    reference = random.Random(5)
    async with FakeAgent(tmp_path / "s", stay_a_while) as agent:
        updates = follow(agent.endpoint, "t", Backoff(base=base, cap=10, rng=rng), steady_after=0.1)
        delays: list[float] = []
        async with asyncio.timeout(10):
            async for update in updates:
                if isinstance(update, Attached):
                    async for _ in update.connection.events():
                        pass
                elif len(delays) < 4:
                    delays.append(update.retry_in)
                else:
                    break
        await updates.aclose()
    # Every delay is drawn under the first, shortest ceiling again.
    assert delays == [reference.uniform(0, base) for _ in delays]


# --- `airi ctl` when the agent hangs up or goes quiet ----------------------------------------


async def test_ctl_say_explains_an_agent_that_hangs_up_mid_request(tmp_path: Path) -> None:
    async with FakeAgent(tmp_path / "s", says(welcome(), then="hang up on a request")) as agent:
        code, out, err = await ctl(tmp_path, agent.path, "say", "hello")
    assert code == 1 and out == ""
    assert "Traceback" not in err
    assert err.startswith(f"airi: the agent at {agent.endpoint.describe()} went away before")
    assert "may or may not have been carried out" in err


async def test_ctl_expression_gives_up_on_a_silent_agent_after_its_timeout(
    tmp_path: Path,
) -> None:
    async with FakeAgent(tmp_path / "s", says(welcome(), then="listen")) as agent:
        started = time.monotonic()
        code, out, err = await ctl(tmp_path, agent.path, "--timeout", "0.5", "expression", "happy")
        took = time.monotonic() - started
    assert code == 1 and out == ""
    assert "Traceback" not in err
    assert "did not answer within 0.5 s" in err and "--timeout" in err
    assert took < 8  # not the default 10 s


async def test_ctl_status_shows_an_unknown_uptime_for_a_nonsense_start_time(
    tmp_path: Path,
) -> None:
    snapshot = m.Snapshot(
        agent_name="fake", agent_version="9", pid=1, started_at=float("nan"), mode="x", seq=0
    )
    async with FakeAgent(tmp_path / "s", says(welcome(snapshot))) as agent:
        code, out, err = await ctl(tmp_path, agent.path, "status")
    assert code == 0, err
    assert "up ?" in out
