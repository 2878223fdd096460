"""Checks of what the agent talks to: a running agent, OBS, LLM providers, Twitch."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from urllib.parse import urlsplit

from agent.doctor.report import Finding, Setup
from agent.secrets import env_names

CONNECT_TIMEOUT = 0.5
"""How long OBS or a running agent may take to answer; a hung peer costs no more."""


async def check_agent(setup: Setup) -> Finding:
    from agent.protocol import (
        AgentError,
        Connection,
        ConnectionLost,
        Endpoint,
        FatalLinkError,
        Ping,
        client_name,
        explain,
    )

    path = setup.socket_path
    start = "start one: `airi up` (with the control room) or `airi agent`"
    if not path.exists():
        return Finding("agent", "off", f"no agent is running (no socket at {path})", start)
    if not stat.S_ISSOCK(path.stat().st_mode):
        return Finding("agent", "fail", f"{path} is not a socket", f"rm {path}   # then {start}")
    endpoint = Endpoint(path=str(path))
    try:
        connection = await Connection.open(
            endpoint, client_name("airi-doctor"), subscribe=False, timeout=CONNECT_TIMEOUT
        )
    except ConnectionRefusedError:
        return Finding(
            "agent",
            "warn",
            f"stale socket {path}: nothing listens on it (an agent ended without removing it)",
            f"rm {path}   # then {start}",
        )
    except FatalLinkError as exc:
        return Finding(
            "agent",
            "fail",
            f"the agent refused us: {exc}",
            "upgrade airi so both sides match, then restart the agent",
        )
    except (OSError, TimeoutError, AgentError, ConnectionLost, asyncio.IncompleteReadError) as exc:
        return Finding(
            "agent",
            "fail",
            explain(exc, endpoint),
            "journalctl --user -u airi-agent -n 50   # see its log",
        )
    try:
        await connection.request(Ping(), timeout=CONNECT_TIMEOUT)
    except (AgentError, ConnectionLost, TimeoutError) as exc:
        return Finding(
            "agent",
            "fail",
            f"the agent at {path} did not answer a ping: {exc or 'timeout'}",
            "journalctl --user -u airi-agent -n 50   # see its log",
        )
    finally:
        await connection.close()
    snapshot = connection.welcome.snapshot
    uptime = _duration(time.time() - snapshot.started_at)
    return Finding(
        "agent",
        "ok",
        f"{snapshot.agent_name!r} {connection.welcome.agent_version} "
        f"(pid {snapshot.pid}) up {uptime}, answering at {path}",
    )


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


async def check_obs(setup: Setup) -> Finding:
    obs = setup.config.obs
    if not obs.enabled:
        return Finding(
            "obs",
            "off",
            "OBS is off",
            "set [obs] enabled = true (and url) in config.toml; "
            "the password goes in AIRI_OBS_PASSWORD",
        )
    try:
        host, port = _host_port(obs.url)
    except ValueError as exc:
        return Finding(
            "obs",
            "fail",
            f"[obs] url {obs.url!r}: {exc}",
            'set [obs] url like "ws://127.0.0.1:4455"',
        )
    fix = f"start OBS and enable Tools > WebSocket Server Settings on port {port}, or fix [obs] url"
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return Finding(
            "obs", "fail", f"{host}:{port} did not answer within {CONNECT_TIMEOUT:g} s", fix
        )
    except OSError as exc:
        return Finding(
            "obs",
            "fail",
            # asyncio's own message names the address twice; the errno's text is enough.
            f"cannot reach {host}:{port}: {os.strerror(exc.errno) if exc.errno else exc}",
            fix,
        )
    writer.close()
    password = "obs_password" in setup.secret_origin
    note = "" if password else " (no AIRI_OBS_PASSWORD set: fine if OBS asks for none)"
    return Finding("obs", "ok", f"OBS port {host}:{port} is open{note}")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError("not a ws:// address")
    return parts.hostname, parts.port or (443 if parts.scheme == "wss" else 80)


async def check_llm_keys(setup: Setup) -> Finding:
    keys = ("openai_api_key", "anthropic_api_key")
    found = [
        f"{key} (from {setup.secret_origin[key]})" for key in keys if key in setup.secret_origin
    ]
    if found:
        return Finding("llm keys", "ok", "set: " + ", ".join(found))
    return Finding(
        "llm keys",
        "warn",
        "no LLM API key set: the autonomous persona will run",
        "set AIRI_OPENAI_API_KEY or AIRI_ANTHROPIC_API_KEY (in the "
        f"environment, or {setup.secrets_path} with mode 0600)",
    )


async def check_twitch(setup: Setup) -> Finding:
    twitch = setup.config.twitch
    if not twitch.channel:
        demo = " (demo chat feeds the queue)" if setup.config.demo_chat_on else ""
        return Finding(
            "twitch",
            "off",
            f"Twitch is off{demo}",
            "set [twitch] channel and client_id in config.toml and "
            f"{env_names('twitch_client_secret')[0]}",
        )
    if not twitch.client_id:
        return Finding(
            "twitch",
            "fail",
            f"channel {twitch.channel!r} is set but [twitch] client_id is empty",
            "register an app at https://dev.twitch.tv/console and set [twitch] client_id",
        )
    if "twitch_client_secret" not in setup.secret_origin:
        return Finding(
            "twitch",
            "fail",
            f"channel {twitch.channel!r}: the client secret is not set",
            f"set {env_names('twitch_client_secret')[0]}",
        )
    return Finding("twitch", "ok", f"channel {twitch.channel!r}, client id and secret set")
