"""Checks of this machine: Python, the files the agent reads, and the programs it uses."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import platform
import shutil
import stat
import sys

from agent.doctor.report import Finding, Setup

MIDI_PROBE_TIMEOUT = 1.2


async def check_python(setup: Setup) -> Finding:
    # Older Pythons cannot even import this module (asyncio.timeout): report which one runs,
    # since a service or a second venv may run another interpreter than the shell does.
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "the stdlib event loop"
    return Finding(
        "python", "ok", f"Python {platform.python_version()} ({sys.executable}), with {loop}"
    )


async def check_config(setup: Setup) -> Finding:
    path = setup.config_path
    if setup.config_problems:
        count = len(setup.config_problems)
        first = setup.config_problems[0]
        more = f" (and {count - 1} more)" if count > 1 else ""
        return Finding(
            "config", "fail", f"{first}{more}", f"airi config check {path}   # lists every problem"
        )
    if not setup.config_found:
        return Finding("config", "ok", f"no config file at {path}: defaults apply")
    return Finding("config", "ok", f"{path} is valid")


async def check_secrets_file(setup: Setup) -> Finding:
    path = setup.secrets_path
    name = "secrets file"
    try:
        info = path.stat()
    except FileNotFoundError:
        return Finding(name, "ok", f"no {path}: secrets come from AIRI_* environment variables")
    except OSError as exc:
        return Finding(
            name, "fail", f"{path}: {exc.strerror}", f"ls -l {path}   # and fix its owner or mode"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return Finding(
            name,
            "fail",
            f"{path} is readable by other users (mode {mode:04o})",
            f"chmod 600 {path}",
        )
    if info.st_uid != os.getuid():
        return Finding(
            name,
            "fail",
            f"{path} belongs to uid {info.st_uid}, not to you",
            f"sudo chown {os.getuid()} {path}",
        )
    if setup.secrets_problems:
        return Finding(
            name,
            "fail",
            str(setup.secrets_problems[0]),
            "airi config check   # lists every problem",
        )
    return Finding(name, "ok", f"{path} is private (mode {mode:04o})")


async def check_socket_dir(setup: Setup) -> Finding:
    path = setup.socket_path.parent
    name = "socket dir"
    try:
        info = path.stat()
    except FileNotFoundError:
        return Finding(name, "ok", f"{path} does not exist yet: created on first start")
    except OSError as exc:
        return Finding(
            name, "fail", f"{path}: {exc.strerror}", "set [control] socket to a usable path"
        )
    mode = stat.S_IMODE(info.st_mode)
    if not stat.S_ISDIR(info.st_mode):
        return Finding(
            name,
            "fail",
            f"{path} is not a directory",
            f"rm {path}   # the agent creates the directory",
        )
    if info.st_uid != os.getuid():
        return Finding(
            name,
            "fail",
            f"{path} belongs to uid {info.st_uid}, not to you",
            "set [control] socket to a path in a directory of yours",
        )
    if mode & 0o077:
        return Finding(
            name, "fail", f"{path} is open to other users (mode {mode:04o})", f"chmod 700 {path}"
        )
    return Finding(name, "ok", f"{path} is private (mode {mode:04o})")


async def check_espeak(setup: Setup) -> Finding:
    found = shutil.which("espeak-ng")
    if found:
        return Finding("espeak-ng", "ok", f"{found}: speech can be heard")
    return Finding(
        "espeak-ng",
        "warn",
        "espeak-ng is not installed: speech shows as captions only",
        "sudo apt-get install espeak-ng",
    )


async def check_audio_player(setup: Setup) -> Finding:
    found = [p for p in ("pw-play", "paplay", "aplay") if shutil.which(p)]
    if found:
        return Finding("audio player", "ok", ", ".join(found))
    return Finding(
        "audio player",
        "warn",
        "no audio player (pw-play, paplay or aplay): speech stays silent",
        "sudo apt-get install alsa-utils   # provides aplay",
    )


# rtmidi runs in a child process: its C libraries print to fd 2 (which would garble the
# report), JACK may try to spawn a server, and a hung probe can be killed, unlike a thread.
_MIDI_PROBE = """
import json, rtmidi
found = {}
for name, api in (("JACK", rtmidi.API_UNIX_JACK), ("ALSA", rtmidi.API_LINUX_ALSA)):
    if api not in rtmidi.get_compiled_api():
        found[name] = {"error": "not built into python-rtmidi"}
        continue
    try:
        port = rtmidi.MidiIn(api, name="airi-doctor")
    except rtmidi.RtMidiError as exc:
        found[name] = {"error": str(exc).rpartition("::initialize: ")[2]}
        continue
    found[name] = {"ports": port.get_ports()}
    port.delete()
print(json.dumps(found))
"""


async def check_midi(setup: Setup) -> Finding:
    by_api = await _probe_midi()
    if isinstance(by_api, Finding):
        return by_api
    ports = [f"{port} ({api})" for api, seen in by_api.items() for port in seen.get("ports", [])]
    midi = setup.config.midi
    if not ports:
        why = "; ".join(f"{api}: {seen.get('error', 'no ports')}" for api, seen in by_api.items())
        return Finding(
            "midi",
            "warn",
            f"no MIDI input ports ({why})",
            "plug in a MIDI pad, or start JACK (`jackd --no-realtime -d "
            "dummy -r 48000 -p 256`), then run `airi doctor` again to list the ports",
        )
    listed = ", ".join(ports)
    if not midi.enabled:
        return Finding(
            "midi",
            "off",
            f"MIDI pad is off; ports: {listed}",
            "set [midi] enabled = true in config.toml",
        )
    if midi.port and not any(p.startswith(midi.port) for p in ports):
        return Finding(
            "midi",
            "warn",
            f"[midi] port {midi.port!r} is not among {listed}",
            "set [midi] port to one of the ports listed here",
        )
    return Finding("midi", "ok", listed)


async def _probe_midi() -> dict[str, dict[str, list[str] | str]] | Finding:
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _MIDI_PROBE,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(MIDI_PROBE_TIMEOUT):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return Finding(
            "midi",
            "warn",
            f"listing MIDI ports took over {MIDI_PROBE_TIMEOUT:g} s",
            "check that the JACK server answers: `jack_lsp`",
        )
    if process.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        return Finding(
            "midi",
            "fail",
            f"python-rtmidi failed: {last}",
            "pip install python-rtmidi; sudo apt-get install libasound2",
        )
    result: dict[str, dict[str, list[str] | str]] = json.loads(out)
    return result


async def check_stt(setup: Setup) -> Finding:
    return Finding(
        "stt",
        "off",
        "no speech-to-text model configured: the microphone is not heard",
        "nothing to do unless you want voice input (vosk, later)",
    )
