"""The autonomous persona: answers in its own voice, offline, whatever it is given."""

from __future__ import annotations

import itertools
import random
import time

from hypothesis import given
from hypothesis import strategies as st

from agent.providers.autonomous import LINES, AutonomousProvider, intent_of, time_of_day
from agent.providers.base import ChatRequest, Delta, Finished, Message, complete


def ask(text: str = "", **context: str) -> ChatRequest:
    messages = (Message("system", "You are Airi."), Message("user", text)) if text else ()
    return ChatRequest(messages=messages, context=context)


def evening() -> time.struct_time:
    return time.struct_time((2026, 11, 22, 20, 0, 0, 6, 326, 0))


async def test_a_greeting_greets_the_viewer_by_name_and_streams_word_by_word() -> None:
    persona = AutonomousProvider(rng=random.Random(1), clock=evening)
    items = [item async for item in persona.stream(ask("hey airi!", viewer="pixelfox"))]
    deltas = [i for i in items if isinstance(i, Delta)]
    text = "".join(d.text for d in deltas)
    assert "pixelfox" in text and len(deltas) > 3
    assert any(text == t.format(viewer="pixelfox", game="this game", time_of_day="evening",
                                persona="Airi") for t in LINES["greeting"])  # fmt: skip
    assert items[-1] == Finished("stop", items[-1].usage)  # type: ignore[union-attr]
    assert items[-1].usage.output_tokens == len(deltas)  # type: ignore[union-attr]


async def test_questions_thanks_and_silence_get_lines_of_their_kind() -> None:
    assert intent_of(ask("what game is this?")) == "question"
    assert intent_of(ask("thank you so much")) == "thanks"
    assert intent_of(ask()) == "idle"
    assert intent_of(ask("lol", intent="raid")) == "raid"
    assert intent_of(ask("lol", intent="nonsense")) == "chat"


async def test_a_hostile_name_is_inert_in_the_line() -> None:
    persona = AutonomousProvider(rng=random.Random(2))
    reply = await complete(persona, ask("hi", viewer="\x1b[2Jevil\u202e"))
    assert "\x1b" not in reply.text and "\u202e" not in reply.text and "evil" in reply.text


def test_the_same_line_never_comes_twice_in_a_row() -> None:
    persona = AutonomousProvider(rng=random.Random(3))
    lines = [persona.line(ask("what now?", viewer="v")) for _ in range(200)]
    assert all(a != b for a, b in itertools.pairwise(lines))


def test_time_of_day_follows_the_clock() -> None:
    hours = {h: time_of_day(time.struct_time((2026, 1, 1, h, 0, 0, 0, 1, 0))) for h in range(24)}
    assert hours[8] == "morning" and hours[13] == "afternoon"
    assert hours[20] == "evening" and hours[2] == "night"


@given(
    text=st.text(max_size=80),
    context=st.dictionaries(
        st.sampled_from(["viewer", "game", "intent", "x"]), st.text(max_size=30)
    ),
)
def test_any_input_gets_a_complete_line(text: str, context: dict[str, str]) -> None:
    line = AutonomousProvider(rng=random.Random(0)).line(ask(text, **context))
    assert line.strip()
    for slot in ("{viewer}", "{game}", "{time_of_day}", "{persona}"):
        assert slot not in line or slot in "".join(context.values())
