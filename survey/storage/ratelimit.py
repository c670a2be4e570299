"""Rate-limit counters in the survey database: a `limits` storage backend for `sqlite:///PATH`.

The `limits` library (the core of Flask-Limiter) counts hits in a pluggable storage chosen by
URI: `memory://` (one process only), `redis://`, `memcached://`, `mongodb://`. This module adds
`sqlite:///PATH` (SQLAlchemy's spelling: three slashes then a relative path, four for an absolute
one), which keeps the counters in the `rate_limits` table of a survey database (migration
0006). Every gunicorn worker and every restart then sees the same counts without another
service to run. Only the fixed-window strategy is supported.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

from limits.storage import Storage

SCHEME = "sqlite"


def storage_uri(database: str | os.PathLike) -> str:
    """The `sqlite:///...` URI of the rate-limit counters kept in `database` (a file path)."""
    return f"{SCHEME}:///{os.path.abspath(database)}"


class SQLiteStorage(Storage):
    """Fixed-window counters in the `rate_limits` table: key, count, expiry (Unix seconds).

    Each thread of each process opens its own connection on first use, so a storage created
    before gunicorn forks never shares a connection with a worker. Expired rows are deleted by
    the next increment, so the table holds only live windows.
    """

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options) -> None:
        prefix = f"{SCHEME}:///"
        if not uri.startswith(prefix) or uri == prefix:
            raise ValueError(
                f"cannot read the rate-limit storage {uri!r}: write sqlite:///relative/path.db "
                "or sqlite:////absolute/path.db"
            )
        self.path = uri[len(prefix) :]
        self._local = threading.local()
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            from .db import connect

            # Migrations run here too, so the table exists in a database named only by the URI.
            conn = connect(self.path).conn
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add `amount` to `key`'s count, starting a new `expiry`-second window if none is live;
        return the count in the window."""
        now = time.time()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM rate_limits WHERE expires_at <= ?", [now])
            conn.execute(
                "INSERT INTO rate_limits (key, count, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET count = count + excluded.count",
                [key, amount, now + expiry],
            )
            # Not RETURNING: that needs SQLite 3.35, newer than some supported distributions.
            (count,) = conn.execute("SELECT count FROM rate_limits WHERE key = ?", [key]).fetchone()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return count

    def get(self, key: str) -> int:
        """The count of `key` in its live window, 0 if none."""
        row = (
            self._conn()
            .execute(
                "SELECT count FROM rate_limits WHERE key = ? AND expires_at > ?", [key, time.time()]
            )
            .fetchone()
        )
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        """When `key`'s window ends (Unix seconds); now if it has none."""
        now = time.time()
        row = (
            self._conn()
            .execute(
                "SELECT expires_at FROM rate_limits WHERE key = ? AND expires_at > ?", [key, now]
            )
            .fetchone()
        )
        return row[0] if row else now

    def check(self) -> bool:
        """True when the database answers."""
        try:
            self._conn().execute("SELECT 1 FROM rate_limits LIMIT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int:
        """Forget every counter; return how many there were."""
        return self._conn().execute("DELETE FROM rate_limits").rowcount

    def clear(self, key: str) -> None:
        """Forget `key`'s counter."""
        self._conn().execute("DELETE FROM rate_limits WHERE key = ?", [key])
