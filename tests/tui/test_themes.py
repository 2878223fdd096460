"""Themes are data in themes/: every palette loads, the stylesheet names no colours itself."""

from __future__ import annotations

import re

import pytest
from textual.theme import BUILTIN_THEMES

import themes
from agent.protocol import Endpoint
from airi_tui.app import AiriApp
from airi_tui.theming import airi_themes, theme_names
from airi_tui.widgets.chat_view import ChatView

APP_TOKENS = {"airi-author", "airi-border", "airi-demo", "airi-timestamp", "airi-stale"}
NOWHERE = Endpoint(path="/nonexistent/airi/agent.sock")


def test_the_airi_themes_ship_with_every_app_token() -> None:
    loaded = {theme.name: theme for theme in airi_themes()}
    assert {"airi-dark", "airi-light"} <= set(loaded)
    for theme in loaded.values():
        assert set(theme.variables) == APP_TOKENS, theme.name
    assert loaded["airi-dark"].dark and not loaded["airi-light"].dark


def test_the_stylesheet_takes_every_colour_from_the_theme() -> None:
    rules = re.sub(r"/\*.*?\*/", "", themes.stylesheet("airi.tcss").read_text(), flags=re.S)
    assert re.findall(r"#[0-9a-fA-F]{3,8}\b", rules) == []
    assert re.findall(r"\brgba?\(", rules) == []
    used = set(re.findall(r"\$(airi-[a-z-]+)", rules))
    assert used <= APP_TOKENS


def test_theme_names_lists_ours_first_then_textuals() -> None:
    names = theme_names()
    assert names[:2] == ["airi-dark", "airi-light"]
    assert set(BUILTIN_THEMES) <= set(names)


@pytest.mark.parametrize("name", ["airi-dark", "airi-light", "nord", "textual-light"])
async def test_the_dashboard_draws_in_any_theme(name: str) -> None:
    async with AiriApp(NOWHERE, theme=name).run_test() as pilot:
        assert pilot.app.theme == name
        chat = pilot.app.screen.query_one(ChatView)
        author = chat.get_component_rich_style("chat-view--author", partial=True)
        assert author.color is not None
        assert author.color.triplet != chat.rich_style.bgcolor.triplet  # type: ignore[union-attr]


async def test_switching_theme_at_run_time_keeps_working() -> None:
    async with AiriApp(NOWHERE).run_test() as pilot:
        pilot.app.theme = "airi-light"
        await pilot.pause()
        assert pilot.app.current_theme.name == "airi-light"
        assert pilot.app.theme_variables["airi-demo"] == "#A86A00"
