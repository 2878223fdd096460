"""The providers view against a real agent whose provider mesh is a stand-in (see provider_mesh).

What a streamer notices: rows with the right state words in the order tried, figures that change
in place, an error that shows as the text it is, and keys that ask the agent and follow its
answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import pytest
from textual.pilot import Pilot
from textual.widgets import Footer

from agent.daemon import Agent
from agent.protocol.messages import (
    Event,
    Gap,
    MoveProvider,
    ProbeProvider,
    ProviderChanged,
    ProviderStatus,
    Request,
    SetProviderEnabled,
)
from airi_tui.app import AiriApp
from airi_tui.messages import EventsArrived
from airi_tui.screens.dashboard import DashboardScreen
from airi_tui.widgets.providers_panel import ProvidersPanel, ProvidersTable
from airi_tui.widgets.queue_table import QueueTable
from tests.tui.conftest import StartAgent
from tests.tui.helpers import flat, on_screen, wait_attached, wait_until
from tests.tui.provider_mesh import ANTHROPIC, CHAINS, GROQ, OLLAMA, OPENAI, THREE, StandInMesh
from tests.tui.test_link import notices
from tests.tui.test_untrusted_text import ESCAPES, MARKUP

SIZE = (160, 40)
# The agent's own autonomous persona stays out, so the rows are the test's providers alone.
NO_PERSONA = {"router": {"autonomous_last": False}}


@pytest.fixture
async def agent(start_agent: StartAgent) -> Agent:
    return await start_agent(**NO_PERSONA)


@asynccontextmanager
async def providers_view(
    agent: Agent, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[Pilot[None], DashboardScreen, ProvidersPanel]]:
    """The control room attached to ``agent``, switched to the providers view with ``v``."""
    async with AiriApp(agent.endpoint).run_test(size=size, notifications=True) as pilot:
        screen = await wait_attached(pilot)
        await pilot.press("v")
        panel = screen.query_one(ProvidersPanel)
        await wait_until(pilot, lambda: panel.region.area > 0, "the providers view shows")
        yield pilot, screen, panel


def row(panel: ProvidersPanel, name: str) -> list[str]:
    return [cell.plain for cell in panel.table.get_row(name)]


def toasts(pilot: Pilot[None]) -> str:
    """The notices on screen as one line, without the toasts' edges."""
    return flat(notices(pilot.app).replace("\u258c", " "))


def asked(mesh: StandInMesh) -> list[Request]:
    """The provider requests the mesh got, without the ids the connection gave them."""
    return [msgspec.structs.replace(request, id=0) for request in mesh.requests]


async def test_rows_come_from_the_snapshot_in_reply_order(agent: Agent) -> None:
    mesh = StandInMesh(agent, [OLLAMA, *THREE], CHAINS)
    mesh.publish_all()
    async with providers_view(agent) as (pilot, _screen, panel):
        table = panel.table
        await wait_until(pilot, lambda: table.row_count == 4, "four providers are listed")
        await wait_until(pilot, lambda: "ollama" in on_screen(panel), "the rows are drawn")
        assert table.order == ["groq", "openai", "anthropic", "ollama"]  # reply chain first
        shown = on_screen(panel)
        assert "reply: groq \u2192 openai \u2192 anthropic" in shown
        assert "idle: groq" in shown
        groq, openai, anthropic, ollama = (row(panel, name) for name in table.order)
        assert groq[:4] == ["\u25cf up", "groq", "llama-3.3-70b-versatile", "210ms/880ms"]
        assert groq[5:9] == ["512", "5%", "40", "$0.0123"]
        assert openai[0] == "\u2716 breaker open" and openai[6:9] == ["83%", "6", "\u2014"]
        assert anthropic[0] == "\u2298 misconfigured"
        assert anthropic[9] == "no key: set AIRI_ANTHRO\u2026"  # the column stays narrow
        assert ollama[0] == "\u25cc idle" and ollama[8] == "free"  # a local model costs nothing
        assert "[providers.NAME]" not in shown
        await pilot.press("down", "down")  # the selected provider's error shows whole
        detail = panel.query_one("#provider-detail")
        whole = f"anthropic \u00b7 last error: {ANTHROPIC.last_error}"
        await wait_until(pilot, lambda: whole in on_screen(detail), "the whole error shows")


