"""The persona file: what it changes about the co-host, and how a broken one is reported."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agent.config import DEFAULT_EXPRESSIONS, ConfigError
from agent.director.persona import load_persona
from agent.providers.autonomous import AutonomousProvider
from agent.providers.base import ChatRequest, Message


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "persona.toml"
    path.write_text(text)
    return path


def test_without_a_file_the_embedded_persona_speaks_under_the_configured_name() -> None:
    persona = load_persona(None, name="Mika", expressions=DEFAULT_EXPRESSIONS)
    prompt = persona.system_prompt("Talk about cats.")
    assert prompt.startswith("You are Mika,") and prompt.endswith("\nTalk about cats.")
    assert "[happy]" in prompt and persona.expression_for("excited") == "surprised"
    assert persona.greetings["raid"] and persona.topics


def test_a_persona_file_shapes_the_prompt_and_the_offline_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name = "Nova"
description = "A grumpy space cat."
style = "Dry and short."
rules = ["Never say meow."]
topics = ["black holes"]
[emotions]
happy = "wink"
[greetings]
follow = ["{viewer} joined the crew. Acceptable."]
[[segments]]
name = "fact"
every = 10
lines = ["Space fact: it is big."]
""",
    )
    persona = load_persona(path, expressions=DEFAULT_EXPRESSIONS)
    prompt = persona.system_prompt()
    assert "You are Nova" in prompt and "grumpy space cat" in prompt
    assert "Dry and short." in prompt and "Rule: Never say meow." in prompt
    assert persona.expression_for("happy") == "wink"
    assert persona.expression_for("bored") == "sleepy"  # left out: the default's
    assert persona.greetings["raid"]  # the file gave follows only: the rest stay
    autonomous = AutonomousProvider(rng=random.Random(0))
    autonomous.shape(persona.name, lines=persona.autonomous_lines(), topics=persona.topics)

    def say(**context: str) -> str:
        return autonomous.line(ChatRequest(messages=(Message("user", "x"),), context=context))

    assert say(intent="follow", viewer="pixelfox") == "pixelfox joined the crew. Acceptable."
    assert say(intent="segment:fact") == "Space fact: it is big."
    idle = {say(intent="idle") for _ in range(40)}
    assert "So, chat, let's talk about black holes. What do you think?" in idle
    assert not any("{" in line for line in idle)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules = 'be nice'", "persona.toml: rules: Expected `array`, got `str`"),
        ("nmae = 'x'", "persona.toml: nmae: unknown key (known here:"),
        ("[voice]\nrate = 0", "persona.toml: voice.rate: Expected `float` > 0.0"),
        ("[emotions]\nhappy = 'grin'", "persona.toml: emotions.happy: 'grin' is not in"),
        ("[emotions]\njoyful = 'happy'", "persona.toml: emotions.joyful: unknown feeling"),
        ("[greetings]\nfolow = ['hi']", "persona.toml: greetings.folow: unknown event"),
        ("[greetings]\nsub = ['hi {viewr}']", "persona.toml: greetings.sub[0]: unknown slot"),
        ("[[segments]]\nname = 'x'\nevery = 'often'", "persona.toml: segments[0].every:"),
        ("name = ", "persona.toml: not valid TOML"),
    ],
)
def test_a_malformed_persona_file_names_the_key_and_the_reason(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_persona(write(tmp_path, text), expressions=DEFAULT_EXPRESSIONS)
    assert problem in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path))


def test_a_missing_persona_file_is_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such persona file"):
        load_persona(tmp_path / "nope.toml")


def test_a_mood_picks_lines_of_that_mood() -> None:
    autonomous = AutonomousProvider(rng=random.Random(0))
    request = ChatRequest(messages=(), context={"intent": "idle", "emotion": "bored"})
    lines = {autonomous.line(request) for _ in range(10)}
    assert all("quiet" in line or "anyone out there" in line for line in lines)
