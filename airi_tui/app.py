"""The control-room app: themes, app-wide keys, and the dashboard as its screen."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding
from textual.screen import Screen

import themes
from agent.protocol import Backoff, Endpoint
from airi_tui.screens.dashboard import DashboardScreen
from airi_tui.theming import DEFAULT_THEME, airi_themes, fallback_variables


class AiriApp(App[None]):
    """A control room attached to the agent at ``endpoint``.

    Quitting only closes this client's session: the agent and other clients carry on.
    """

    TITLE = "airi control room"
    CSS_PATH = themes.stylesheet("airi.tcss")
    BINDINGS = [Binding("q", "quit", "Quit", tooltip="Quit this room: the agent keeps running")]

    def __init__(
        self, endpoint: Endpoint, theme: str = DEFAULT_THEME, backoff: Backoff | None = None
    ) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.backoff = backoff
        for airi_theme in airi_themes():
            self.register_theme(airi_theme)
        self.theme = theme

    def get_default_screen(self) -> Screen[None]:
        return DashboardScreen(self.endpoint, self.backoff)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return fallback_variables(self.current_theme)
