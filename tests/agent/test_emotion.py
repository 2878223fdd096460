"""The co-host's mood: what moves it, and that it passes."""

from __future__ import annotations

from agent.director.emotion import EmotionState, tone


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_raid_excites_and_the_excitement_fades_back_to_neutral() -> None:
    clock = FakeClock()
    mood = EmotionState(clock=clock, half_life=60)
    assert mood.current() == ("neutral", 0.0)
    mood.feel("raid")
    name, level = mood.current()
    assert name == "excited" and level > 0.5
    assert "excited" in mood.prompt_line()
    clock.now += 60
    assert mood.current()[0] == "excited" and mood.current()[1] < level
    clock.now += 600
    assert mood.current() == ("neutral", 0.0)


def test_a_long_silence_bores_and_chat_ends_the_boredom() -> None:
    clock = FakeClock()
    mood = EmotionState(clock=clock, bored_after=120)
    mood.quiet(60)
    assert mood.current()[0] == "neutral"
    mood.quiet(400)
    assert mood.current()[0] == "bored"
    mood.hear("hello")
    assert mood.current()[0] == "neutral"


def test_kind_chat_cheers_and_hostile_chat_annoys() -> None:
    mood = EmotionState(clock=FakeClock())
    for _ in range(3):
        mood.hear("you are awesome, love this stream")
    assert mood.current()[0] == "happy"
    for _ in range(6):
        mood.hear("this is boring trash, shut up")
    assert mood.current()[0] == "annoyed"
    assert (tone("gg wp"), tone("you idiot"), tone("what game?")) == ("kind", "hostile", "")
