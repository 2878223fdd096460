"""Persistence: SQLite in WAL mode, owned by one dedicated thread.

Rows are buffered on the event loop and written in batches (``flush``), so a chat flood costs
one transaction per tick rather than one per line. WAL with ``synchronous=NORMAL`` survives the
agent being SIGKILLed (committed transactions are in the WAL file); a clean stop checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from agent.protocol.messages import Action, ChatMessage

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BUFFERED = 100_000
"""Chat rows kept in memory while the database cannot be written."""
BUSY_TIMEOUT_MS = 1000
"""How long a write waits for another process's lock (in the store's thread, not the loop)."""

MIGRATIONS: list[str] = [
    # 1: the chat log and the action log. Chat is deduplicated before it is stored (a
    # unique index would double the cost of every insert during a raid).
    """
    CREATE TABLE chat_log (
        seq INTEGER PRIMARY KEY,
        platform TEXT NOT NULL,
        message_id TEXT NOT NULL,
        author TEXT NOT NULL,
        text TEXT NOT NULL,
        ts REAL NOT NULL,
        badges TEXT NOT NULL DEFAULT '',
        demo INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE action_log (
        seq INTEGER PRIMARY KEY,
        action_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        source TEXT NOT NULL,
        state TEXT NOT NULL,
        ts REAL NOT NULL,
        error TEXT NOT NULL DEFAULT ''
    );
    """,
    # 2: the action queue survives a crash: run order, priority, approval flags, turns.
    """
    ALTER TABLE action_log ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE action_log ADD COLUMN ord REAL NOT NULL DEFAULT 0;
    ALTER TABLE action_log ADD COLUMN flagged TEXT NOT NULL DEFAULT '';
    ALTER TABLE action_log ADD COLUMN turn TEXT NOT NULL DEFAULT '';
    CREATE INDEX action_log_unfinished ON action_log (state)
        WHERE state IN ('pending', 'queued', 'running')
    """,
]
UNFINISHED = ("pending", "queued", "running")
_ACTION_COLUMNS = "action_id, kind, detail, source, state, ts, error, priority, ord, flagged, turn"


class StoreError(Exception):
    """The store cannot be used; the message says what to do."""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="airi-store")
        self._db: sqlite3.Connection | None = None
        self._chat: list[tuple[str, str, str, str, float, str, int]] = []
        self._actions: dict[str, tuple[object, ...]] = {}

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` with the database on the store's thread (for other tables' owners)."""
        db = self._require()
        try:
            return await self._run(lambda: fn(db))
        except sqlite3.Error as exc:
            raise StoreError(f"cannot use {self.path}: {exc}") from None

    async def open(self) -> int:
        """Open (creating it if needed) and migrate. Returns the schema version."""
        return await self._run(self._open)

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(
                f"cannot create {self.path.parent} for the store: {exc.strerror}:"
                " set [store] path in config.toml"
            ) from None
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            version = self._migrate(db)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"the store {self.path} cannot be opened ({exc}): move it aside to start afresh,"
                " or set [store] path in config.toml"
            ) from None
        self._db = db
        return version

    def _migrate(self, db: sqlite3.Connection) -> int:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > len(MIGRATIONS):
            raise StoreError(
                f"the store {self.path} has schema {version}, newer than this airi knows"
                f" ({len(MIGRATIONS)}): upgrade airi or set [store] path to another file"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            db.execute("BEGIN IMMEDIATE")
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
            db.execute("COMMIT")
            log.info("store %s migrated to schema %d", self.path, number)
        return len(MIGRATIONS)

    # --- writes (buffered) -----------------------------------------------------------------

    def add_chat(self, m: ChatMessage) -> None:
        badges = ",".join(m.badges)
        self._chat.append((m.platform, m.id, m.author, m.text, m.ts, badges, int(m.demo)))

    def put_action(self, a: Action) -> None:
        self._actions[a.id] = (
            a.id, a.kind, a.detail, a.source, a.state, a.ts, a.error,
            a.priority, a.order, a.flagged, a.turn,
        )  # fmt: skip

    @property
    def dirty(self) -> bool:
        return bool(self._chat or self._actions)

    async def flush(self) -> None:
        """Write the buffered rows in one transaction.

        On failure (a locked or full disk, say) the rows go back to the buffer for the next
        try, and StoreError says why; past ``MAX_BUFFERED`` rows the oldest chat is dropped.
        """
        if not self.dirty:
            return
        chat, actions = self._chat, self._actions
        self._chat, self._actions = [], {}
        try:
            await self._run(lambda: self._write(chat, list(actions.values())))
        except sqlite3.Error as exc:
            self._chat = (chat + self._chat)[-MAX_BUFFERED:]
            self._actions = {**actions, **self._actions}  # newer states win
            raise StoreError(f"cannot write to {self.path}: {exc}") from None

    def _write(
        self, chat: Sequence[tuple[object, ...]], actions: Sequence[tuple[object, ...]]
    ) -> None:
        db = self._require()
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO chat_log (platform, message_id, author, text, ts, badges, demo)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                chat,
            )
            db.executemany(
                f"INSERT INTO action_log ({_ACTION_COLUMNS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (action_id) DO UPDATE SET"
                " state = excluded.state, error = excluded.error, detail = excluded.detail,"
                " priority = excluded.priority, ord = excluded.ord, flagged = excluded.flagged",
                actions,
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    # --- reads -----------------------------------------------------------------------------

    async def recent_chat(self, limit: int) -> list[ChatMessage]:
        return await self._run(lambda: self._recent_chat(limit))

    def _recent_chat(self, limit: int) -> list[ChatMessage]:
        rows = self._require().execute(
            "SELECT message_id, platform, author, text, ts, badges, demo FROM chat_log"
            " ORDER BY seq DESC LIMIT ?",
            (limit,),
        )
        return [
            ChatMessage(
                id=r[0],
                platform=r[1],
                author=r[2],
                text=r[3],
                ts=r[4],
                badges=r[5].split(",") if r[5] else [],
                demo=bool(r[6]),
            )
            for r in reversed(rows.fetchall())
        ]

    async def recent_actions(self, limit: int) -> list[Action]:
        return await self._run(lambda: self._recent_actions(limit))

    def _recent_actions(self, limit: int) -> list[Action]:
        rows = self._require().execute(
            f"SELECT {_ACTION_COLUMNS} FROM action_log ORDER BY seq DESC LIMIT ?", (limit,)
        )
        return [_action(r) for r in reversed(rows.fetchall())]

    async def unfinished_actions(self) -> list[Action]:
        """Every action a crash may have left waiting or running, in the order they would run."""
        return await self._run(self._unfinished_actions)

    def _unfinished_actions(self) -> list[Action]:
        rows = self._require().execute(
            f"SELECT {_ACTION_COLUMNS} FROM action_log WHERE state IN {UNFINISHED}"
            " ORDER BY priority DESC, ord, seq"
        )
        return [_action(r) for r in rows.fetchall()]

    async def close(self) -> None:
        """Flush, checkpoint the WAL into the main file, and close."""
        try:
            if self._db is not None:
                await self.flush()
            await self._run(self._close)
        finally:
            self._thread.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    def _require(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db


def _action(r: Sequence[Any]) -> Action:
    return Action(
        id=r[0], kind=r[1], detail=r[2], source=r[3], state=r[4], ts=r[5], error=r[6],
        priority=r[7], order=r[8], flagged=r[9], turn=r[10],
    )  # fmt: skip