async def test_a_provider_report_updates_its_row_in_place(
    agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    mesh = StandInMesh(agent, THREE, CHAINS)
    mesh.publish_all()
    async with providers_view(agent) as (pilot, _screen, panel):
        table = panel.table
        await wait_until(pilot, lambda: table.row_count == 3, "the providers are listed")
        await pilot.press("down")  # the streamer is looking at openai
        layouts: list[object] = []
        original = table.lay_out
        monkeypatch.setattr(table, "lay_out", lambda *a: (layouts.append(a), original(*a)))
        worse = msgspec.structs.replace(GROQ, state="degraded", ttft_p50=1.2, spend=0.5)
        mesh.change(worse)
        await wait_until(pilot, lambda: "\u25d1 degraded" in on_screen(panel), "groq degrades")
        assert row(panel, "groq")[3] == "1.2s/880ms"
        assert row(panel, "groq")[8] == "$0.5000"
        assert table.order == ["groq", "openai", "anthropic"]
        assert layouts == []  # updated in place, not laid out again
        assert panel.selected is not None and panel.selected.name == "openai"


async def test_a_batch_keeps_the_latest_report_and_a_gap_starts_afresh(agent: Agent) -> None:
    StandInMesh(agent, THREE, CHAINS).publish_all()
    async with providers_view(agent) as (pilot, screen, panel):
        table = panel.table
        await wait_until(pilot, lambda: table.row_count == 3, "the providers are listed")
        mistral = ProviderStatus(name="mistral", preset="mistral", model="small", state="idle")
        fresh = msgspec.structs.replace(
            agent.snapshot(),
            providers=[GROQ, ANTHROPIC, mistral],
            chains={"reply": ["mistral", "groq"]},
        )
        batch: list[Event] = [
            ProviderChanged(status=msgspec.structs.replace(GROQ, state="degraded")),
            ProviderChanged(status=msgspec.structs.replace(OPENAI, state="up")),
            Gap(missed=2, snapshot=fresh),  # what came before is in the snapshot already
            ProviderChanged(status=msgspec.structs.replace(mistral, state="degraded")),
            ProviderChanged(status=msgspec.structs.replace(mistral, state="up", requests=1)),
        ]
        screen.post_message(EventsArrived(batch))
        order = ["mistral", "groq", "anthropic"]
        await wait_until(pilot, lambda: table.order == order, "the snapshot's providers show")
        assert row(panel, "groq")[0] == "\u25cf up"
        assert row(panel, "mistral")[0] == "\u25cf up" and row(panel, "mistral")[7] == "1"
        assert "reply: mistral \u2192 groq" in on_screen(panel)


async def test_an_error_with_markup_and_escapes_shows_as_text(agent: Agent) -> None:
    hostile = msgspec.structs.replace(OPENAI, last_error=MARKUP + ESCAPES)
    StandInMesh(agent, [hostile], {"reply": ["openai"]}).publish_all()
    async with providers_view(agent) as (pilot, _screen, panel):
        detail = panel.query_one("#provider-detail")
        await wait_until(pilot, lambda: "last error" in on_screen(detail), "the error shows")
        shown = on_screen(panel)
        assert f"openai \u00b7 last error: {MARKUP}" in shown
        assert "\ufffd[2J" in shown  # the escape is a visible stand-in
        assert not {"\x1b", "\x07", "\u202e"} & set(shown)
        assert row(panel, "openai")[9].startswith("[bold red]x[/]")


async def test_e_switches_the_selected_provider_off_and_on(agent: Agent) -> None:
    mesh = StandInMesh(agent, THREE, CHAINS)
    mesh.publish_all()
    async with providers_view(agent) as (pilot, _screen, panel):
        await wait_until(pilot, lambda: panel.table.row_count == 3, "the providers are listed")
        await pilot.press("e")
        await wait_until(pilot, lambda: row(panel, "groq")[0] == "\u25cb disabled", "it is off")
        assert asked(mesh) == [SetProviderEnabled(name="groq", enabled=False)]
        await pilot.press("e")
        await wait_until(pilot, lambda: row(panel, "groq")[0] == "\u25cc idle", "it is on again")
        assert asked(mesh)[1] == SetProviderEnabled(name="groq", enabled=True)


async def test_the_row_follows_the_agent_not_the_key(start_agent: StartAgent) -> None:
    agent = await start_agent(**NO_PERSONA)
    StandInMesh(agent, THREE, CHAINS).publish_all()  # then the agent itself answers: refused
    async with providers_view(agent) as (pilot, _screen, panel):
        await wait_until(pilot, lambda: panel.table.row_count == 3, "the providers are listed")
        agent.server.handle = agent.handle
        await pilot.press("e")
        await wait_until(pilot, lambda: "disable groq" in notices(pilot.app), "the refusal shows")
        assert row(panel, "groq")[0] == "\u25cf up"


async def test_p_probes_and_shows_the_answer_or_the_error(agent: Agent) -> None:
    refused = "!401 invalid x-api-key [bold]sk-\u2026[/]"
    mesh = StandInMesh(agent, THREE, CHAINS, probes={"groq": "212 ms", "openai": refused})
    mesh.publish_all()
    async with providers_view(agent) as (pilot, _screen, panel):
        await wait_until(pilot, lambda: panel.table.row_count == 3, "the providers are listed")
        await pilot.press("p")
        await wait_until(pilot, lambda: "212 ms" in toasts(pilot), "the time shows")
        assert "probe groq 212 ms" in toasts(pilot)
        await pilot.press("down", "p")
        failed = "probe openai failed: 401 invalid x-api-key [bold]sk-\u2026[/]"
        await wait_until(pilot, lambda: failed in toasts(pilot), "the error shows as text")
        assert asked(mesh) == [ProbeProvider(name="groq"), ProbeProvider(name="openai")]


async def test_brackets_move_the_provider_and_the_cursor_follows(agent: Agent) -> None:
    mesh = StandInMesh(agent, THREE, CHAINS)
    mesh.publish_all()
    async with providers_view(agent) as (pilot, _screen, panel):
        table = panel.table
        await wait_until(pilot, lambda: table.row_count == 3, "the providers are listed")
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: table.order[1] == "groq", "groq moved down")
        assert "reply: openai \u2192 groq \u2192 anthropic" in on_screen(panel)
        assert panel.selected is not None and panel.selected.name == "groq"
        await pilot.press("left_square_bracket")
        await wait_until(pilot, lambda: table.order[0] == "groq", "groq moved back up")
        assert asked(mesh) == [
            MoveProvider(name="groq", offset=1),
            MoveProvider(name="groq", offset=-1),
        ]


