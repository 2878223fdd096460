"""`airi doctor`: what works on this box, and the exact next step for what does not.

Each check returns one ``Finding``. They run concurrently, each under a timeout, so a hung
peer (an OBS that never answers) costs a fraction of a second, not the whole report. No check
ever reads a secret's value: only whether it is set, and where from.
"""

from __future__ import annotations

import asyncio

from agent.doctor.box import (
    check_audio_player,
    check_config,
    check_espeak,
    check_midi,
    check_python,
    check_secrets_file,
    check_socket_dir,
    check_stt,
)
from agent.doctor.report import Check, Finding, Setup, Status, load_setup
from agent.doctor.services import check_agent, check_llm_keys, check_obs, check_twitch

__all__ = ["CHECKS", "Finding", "Setup", "Status", "failed", "load_setup", "run_checks"]

CHECK_TIMEOUT = 1.5
"""Ceiling for any one check; the network checks give up sooner, with a precise reason."""


async def run_checks(setup: Setup, timeout: float = CHECK_TIMEOUT) -> list[Finding]:
    """Every check, concurrently, in report order."""
    return list(
        await asyncio.gather(*(_guarded(name, check, setup, timeout) for name, check in CHECKS))
    )


async def _guarded(name: str, check: Check, setup: Setup, timeout: float) -> Finding:
    try:
        async with asyncio.timeout(timeout):
            return await check(setup)
    except TimeoutError:
        return Finding(
            name,
            "fail",
            f"no result within {timeout:g} s",
            "run `airi doctor` again; if it repeats, report it",
        )
    except Exception as exc:  # a bug in one check must not hide the other findings
        return Finding(
            name,
            "fail",
            f"the check itself failed: {exc!r}",
            "report this as a bug in `airi doctor`",
        )


def failed(findings: list[Finding]) -> bool:
    return any(f.status == "fail" for f in findings)


CHECKS: list[tuple[str, Check]] = [
    ("python", check_python),
    ("config", check_config),
    ("secrets file", check_secrets_file),
    ("socket dir", check_socket_dir),
    ("agent", check_agent),
    ("espeak-ng", check_espeak),
    ("audio player", check_audio_player),
    ("midi", check_midi),
    ("obs", check_obs),
    ("llm keys", check_llm_keys),
    ("twitch", check_twitch),
    ("stt", check_stt),
]
