"""Textual ``Theme`` objects built from the palettes shipped in the top-level ``themes`` package."""

from __future__ import annotations

from textual.theme import BUILTIN_THEMES, Theme

import themes

DEFAULT_THEME = "airi-dark"


def airi_themes() -> list[Theme]:
    """The control room's own themes, one per palette file."""
    return [Theme(**themes.load_palette(name)) for name in themes.palette_names()]


def theme_names() -> list[str]:
    """Every theme ``--theme`` accepts: ours first, then Textual's built-in ones."""
    ours = themes.palette_names()
    return ours + sorted(name for name in BUILTIN_THEMES if name not in ours)


def fallback_variables(theme: Theme) -> dict[str, str]:
    """The app's own tokens for a theme that does not define them (Textual's built-ins).

    Derived from the theme's own colours, so any theme looks at home.
    """
    colors = theme.to_color_system().generate()
    return {
        "airi-author": colors["secondary"],
        "airi-border": colors["panel-lighten-1"],
        "airi-demo": colors["warning"],
        "airi-timestamp": colors["foreground-muted"],
        "airi-stale": colors["foreground-disabled"],
    }
