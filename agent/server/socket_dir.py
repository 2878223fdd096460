"""Where the control socket is born: a private directory, no stale socket, no impostor."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import struct
from pathlib import Path

from agent.protocol.endpoint import runtime_dir


class ServerError(Exception):
    """The control socket cannot be opened; the message says what to do."""


async def prepare_socket_path(path: Path) -> None:
    """Make sure the socket's directory is private and no live agent already owns ``path``."""
    _private_directory(path.parent)
    if not path.exists() and not path.is_symlink():
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise ServerError(f"{path} exists and is not a socket: remove it or choose another path")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), 1.0)
    except ConnectionRefusedError:
        path.unlink()  # nobody listens: left over from an agent that died
        return
    except (OSError, TimeoutError) as exc:
        raise ServerError(
            f"something holds {path} but does not answer ({exc or 'timed out'}):"
            " stop the old agent, or remove the socket if you are sure it is dead"
        ) from None
    writer.close()
    raise ServerError(
        f"an agent is already running at {path}: attach to it with `airi tui`, or stop it first"
    )


def _private_directory(directory: Path) -> None:
    """Create the directory 0700; an existing one must be ours and not writable by others.

    Only our own runtime directory is tightened in place: changing the mode of a directory
    the streamer chose (their home, a shared folder) would be a surprise.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = directory.stat()
    except OSError as exc:
        raise ServerError(
            f"cannot create {directory} for the control socket: {exc.strerror}"
        ) from None
    if not stat.S_ISDIR(info.st_mode):
        raise ServerError(f"{directory} is not a directory: choose another [control] socket")
    if info.st_uid != os.getuid():
        raise ServerError(f"{directory} belongs to another user: choose another [control] socket")
    mode = stat.S_IMODE(info.st_mode)
    if directory == runtime_dir() and mode & 0o077:
        os.chmod(directory, 0o700)
    elif mode & 0o022:
        raise ServerError(
            f"{directory} is writable by other users (mode {mode:04o}), who could replace the"
            " socket: put [control] socket in a private directory"
        )


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end of a unix socket (Linux), if known."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def inode_of(path: Path) -> int | None:
    try:
        return path.lstat().st_ino
    except OSError:
        return None
