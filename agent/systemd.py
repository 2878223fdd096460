"""systemd integration without a library: the sd_notify protocol, and the agent's unit file.

``Notifier`` tells systemd (``Type=notify``) when the agent is ready, what it is doing, that
it is stopping, and that it is still alive (the watchdog). Outside systemd every call is a
no-op, and no call ever raises into the agent: a lost notification must not stop a stream.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

UNIT_NAME = "airi-agent.service"


class Notifier:
    """Sends sd_notify datagrams to ``$NOTIFY_SOCKET``; does nothing when it is unset."""

    def __init__(self, address: str | bytes | None, watchdog_usec: int | None = None) -> None:
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._socket: socket.socket | None = None
        self._failed = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for through the environment (or a no-op one)."""
        env = os.environ if env is None else env
        return cls(_socket_address(env.get("NOTIFY_SOCKET", "")), _watchdog_usec(env))

    @property
    def enabled(self) -> bool:
        return self._address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between ``watchdog()`` calls: half of systemd's WatchdogSec, or None."""
        if self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self, status: str = "") -> None:
        self._send("READY=1", f"STATUS={status}" if status else "")

    def status(self, text: str) -> None:
        self._send(f"STATUS={text}")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, *fields: str) -> None:
        if self._address is None:
            return
        message = "\n".join(f.replace("\n", " ") for f in fields if f).encode()
        try:
            if self._socket is None:
                self._socket = socket.socket(
                    socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC
                )
                # A full socket buffer must never block the event loop: drop the datagram.
                self._socket.setblocking(False)
            self._socket.sendto(message, self._address)
        except OSError as exc:
            if not self._failed:
                self._failed = True
                log.debug(
                    "sd_notify to %r failed (%s); further failures are silent", self._address, exc
                )


def _socket_address(value: str) -> str | bytes | None:
    """A path, or ``@name`` for Linux's abstract namespace; None for unset or unsupported."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    if value:
        log.debug("NOTIFY_SOCKET=%r is not a unix socket address; not notifying", value)
    return None


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    """WATCHDOG_USEC, if it is meant for this process (WATCHDOG_PID, when set, names us)."""
    pid = env.get("WATCHDOG_PID", "")
    if pid and pid != str(os.getpid()):
        return None
    usec = env.get("WATCHDOG_USEC", "")
    return int(usec) if usec.isdigit() and int(usec) > 0 else None


# --- the unit file -------------------------------------------------------------------------


def unit_text(
    exec_start: list[str],
    user: bool,
    environment: Mapping[str, str] | None = None,
    run_as: tuple[str, int] | None = None,
) -> str:
    """A unit that runs the agent under systemd's supervision (notify + watchdog).

    ``user``: a ``systemctl --user`` unit. Otherwise a system unit, run as ``run_as`` (name,
    uid) after that user's runtime dir exists, since the control socket lives there.
    """
    if not exec_start or not os.path.isabs(exec_start[0]):
        raise ValueError(f"ExecStart needs an absolute program path, got {exec_start!r}")
    unit = ["[Unit]", "Description=airi agent (AI co-host for a live stream)"]
    if not user:
        unit += ["Wants=network-online.target", "After=network-online.target"]
    if run_as and not user:
        runtime = f"user-runtime-dir@{run_as[1]}.service"
        unit += [f"Requires={runtime}", f"After={runtime}"]
    environment = environment or {}
    service = [
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        "ExecStart=" + " ".join(_exec_word(word) for word in exec_start),
        *(f"Environment={_quoted(f'{k}={v}', dollar=False)}" for k, v in environment.items()),
        *([f"User={run_as[0]}"] if run_as and not user else []),
        "Restart=on-failure",
        "RestartSec=2",
        "WatchdogSec=30",
        "TimeoutStopSec=15",
    ]
    install = ["", "[Install]", f"WantedBy={'default.target' if user else 'multi-user.target'}"]
    return "\n".join(unit + service + install) + "\n"


def _exec_word(word: str) -> str:
    """One ExecStart argument, quoted so systemd reads it back verbatim."""
    plain = word and not any(c in word for c in " \t\n\"'\\;%$")
    return word if plain else _quoted(word, dollar=True)


def _quoted(text: str, *, dollar: bool) -> str:
    # systemd unescapes C-style escapes inside quotes, expands %specifiers everywhere and,
    # in ExecStart only, $VARIABLES: each must be escaped to reach the program unchanged.
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\t", "\\t")
        .replace("%", "%%")
    )
    if dollar:
        escaped = escaped.replace("$", "$$")
    return f'"{escaped}"'
