"""The TCP control port's token: read from a private file, or created in one."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from agent.server.socket_dir import ServerError


def load_or_create_token(path: Path) -> str:
    """The token in ``path`` (which must be a 0600 file of ours), or a new one written there."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return _create(path)
    except OSError as exc:
        raise ServerError(f"cannot read the token file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ServerError(f"the token file {path} is not a regular file: set [control] token_file")
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise ServerError(
            f"the token file {path} must be yours and private: run `chmod 600 {path}`"
        )
    token = path.read_text(encoding="utf-8", errors="replace").strip()
    if len(token) < 16:
        raise ServerError(f"the token in {path} is shorter than 16 characters: delete the file")
    return token


def _create(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ServerError(f"cannot create the token file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
