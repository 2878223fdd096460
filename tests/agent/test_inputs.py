"""Input routing: what the AI answers first, what it lets go, and what expires visibly."""

from __future__ import annotations

import logging

import pytest

from agent.director.inputs import InputRouter, chat_input, event_input
from agent.director.policy import DirectorPolicy
from agent.protocol.messages import ChatMessage


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(chat_every: float = 20, **policy: object) -> tuple[InputRouter, FakeClock]:
    clock = FakeClock()
    policy_ = DirectorPolicy(**policy)  # type: ignore[arg-type]
    return InputRouter(policy_, chat_every=chat_every, clock=clock), clock


def chat(router: InputRouter, clock: FakeClock, text: str, author: str = "v", *badges: str) -> None:
    message = ChatMessage(
        id=text, platform="t", author=author, text=text, ts=0.0, badges=list(badges)
    )
    router.offer(chat_input(message, clock.now, persona="Airi", first_time=False))


def drain(router: InputRouter) -> list[str]:
    out = []
    while (item := router.next()) is not None:
        out.append(f"{item.kind}:{item.author}")
    return out


def test_a_raid_is_thanked_first_even_when_chat_is_busy() -> None:
    router, clock = make(chat_every=20)
    for i in range(50):
        chat(router, clock, f"Airi what about {i}?", author=f"viewer{i}")
    router.offer(event_input("raid", "bigstreamer", clock.now, amount=120))
    assert drain(router) == ["raid:bigstreamer", "chat:viewer49"]


def test_chat_is_sampled_at_most_one_line_per_interval_but_mods_are_always_answered() -> None:
    router, clock = make(chat_every=20)
    chat(router, clock, "what game?", author="a")
    assert drain(router) == ["chat:a"]
    chat(router, clock, "and now?", author="b")
    chat(router, clock, "mods, is this allowed?", "mod1", "moderator")
    assert drain(router) == ["chat:mod1"]  # b waits: 20 s have not passed
    clock.now += 20
    assert drain(router) == ["chat:b"]


def test_the_line_most_worth_answering_waits_not_the_latest() -> None:
    router, clock = make()
    chat(router, clock, "Airi, what is this game?", author="pixelfox")
    chat(router, clock, "lol", author="other")
    assert drain(router) == ["chat:pixelfox"]


def test_a_sub_budget_of_two_per_minute_thanks_two_of_five() -> None:
    router, clock = make(subs_per_minute=2)
    for i in range(5):
        router.offer(event_input("sub", f"sub{i}", clock.now))
        clock.now += 1
    assert drain(router) == ["sub:sub0", "sub:sub1"]
    assert router.declined == 3
    clock.now += 60  # a new minute: the budget is back
    router.offer(event_input("gift", "generous", clock.now, amount=5))
    assert drain(router) == ["gift:generous"]


def test_inputs_that_wait_too_long_expire_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    router, clock = make(max_wait=30, max_wait_chat=10, chat_every=20)
    chat(router, clock, "first?", author="a")
    assert drain(router) == ["chat:a"]
    chat(router, clock, "anyone?", author="b")
    router.offer(event_input("follow", "f", clock.now))
    assert router.waiting == 2
    clock.now += 31
    with caplog.at_level(logging.INFO, "agent.director.inputs"):
        assert drain(router) == []
    assert (router.waiting, router.expired) == (0, 2)
    assert "follow from f expired unanswered after 31 s" in caplog.text


def test_no_raid_thanks_when_the_policy_says_so_and_chat_every_zero_answers_no_chat() -> None:
    router, clock = make(thank_raids=False, chat_every=0)
    router.offer(event_input("raid", "r", clock.now))
    chat(router, clock, "Airi?", author="v")
    assert drain(router) == [] and router.declined == 1
