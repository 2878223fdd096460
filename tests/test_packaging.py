"""The wheel a user installs carries the agent, the control room and its themes."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_the_wheel_ships_themes_and_the_airi_command(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("airi-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped_themes = {Path(n).name for n in names if n.startswith("themes/")}
    assert {p.name for p in (ROOT / "themes").iterdir() if p.is_file()} <= shipped_themes
    assert "airi_tui/__main__.py" in names and "agent/protocol/messages.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "airi = agent.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith("tests/") for n in names)
