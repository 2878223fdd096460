"""``python -m airi_tui``: bad arguments end in one clear line; the TUI loads no agent code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_tui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airi_tui", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--theme", "pink"], "unknown theme 'pink' (available: airi-dark, airi-light, "),
        (["--tcp", "127.0.0.1:7878"], "--tcp needs --token-file FILE"),
        (["--tcp", "nope", "--token-file", __file__], "is not HOST:PORT"),
        (["--tcp", "h:port", "--token-file", __file__], "the port must be a number"),
        (["--tcp", "127.0.0.1:1", "--token-file", "/nonexistent"], "cannot read the token file"),
        (["--socket", "/x", "--token-file", __file__], "--token-file only goes with --tcp"),
        (["--socket", "/x", "--tcp", "h:1"], "not allowed with argument --socket"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_say_why_without_a_traceback(args: list[str], says: str) -> None:
    result = run_tui(*args)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr


def test_an_empty_token_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "token"
    empty.write_text("\n")
    result = run_tui("--tcp", "127.0.0.1:1", "--token-file", str(empty))
    assert result.returncode == 2
    assert "is empty" in result.stderr


LOAD_THE_WHOLE_TUI = """
import sys
import airi_tui.__main__, airi_tui.app
agent_modules = sorted(m for m in sys.modules if m == "agent" or m.startswith("agent."))
print(",".join(agent_modules))
"""


def test_the_running_tui_loads_only_the_protocol_from_the_agent() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LOAD_THE_WHOLE_TUI],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = out.stdout.strip().split(",")
    assert "agent.protocol" in loaded
    assert [m for m in loaded if m != "agent" and not m.startswith("agent.protocol")] == []
