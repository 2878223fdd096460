"""`airi doctor` on a private box (tmp XDG dirs): what a streamer sees, and what to do next."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from agent import __version__
from agent.cli import app
from agent.doctor import Finding, Setup, _guarded, load_setup, run_checks
from tests.conftest import AgentProcess

pytestmark = pytest.mark.timeout(60)

SECRET = "sk-test-do-not-print-0123456789"
CHECK_NAMES = [
    "python", "config", "secrets file", "socket dir", "agent", "espeak-ng", "audio player",
    "midi", "obs", "llm keys", "twitch", "stt",
]  # fmt: skip



def doctor(*args: str) -> Result:
    return CliRunner().invoke(app, ["doctor", *args])


def findings(result: Result) -> dict[str, dict[str, str]]:
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["check"]: row for row in rows}


def write_config(home: Path, text: str) -> Path:
    path = home / "config" / "airi" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_box_with_nothing_configured(home: Path) -> None:
    result = doctor("--json")
    assert result.exit_code == 0, result.output  # nothing failed: defaults run as they are
    found = findings(result)
    assert list(found) == CHECK_NAMES
    assert found["config"]["status"] == "ok"
    assert found["config"]["finding"].endswith("defaults apply")
    assert found["socket dir"]["finding"].endswith("does not exist yet: created on first start")
    assert found["agent"]["status"] == "off"
    assert "airi up" in found["agent"]["next_step"]
    espeak = found["espeak-ng"]
    if shutil.which("espeak-ng"):
        assert espeak["status"] == "ok" and shutil.which("espeak-ng") in espeak["finding"]
    else:
        assert espeak["status"] == "warn"
        assert espeak["next_step"] == "sudo apt-get install espeak-ng"
    players = [p for p in ("pw-play", "paplay", "aplay") if shutil.which(p)]
    assert found["audio player"]["status"] == ("ok" if players else "warn")
    llm = found["llm keys"]
    assert llm["status"] == "warn" and "the autonomous persona will run" in llm["finding"]
    assert "AIRI_OPENAI_API_KEY" in llm["next_step"]
    assert found["obs"]["status"] == "off"
    assert "[obs] enabled = true" in found["obs"]["next_step"]
    assert (
        found["twitch"]["status"] == "off" and "[twitch] channel" in found["twitch"]["next_step"]
    )
    assert found["stt"]["status"] == "off"
    for row in found.values():
        assert row["status"] in ("ok", "warn", "fail", "off")
        assert row["status"] == "ok" or row["next_step"], row  # every non-ok row says what to do


def test_plain_report_when_not_a_terminal(home: Path) -> None:
    result = doctor()
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "\x1b[" not in result.stdout and "│" not in result.stdout  # no colours, no boxes
    rows = [line.split()[:2] for line in lines if not line.startswith(" ")]
    assert [row[0] for row in rows] == [
        findings(doctor("--json"))[n]["status"] for n in CHECK_NAMES
    ]
    if not shutil.which("espeak-ng"):
        espeak = next(i for i, line in enumerate(lines) if line.split()[1] == "espeak-ng")
        assert lines[espeak + 1].strip() == "next: sudo apt-get install espeak-ng"


def test_json_is_one_valid_object_per_line(home: Path) -> None:
    result = doctor("--json")
    for line in result.stdout.splitlines():
        row = json.loads(line)
        assert set(row) == {"check", "status", "finding", "next_step"}


# --- OBS -----------------------------------------------------------------------------------


def obs_at(home: Path, port: int) -> None:
    write_config(home, f'[obs]\nenabled = true\nurl = "ws://127.0.0.1:{port}"\n')


def test_obs_reachable(home: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        obs_at(home, port)
        result = doctor("--json")
    obs = findings(result)["obs"]
    assert obs["status"] == "ok" and f"127.0.0.1:{port} is open" in obs["finding"]
    assert "no AIRI_OBS_PASSWORD set" in obs["finding"]


def test_obs_on_a_closed_port(home: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    obs_at(home, port)
    result = doctor("--json")
    assert result.exit_code == 1
    obs = findings(result)["obs"]
    assert obs["status"] == "fail"
    assert f"cannot reach 127.0.0.1:{port}: Connection refused" == obs["finding"]
    assert "start OBS and enable Tools > WebSocket Server Settings" in obs["next_step"]


def test_a_hung_obs_costs_half_a_second(home: Path) -> None:
    # A listener whose accept queue is full drops new SYNs: connecting just hangs.
    with socket.create_server(("127.0.0.1", 0), backlog=0) as server:
        port = server.getsockname()[1]
        filler = socket.create_connection(("127.0.0.1", port))
        obs_at(home, port)
        started = time.monotonic()
        result = doctor("--json")
        elapsed = time.monotonic() - started
        filler.close()
    obs = findings(result)["obs"]
    assert obs["status"] == "fail"
    assert obs["finding"] == f"127.0.0.1:{port} did not answer within 0.5 s"
    assert elapsed < 2.0, elapsed  # not the minutes of a TCP connect timeout


def test_obs_url_that_is_not_websocket(home: Path) -> None:
    write_config(home, '[obs]\nenabled = true\nurl = "127.0.0.1:4455"\n')
    obs = findings(doctor("--json"))["obs"]
    assert obs["status"] == "fail" and "not a ws:// address" in obs["finding"]


# --- the agent and its socket --------------------------------------------------------------


def test_a_running_agent_answers_with_its_version(home: Path, agent_process: AgentProcess) -> None:
    agent_process.start()
    agent = findings(doctor("--json"))["agent"]
    assert agent["status"] == "ok"
    assert f"'airi' {__version__} (pid {agent_process.proc.pid}) up " in agent["finding"]  # type: ignore[union-attr]
    assert str(agent_process.socket) in agent["finding"]
    socket_dir = findings(doctor("--json"))["socket dir"]
    assert socket_dir["status"] == "ok" and "mode 0700" in socket_dir["finding"]


def stale_socket(home: Path) -> Path:
    path = home / "runtime" / "airi" / "agent.sock"
    path.parent.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))  # bound, never listening, then closed: the file stays behind
    return path


def test_a_stale_socket_file(home: Path) -> None:
    path = stale_socket(home)
    agent = findings(doctor("--json"))["agent"]
    assert agent["status"] == "warn"
    assert agent["finding"].startswith(f"stale socket {path}: nothing listens on it")
    assert agent["next_step"].startswith(f"rm {path}")


def test_a_socket_dir_open_to_others(home: Path) -> None:
    directory = home / "runtime" / "airi"
    directory.mkdir()
    directory.chmod(0o755)
    result = doctor("--json")
    assert result.exit_code == 1
    row = findings(result)["socket dir"]
    assert row["status"] == "fail" and "(mode 0755)" in row["finding"]
    assert row["next_step"] == f"chmod 700 {directory}"


async def test_an_agent_that_accepts_but_never_answers(home: Path) -> None:
    path = home / "runtime" / "airi" / "agent.sock"
    path.parent.mkdir(mode=0o700)

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_unix_server(silent, path=str(path))
    async with server:
        started = time.monotonic()
        result = await run_checks(load_setup())
        assert time.monotonic() - started < 1.6
    agent = next(f for f in result if f.check == "agent")
    assert agent.status == "fail" and "did not answer in time" in agent.finding
    assert "journalctl" in agent.next_step


# --- config, secrets, keys -----------------------------------------------------------------


def test_an_invalid_config_file(home: Path) -> None:
    path = write_config(home, '[agent]\nlog_level = "loud"\nbogus = 1\n')
    result = doctor("--json")
    assert result.exit_code == 1
    config = findings(result)["config"]
    assert config["status"] == "fail"
    assert config["finding"] == (
        f"{path}: agent.log_level: 'loud' is not one of 'debug', 'info', 'warning', 'error'"
        " (and 1 more)"
    )
    assert config["next_step"].startswith(f"airi config check {path}")


def test_doctor_reads_the_config_given(home: Path) -> None:
    other = home / "other.toml"
    other.write_text('[twitch]\nchannel = "somebody"\n')
    twitch = findings(doctor("--json", "--config", str(other)))["twitch"]
    assert twitch["status"] == "fail" and "client_id is empty" in twitch["finding"]


def secrets_file(home: Path, text: str, mode: int) -> Path:
    path = home / "config" / "airi" / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_secrets_file_others_can_read(home: Path) -> None:
    path = secrets_file(home, f'openai_api_key = "{SECRET}"\n', 0o644)
    result = doctor("--json")
    assert result.exit_code == 1
    row = findings(result)["secrets file"]
    assert row["status"] == "fail"
    assert row["finding"] == f"{path} is readable by other users (mode 0644)"
    assert row["next_step"] == f"chmod 600 {path}"
    assert SECRET not in result.output


def test_a_private_secrets_file_counts_its_keys(home: Path) -> None:
    path = secrets_file(home, f'anthropic_api_key = "{SECRET}"\n', 0o600)
    result = doctor("--json")
    found = findings(result)
    assert found["secrets file"]["status"] == "ok"
    assert found["llm keys"]["finding"] == f"set: anthropic_api_key (from {path})"
    assert SECRET not in result.output


def test_a_secret_in_the_environment_is_never_printed(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRI_OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("AIRI_TWITCH_CLIENT_SECRET", SECRET + "-twitch")
    write_config(home, '[twitch]\nchannel = "somebody"\nclient_id = "abc"\n')
    as_json = doctor("--json")
    found = findings(as_json)
    assert found["llm keys"]["status"] == "ok"
    assert found["llm keys"]["finding"] == "set: openai_api_key (from $AIRI_OPENAI_API_KEY)"
    assert found["twitch"]["status"] == "ok"
    plain = doctor()
    assert SECRET not in as_json.output and SECRET not in plain.output


# --- MIDI ----------------------------------------------------------------------------------


@pytest.fixture
def jack_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A JACK server with the dummy driver (no sound hardware needed), private to this test."""
    if not shutil.which("jackd"):
        pytest.skip("jackd is not installed (apt-get install jackd2)")
    name = f"airi-test-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    jackd = subprocess.Popen(
        ["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "256"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield name
    finally:
        jackd.send_signal(signal.SIGTERM)
        try:
            jackd.wait(timeout=10)
        except subprocess.TimeoutExpired:
            jackd.kill()
            jackd.wait()


def test_midi_ports_seen_through_jack(home: Path, jack_server: str) -> None:
    import rtmidi

    deadline = time.monotonic() + 10
    while True:
        try:
            pad = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="pad")
            break
        except rtmidi.SystemError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the server is still starting
    pad.open_virtual_port("airi-test-pad")
    try:
        midi = findings(doctor("--json"))["midi"]
        assert midi["status"] == "off"  # ports exist, but [midi] is not enabled
        assert "pad:airi-test-pad (JACK)" in midi["finding"]
        assert midi["next_step"] == "set [midi] enabled = true in config.toml"
        write_config(home, '[midi]\nenabled = true\nport = "pad:airi-test-pad"\n')
        midi = findings(doctor("--json"))["midi"]
        assert midi["status"] == "ok" and "pad:airi-test-pad (JACK)" in midi["finding"]
    finally:
        pad.close_port()
        pad.delete()


def test_no_midi_ports_says_how_to_get_some(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"airi-test-none-{os.getpid()}")  # no such server
    midi = findings(doctor("--json"))["midi"]
    if "(ALSA)" in midi["finding"]:
        pytest.skip("this box has ALSA MIDI ports")
    assert midi["status"] == "warn" and midi["finding"].startswith("no MIDI input ports (JACK: ")
    assert "jackd --no-realtime -d dummy" in midi["next_step"]


# --- the runner ----------------------------------------------------------------------------


async def test_a_hung_check_is_cut_off_and_reported() -> None:
    async def hangs(setup: Setup) -> Finding:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    started = time.monotonic()
    finding = await _guarded("obs", hangs, load_setup(), timeout=0.1)
    assert time.monotonic() - started < 1
    assert (finding.status, finding.finding) == ("fail", "no result within 0.1 s")


async def test_a_broken_check_is_reported_not_raised() -> None:
    async def broken(setup: Setup) -> Finding:
        raise KeyError("oops")

    finding = await _guarded("obs", broken, load_setup(), timeout=1)
    assert finding.status == "fail" and "KeyError('oops')" in finding.finding
