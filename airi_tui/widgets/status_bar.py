"""One line saying which agent this is, where it is, and whether the link is up."""

from __future__ import annotations

from typing import Literal

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from agent.protocol.messages import DirectorStatus
from airi_tui.display import plain

LinkState = Literal["attaching", "attached", "stopping", "detached", "fatal"]
LINK_STATES: tuple[LinkState, ...] = ("attaching", "attached", "stopping", "detached", "fatal")


class StatusBar(Widget):
    """Agent name and version, endpoint, the director's mode and dry run, link state, client
    count and last event seq.

    The link state is also a class (``-attached``, ``-detached``, ``-fatal`` ...) so the
    stylesheet can make a lost link impossible to miss.
    """

    # Text changes may change how many lines the bar wraps to: those reactives re-layout.
    agent: reactive[str] = reactive("", layout=True)
    endpoint: reactive[str] = reactive("", layout=True)
    link_state: reactive[LinkState] = reactive[LinkState]("attaching", layout=True)
    link_detail: reactive[str] = reactive("", layout=True)
    clients: reactive[int] = reactive(0)
    seq: reactive[int] = reactive(0)
    director: reactive[DirectorStatus] = reactive(DirectorStatus, layout=True)

    COMPONENT_CLASSES = {"status-bar--dry-run"}

    def watch_link_state(self, old: LinkState, new: LinkState) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")

    def render(self) -> Text:
        parts = [
            plain(self.agent or "no agent seen yet", 60),
            plain(self.endpoint, 120),
            Text(f"{self.clients} client{'' if self.clients == 1 else 's'}"),
            Text(f"seq {self.seq}"),
            self._link_text(),
        ]
        if self.link_state == "attached":  # a live fact: unknown while the link is down
            parts.insert(2, self._director_text())
        line = Text(" \u2502 ").join(parts)
        line.no_wrap = False  # a long reason wraps onto a second line instead of vanishing
        return line

    def _director_text(self) -> Text:
        director = self.director
        line = Text.assemble("mode ", plain(director.mode, 20))
        if director.dry_run:
            dry_run = self.get_component_rich_style("status-bar--dry-run", partial=True)
            line.append_text(Text.assemble(" \u00b7 ", ("DRY RUN", dry_run)))
        return line

    def _link_text(self) -> Text:
        detail = plain(self.link_detail, 300)
        match self.link_state:
            case "attached":
                return Text("\u25cf attached")
            case "attaching":
                return Text("\u25cb attaching\u2026")
            case "stopping":
                return Text.assemble("\u25d0 agent stopping: ", detail)
            case "detached":
                return Text.assemble("\u25cb detached: ", detail)
            case "fatal":
                return Text.assemble("\u2716 cannot attach: ", detail)
