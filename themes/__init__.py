"""The control room's look, shipped as data: colour palettes (TOML) and stylesheets (.tcss).

Each ``<name>.toml`` here is one theme's palette, in the fields of Textual's ``Theme`` plus a
``[variables]`` table of app-wide tokens that the stylesheets use. This package only reads the
files (no Textual import), so the agent side can list themes without loading the TUI.
"""

from __future__ import annotations

import tomllib
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

PALETTE_SUFFIX = ".toml"


def palette_names() -> list[str]:
    """Names of the themes whose palettes ship here, sorted."""
    return sorted(
        entry.name.removesuffix(PALETTE_SUFFIX)
        for entry in files(__name__).iterdir()
        if entry.name.endswith(PALETTE_SUFFIX)
    )


def load_palette(name: str) -> dict[str, Any]:
    """The palette of theme ``name`` as a table (raises FileNotFoundError if there is none)."""
    with files(__name__).joinpath(name + PALETTE_SUFFIX).open("rb") as f:
        return tomllib.load(f)


def stylesheet(name: str) -> Path:
    """Path of the stylesheet ``name`` (e.g. ``airi.tcss``) shipped in this package."""
    with as_file(files(__name__).joinpath(name)) as path:
        # The package is installed as plain files (never zipped), so the path outlives the
        # context manager.
        return Path(path)