async def test_the_footer_shows_the_keys_of_the_view_on_screen(agent: Agent) -> None:
    mesh = StandInMesh(agent, THREE, CHAINS)
    mesh.publish_all()
    async with AiriApp(agent.endpoint).run_test(size=SIZE, notifications=True) as pilot:
        screen = await wait_attached(pilot)
        footer = screen.query_one(Footer)
        await wait_until(pilot, lambda: "v Providers" in on_screen(footer), "v is offered")
        assert "Probe" not in on_screen(footer)
        await pilot.press("e")  # not the providers view: nothing is sent
        await pilot.press("v")
        assert mesh.requests == []
        await wait_until(pilot, lambda: "p Probe" in on_screen(footer), "the keys are offered")
        shown = on_screen(footer)
        assert "e On/off" in shown and "[ Move up" in shown and "] Move down" in shown
        assert "v Health \u00b7 log" in shown
        assert isinstance(screen.focused, ProvidersTable)  # arrows pick a provider at once
        await pilot.press("v")
        await wait_until(pilot, lambda: "v Providers" in on_screen(footer), "back to health")
        assert isinstance(screen.focused, QueueTable)  # arrows pick a waiting action again


async def test_without_providers_the_panel_says_how_to_add_one(start_agent: StartAgent) -> None:
    agent = await start_agent()  # no [providers]: at most the built-in autonomous persona
    async with providers_view(agent, size=(100, 30)) as (pilot, _screen, panel):
        how_to = panel.query_one("#providers-how-to")
        await wait_until(pilot, lambda: "config.toml" in on_screen(how_to), "the how-to shows")
        shown = flat(on_screen(how_to))
        assert "No LLM provider is configured" in shown
        assert "[providers.NAME] in config.toml" in shown
        assert "`airi providers list`" in shown


async def test_a_pad_hotkey_cannot_take_a_provider_key(start_agent: StartAgent) -> None:
    agent = await start_agent(pad={"hotkeys": {"e": "happy", "x": "sad"}})
    async with AiriApp(agent.endpoint).run_test(size=SIZE, notifications=True) as pilot:
        await wait_attached(pilot)
        await wait_until(pilot, lambda: "pad key 'e'" in notices(pilot.app), "the clash is told")
        assert "pad key 'x'" not in notices(pilot.app)


async def test_at_80_by_24_the_selected_error_still_shows(agent: Agent) -> None:
    StandInMesh(agent, THREE, CHAINS).publish_all()
    async with providers_view(agent, size=(80, 24)) as (pilot, _screen, panel):
        await wait_until(pilot, lambda: panel.table.row_count == 3, "the providers are listed")
        await pilot.press("down")
        shown = ""

        def drawn() -> bool:
            nonlocal shown
            shown = on_screen(panel)
            return "openai \u00b7 last error: 429 Too Many Requests" in shown

        await wait_until(pilot, drawn, "openai's error shows under the table")
        assert "\u2716 breaker open" in shown and "\u2298 misconfigured" in shown
        assert "reply: groq \u2192 openai \u2192 anthropic" in shown
