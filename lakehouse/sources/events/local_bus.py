"""``local://<dir>``: an embedded, durable queue in ``<dir>/queue.sqlite``.

SQLite in WAL mode with ``synchronous=FULL``: a publish is on disk when it returns, and a
killed process loses nothing. A receive leases messages (``visible_at`` moves to the end of the
visibility timeout, a fresh receipt is drawn) in one transaction, so concurrent consumers in
any number of processes never get the same delivery; an un-acknowledged message becomes
visible again when its lease expires. Ack deletes by ``(id, receipt)``: a stale receipt (the
lease expired and the message was delivered again) deletes nothing.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from lakehouse.sources.events.bus import Bus, BusUnavailable, Message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT    NOT NULL UNIQUE,
    body       BLOB    NOT NULL,
    sent_at    REAL    NOT NULL,
    visible_at REAL    NOT NULL,
    receipt    TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (visible_at, seq);
"""
_POLL = 0.05


class LocalBus(Bus):
    max_message_bytes = 1024 * 1024

    def __init__(self, directory: str | Path, url: str | None = None):
        self.directory = Path(directory)
        self.url = url or f"local://{self.directory}"
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        return self.directory / "queue.sqlite"

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
                conn.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise BusUnavailable(
                    f"event bus {self.url}: cannot open {self.path}: {exc}"
                ) from exc
            self._conn = conn
        return self._conn

    def _transaction(self, fn):
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    def publish(self, bodies: Iterable[bytes]) -> int:
        bodies = list(bodies)
        self._check_sizes(bodies)
        now = time.time()
        rows = [(uuid.uuid4().hex, sqlite3.Binary(b), now, now) for b in bodies]
        self._transaction(
            lambda conn: conn.executemany(
                "INSERT INTO messages (id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)", rows
            )
        )
        return len(rows)

    def _lease(self, max_messages: int, visibility_timeout: float) -> list[Message]:
        def lease(conn: sqlite3.Connection) -> list[Message]:
            now = time.time()
            receipt = uuid.uuid4().hex
            rows = conn.execute(
                "UPDATE messages SET visible_at = ?, receipt = ? || ':' || seq, "
                "attempts = attempts + 1 WHERE seq IN (SELECT seq FROM messages "
                "WHERE visible_at <= ? ORDER BY visible_at, seq LIMIT ?) "
                "RETURNING seq, id, body, receipt, attempts",
                (now + visibility_timeout, receipt, now, max_messages),
            ).fetchall()
            rows.sort()
            return [Message(r[1], r[3], bytes(r[2]), r[4]) for r in rows]

        return self._transaction(lease)

    def receive(
        self, max_messages: int = 10, visibility_timeout: float = 60, wait_seconds: float = 0
    ) -> list[Message]:
        deadline = time.monotonic() + wait_seconds
        while True:
            messages = self._lease(max_messages, visibility_timeout)
            if messages or time.monotonic() >= deadline:
                return messages
            time.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))

    def ack(self, messages: Sequence[Message]) -> int:
        if not messages:
            return 0
        pairs = [(m.id, m.receipt) for m in messages]

        def delete(conn: sqlite3.Connection) -> int:
            before = conn.total_changes
            conn.executemany("DELETE FROM messages WHERE id = ? AND receipt = ?", pairs)
            return conn.total_changes - before

        return self._transaction(delete)

    def pending(self) -> int:
        with self._lock:
            (n,) = (
                self._connection()
                .execute("SELECT count(*) FROM messages WHERE visible_at <= ?", (time.time(),))
                .fetchone()
            )
        return n

    def in_flight(self) -> int:
        with self._lock:
            (n,) = (
                self._connection()
                .execute("SELECT count(*) FROM messages WHERE visible_at > ?", (time.time(),))
                .fetchone()
            )
        return n

    def verify(self) -> None:
        self.pending()

    def create(self) -> None:
        self.verify()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
