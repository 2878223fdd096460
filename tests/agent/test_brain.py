"""The co-host's voice: what it answers first, when it talks on its own, who writes the
answer in each mode, how it cuts sentences and shows the feelings tagged in them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.director.brain import Brain, BrainStatus, SentenceCutter
from agent.director.inputs import event_input
from agent.director.policy import DirectorPolicy
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


def make(
    script: Script, policy: DirectorPolicy | None = None, **director: object
) -> tuple[Brain, list[m.Event], FakeClock]:
    events: list[m.Event] = []
    config = parse_config({"director": director})
    clock = FakeClock()
    queue = ActionQueue(
        events.append,
        Store(Path("unused")),
        {},
        gates=config.director.approval,
        mode=config.director.mode,
        expressions=config.persona.expressions,
    )
    return Brain(script, queue, config, clock=clock, policy=policy), events, clock


def said(events: list[m.Event]) -> list[str]:
    return [
        e.action.detail for e in events if isinstance(e, m.ActionQueued) and e.action.kind == "say"
    ]


def queued(events: list[m.Event]) -> list[m.Action]:
    return [e.action for e in events if isinstance(e, m.ActionQueued) and e.action.kind == "say"]


def line(text: str, author: str = "v", badges: list[str] | None = None) -> m.ChatMessage:
    return m.ChatMessage(
        id=text, platform="t", author=author, text=text, ts=0.0, badges=badges or []
    )


async def drain(brain: Brain, events: list[m.Event]) -> None:
    """Answer what may be answered now, playing each answer out as a running queue would."""
    for _ in range(20):
        brain._actions.interrupt()  # what was queued has "been said": the AI is free again
        await brain.step()
    brain._actions.interrupt()


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
    await brain.step()
    role, request = script.asked[0]
    assert role == "reply"
    assert request.messages[-1].content == "pixelfox: Airi what game is this?"
    assert request.context["viewer"] == "pixelfox"
    # The others are context, the system prompt (with the persona and the mood) comes first.
    assert request.messages[0].role == "system" and "Airi" in request.messages[0].content
    assert "Your mood right now" in request.messages[0].content
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
    brain._actions.interrupt()  # "Okay." has been said
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
    brain, events, clock = make(script, approval={"chat": "flagged"}, reply_every=1)
    brain.know([line("old", author="regular")])
    for author in ("regular", "newcomer"):
        brain.hear(line(f"hello from {author}?", author=author))
        await brain.step()
        brain._actions.interrupt()  # said (a pending answer is not cleared: it is no AI line yet)
        clock.now += 1
    regular, newcomer = queued(events)
    assert regular.state == "queued" and not regular.flagged
    assert newcomer.state == "pending" and newcomer.flagged == "answers a first-time viewer"


# --- inputs and the show's budget -----------------------------------------------------------------


async def test_a_raid_is_thanked_even_when_chat_is_busy() -> None:
    script = Script("Welcome raiders!")
    brain, events, clock = make(script, reply_every=20, idle_after=0)
    for i in range(30):
        brain.hear(line(f"Airi question {i}?", author=f"viewer{i}"))
    brain.offer(event_input("raid", "bigstreamer", clock.now, amount=80))
    await brain.step()
    _, request = script.asked[0]
    assert request.context["intent"] == "raid" and request.context["viewer"] == "bigstreamer"
    assert "raided the stream with 80 viewers" in request.messages[-1].content
    await drain(brain, events)
    assert [r.context.get("viewer") for _, r in script.asked] == ["bigstreamer", "viewer29"]


async def test_no_new_ai_line_while_one_waits_to_be_said() -> None:
    script = Script("One.")
    brain, events, clock = make(script, reply_every=1, idle_after=30)
    brain.hear(line("first?"))
    await brain.step()
    clock.now += 60
    brain.hear(line("second?"))
    for _ in range(3):
        await brain.step()
    assert said(events) == ["One."]  # "One." has not been said yet: nothing is stacked on it
    assert brain.waiting == 1


async def test_a_raid_preempts_idle_talk_that_waits() -> None:
    script = Script("Hmm, so quiet. ", "Anyway.")
    brain, events, clock = make(script, reply_every=0, idle_after=60)
    clock.now += 61
    await brain.step()
    idle = queued(events)
    assert [a.source for a in idle] == ["ai:idle", "ai:idle"]
    brain.offer(event_input("raid", "friend", clock.now, amount=5))
    rejected = {
        e.action.id
        for e in events
        if isinstance(e, m.ActionUpdated) and e.action.state == "rejected"
    }
    assert rejected == {a.id for a in idle}
    await brain.step()
    assert script.asked[-1][1].context["intent"] == "raid"


async def test_a_sub_budget_of_two_a_minute_thanks_two_of_five() -> None:
    script = Script("Thank you!")
    brain, events, clock = make(script, DirectorPolicy(subs_per_minute=2), idle_after=0)
    for i in range(5):
        brain.offer(event_input("sub", f"sub{i}", clock.now))
    await drain(brain, events)
    thanked = [r.context["viewer"] for _, r in script.asked if r.context["intent"] == "sub"]
    assert thanked == ["sub0", "sub1"] and brain.router.declined == 3
    # The fifth sub of the stream is a milestone all the same.
    assert [r.context["intent"] for _, r in script.asked][-1] == "milestone"


async def test_inputs_that_wait_too_long_expire_and_the_control_room_hears_it() -> None:
    script = Script("Hi.")
    brain, _, clock = make(script, DirectorPolicy(max_wait=30), idle_after=0)
    reports: list[BrainStatus] = []
    brain.on_status = reports.append
    brain.hear(line("first?"))
    await brain.step()  # answered; "Hi." now waits to be said, so the follow waits too
    brain.offer(event_input("follow", "late", clock.now))
    await brain.step()
    assert (brain.waiting, brain.expired) == (1, 0)
    clock.now += 31
    await brain.step()  # still busy: the follow is let go all the same
    assert (brain.waiting, brain.expired) == (0, 1)
    assert reports[-1] == BrainStatus("neutral", 0.0, waiting=0, expired=1)
    brain._actions.interrupt()
    await brain.step()
    assert [r.context.get("viewer") for _, r in script.asked] == ["v"]


# --- modes -------------------------------------------------------------------------------------


async def test_autonomous_mode_never_calls_the_router() -> None:
    script = Script("from the network")
    brain, events, _ = make(script, mode="autonomous", idle_after=0)
    brain.hear(line("Airi, hello!", author="pixelfox"))
    brain.event("follow", "newfan")
    brain.event("voice", "streamer", text="tell chat about the giveaway")
    await drain(brain, events)
    assert script.asked == []
    lines = said(events)
    assert any("pixelfox" in s for s in lines) and any("newfan" in s for s in lines)
    assert "from the network" not in " ".join(lines)


async def test_external_mode_hands_what_the_policy_picked_to_the_external_brain() -> None:
    script = Script("llm")
    brain, events, clock = make(script, DirectorPolicy(subs_per_minute=1), mode="external")
    handed: list[str] = []
    brain.external_connected = lambda: True
    brain.hand_over = lambda item: handed.append(f"{item.kind}:{item.author}") is None
    brain.hear(line("anyone?", author="a"))
    brain.offer(event_input("sub", "s1", clock.now))
    brain.offer(event_input("sub", "s2", clock.now))  # over the budget: the policy still holds
    await drain(brain, events)
    assert handed == ["sub:s1", "chat:a"]
    assert said(events) == [] and script.asked == []


async def test_external_mode_without_a_brain_falls_back_to_the_persona_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    script = Script("llm")
    brain, events, clock = make(script, mode="external", reply_every=1, idle_after=0)
    with caplog.at_level(logging.WARNING, "agent.director.brain"):
        for text in ("one?", "two?"):
            brain.hear(line(text))
            await drain(brain, events)
            clock.now += 1
    assert script.asked == [] and len(said(events)) >= 2
    assert caplog.text.count("no external brain is connected") == 1


# --- feelings ----------------------------------------------------------------------------------


async def test_an_emotion_tag_shows_its_expression_with_its_sentence_and_is_never_said(
    tmp_path: Path,
) -> None:
    script = Script("[happy] Hello", " there! Oh no", " [sad], I lost. Bye! [wink]")
    events: list[m.Event] = []
    config = parse_config({"director": {"idle_after": 0}})
    store = Store(tmp_path / "store.sqlite3")
    await store.open()

    async def perform(action: m.Action) -> None:
        events.append(
            m.CaptionShown(text=action.detail)
            if action.kind == "say"
            else m.ExpressionChanged(name=action.detail, source=action.source)
        )

    table: dict[str, Callable[[m.Action], object]] = {"say": perform, "expression": perform}
    queue = ActionQueue(events.append, store, table, expressions=config.persona.expressions)  # type: ignore[arg-type]
    brain = Brain(script, queue, config, clock=FakeClock())
    ctx = type("Ctx", (), {"up": lambda self, detail="": None})()
    running = asyncio.create_task(queue.run(ctx))  # type: ignore[arg-type]
    try:
        await brain.answer(line("how did it go?"))
        async with asyncio.timeout(5):
            while sum(isinstance(e, m.CaptionShown) for e in events) < 3:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
    finally:
        running.cancel()
        await store.close()
    shown = [
        e.text if isinstance(e, m.CaptionShown) else f"<{e.name}>"
        for e in events
        if isinstance(e, m.CaptionShown | m.ExpressionChanged)
    ]
    # A tag after the last sentence belongs to it.
    assert shown == ["<happy>", "Hello there!", "<sad>", "Oh no, I lost.", "<wink>", "Bye!"]


async def test_a_raid_excites_the_persona_and_its_face_shows_it() -> None:
    script = Script("Welcome!")
    brain, events, clock = make(script, idle_after=0)
    assert brain.mood() == ("neutral", 0.0)
    brain.offer(event_input("raid", "friend", clock.now, amount=50))
    await brain.step()
    name, level = brain.mood()
    assert name == "excited" and level > 0.5
    faces = [
        e.action.detail
        for e in events
        if isinstance(e, m.ActionQueued) and e.action.kind == "expression"
    ]
    assert faces == ["surprised"]  # the default persona shows excitement as surprise
    assert "excited" in script.asked[0][1].messages[0].content
    assert script.asked[0][1].context["emotion"] == "excited"
