"""The co-host's voice: which chat line it answers, when it fills silence, how it cuts sentences."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.director.brain import Brain, SentenceCutter
from agent.director.queue import ActionQueue
from agent.protocol import messages as m
from agent.providers.base import ChatRequest, Delta, Finished, StreamItem
from agent.store import Store


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Script:
    """A router stand-in: records what it was asked and answers with scripted deltas."""

    def __init__(self, *deltas: str, reason: str = "stop") -> None:
        self.deltas = deltas
        self.reason = reason
        self.asked: list[tuple[str, ChatRequest]] = []

    async def __call__(self, role: str, request: ChatRequest) -> AsyncIterator[StreamItem]:
        self.asked.append((role, request))
        for text in self.deltas:
            yield Delta(text)
        yield Finished(self.reason)  # type: ignore[arg-type]


def make(script: Script, **director: object) -> tuple[Brain, list[m.Event], FakeClock]:
    events: list[m.Event] = []
    config = parse_config({"director": director})
    clock = FakeClock()
    queue = ActionQueue(events.append, Store(Path("unused")), {}, gates=config.director.approval)
    return Brain(script, queue, config, clock=clock), events, clock


def said(events: list[m.Event]) -> list[str]:
    return [e.action.detail for e in events if isinstance(e, m.ActionQueued)]


def queued(events: list[m.Event]) -> list[m.Action]:
    return [e.action for e in events if isinstance(e, m.ActionQueued)]


def line(text: str, author: str = "v", badges: list[str] | None = None) -> m.ChatMessage:
    return m.ChatMessage(
        id=text, platform="t", author=author, text=text, ts=0.0, badges=badges or []
    )


# --- sentences ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pieces", "expected"),
    [
        (["Hel", "lo there. How", " are you? Fine"], ["Hello there.", "How are you?"]),
        (["Wow!!! ", "Yes."], ["Wow!!!"]),
        (['He said "hi." ', "Then left."], ['He said "hi."']),
        (["3.14 is pi"], []),  # a decimal point is no sentence end
    ],
)
def test_sentences_come_out_as_soon_as_they_are_complete(
    pieces: list[str], expected: list[str]
) -> None:
    cutter = SentenceCutter()
    out = [s for piece in pieces for s in cutter.feed(piece)]
    assert out == expected


def test_the_end_of_an_answer_is_said_even_without_a_full_stop() -> None:
    cutter = SentenceCutter()
    cutter.feed("Done. and one more")
    assert cutter.end() == "and one more"


def test_a_cut_answer_ends_on_a_whole_word_and_an_ellipsis() -> None:
    cutter = SentenceCutter()
    cutter.feed("It was the best of tim")
    assert cutter.end(cut=True) == "It was the best of…"
    cutter.feed("Half")
    assert cutter.end(cut=True) == ""  # one half word is not worth saying


# --- choosing what to answer -------------------------------------------------------------------


async def test_the_line_most_worth_answering_is_answered_not_the_latest() -> None:
    script = Script("Sure thing.")
    brain, events, _ = make(script, reply_every=20, idle_after=0)
    brain.hear(line("lol"))
    brain.hear(line("Airi what game is this?", author="pixelfox"))
    brain.hear(line("W stream"))
    assert brain._candidate is not None
    await brain.answer(brain._candidate[1], brain._candidate[2])
    role, request = script.asked[0]
    assert role == "reply"
    assert request.messages[-1].content == "pixelfox: Airi what game is this?"
    assert request.context["viewer"] == "pixelfox"
    # The others are context, the system prompt comes first.
    assert request.messages[0].role == "system" and "Airi" in request.messages[0].content
    assert "lol" in request.messages[1].content and "W stream" in request.messages[1].content
    assert said(events) == ["Sure thing."]


async def test_at_most_one_answer_per_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.director.brain.TICK", 0.01)
    script = Script("Okay.")
    brain, _, clock = make(script, reply_every=20, idle_after=0)
    ctx = type("Ctx", (), {"up": lambda self, detail="": None})()
    task = asyncio.create_task(brain.run(ctx))  # type: ignore[arg-type]
    brain.hear(line("first?"))
    await asyncio.sleep(0.1)
    brain.hear(line("second?"))
    await asyncio.sleep(0.1)
    assert len(script.asked) == 1  # 20 s have not passed
    clock.now += 20
    await asyncio.sleep(0.1)
    task.cancel()
    assert [r.messages[-1].content for _, r in script.asked] == ["v: first?", "v: second?"]


async def test_quiet_chat_gets_an_idle_line_and_reply_every_zero_never_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("agent.director.brain.TICK", 0.01)
    script = Script("So, chat.")
    brain, events, clock = make(script, reply_every=0, idle_after=60)
    ctx = type("Ctx", (), {"up": lambda self, detail="": None})()
    task = asyncio.create_task(brain.run(ctx))  # type: ignore[arg-type]
    brain.hear(line("hello?"))
    await asyncio.sleep(0.05)
    assert script.asked == []
    clock.now += 61
    await asyncio.sleep(0.05)
    task.cancel()
    assert [role for role, _ in script.asked] == ["idle"]
    assert said(events) == ["So, chat."]


async def test_an_answer_that_needs_approval_waits_whole_not_sentence_by_sentence() -> None:
    script = Script("First part. ", "Second part.")
    brain, events, _ = make(script, approval={"chat": "approve"})
    await brain.answer(line("hi?"))
    [action] = queued(events)
    assert (action.state, action.detail) == ("pending", "First part. Second part.")


async def test_under_a_flagged_gate_only_a_first_time_viewer_waits_for_approval() -> None:
    script = Script("Welcome!")
    brain, events, _ = make(script, approval={"chat": "flagged"}, reply_every=1)
    brain.know([line("old", author="regular")])
    for author in ("regular", "newcomer"):
        brain.hear(line(f"hello from {author}?", author=author))
        assert brain._candidate is not None
        _, message, flag = brain._candidate
        brain._candidate = None
        await brain.answer(message, flag)
    regular, newcomer = queued(events)
    assert regular.state == "queued" and not regular.flagged
    assert newcomer.state == "pending" and newcomer.flagged == "answers a first-time viewer"
