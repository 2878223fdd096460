"""The AI's own talk: idle lines after a silence, timed segments, milestones, and its budget."""

from __future__ import annotations

from agent.director.inputs import Input, event_input
from agent.director.persona import Persona, Segment
from agent.director.scheduler import Scheduler


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(*segments: Segment, idle_after: float = 60) -> tuple[Scheduler, list[Input], FakeClock]:
    offered: list[Input] = []
    clock = FakeClock()

    def offer(item: Input) -> bool:
        offered.append(item)
        return True

    persona = Persona(segments=list(segments))
    return Scheduler(persona, offer, idle_after=idle_after, clock=clock), offered, clock


def test_idle_talk_comes_after_a_silence_and_not_again_until_another_one() -> None:
    scheduler, offered, clock = make(idle_after=60)
    clock.now += 59
    assert scheduler.tick(busy=False) is None
    clock.now += 1
    assert scheduler.tick(busy=False) is not None
    clock.now += 30
    assert scheduler.tick(busy=False) is None
    scheduler.activity()  # a viewer talks: the silence starts over
    clock.now += 59
    assert scheduler.tick(busy=False) is None
    assert [i.kind for i in offered] == ["idle"]


def test_nothing_of_its_own_while_the_ai_talks_and_a_due_segment_waits_for_its_turn() -> None:
    scheduler, offered, clock = make(Segment(name="hydrate", every=10), idle_after=0)
    clock.now += 10 * 60
    assert scheduler.tick(busy=True) is None
    clock.now += 45
    item = scheduler.tick(busy=False)
    assert item is not None and (item.kind, item.detail) == ("segment", "hydrate")
    assert scheduler.tick(busy=False) is None  # not twice for one late slot
    clock.now += 10 * 60
    assert scheduler.tick(busy=False) is not None
    assert len(offered) == 2


def test_milestones_are_celebrated_once_when_the_count_reaches_them() -> None:
    scheduler, offered, clock = make(idle_after=0)
    for i in range(12):
        scheduler.count(event_input("follow", f"f{i}", clock.now))
    scheduler.count(event_input("gift", "g", clock.now, amount=5))
    assert [(i.kind, i.text) for i in offered] == [
        ("milestone", "10 new followers this stream"),
        ("milestone", "5 subs this stream"),
    ]
