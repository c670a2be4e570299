"""Opening the SQLite database (WAL, foreign keys, busy timeout) and explicit transactions."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import sqlite_utils

from ..settings import setting

DEFAULT_INSTANCE = Path("instance")
DATABASE_FILE = "survey.db"


def instance_path() -> Path:
    """The instance folder: SURVEY_INSTANCE, else ./instance (see survey.settings)."""
    return Path(setting("INSTANCE_PATH") or DEFAULT_INSTANCE)


def database_path(explicit: str | os.PathLike | None = None) -> Path:
    """--db PATH, else SURVEY_DATABASE, else the instance default."""
    if explicit:
        return Path(explicit)
    env = setting("DATABASE")
    if env:
        return Path(env)
    return instance_path() / DATABASE_FILE


def connect(path: str | os.PathLike, *, migrate: bool = True) -> sqlite_utils.Database:
    """Open (creating if needed) the database with durable, concurrent-friendly settings.

    The connection is in autocommit mode: every multi-row write goes through `transaction()`,
    so nothing is left half-written and no library commits our transaction behind our back.
    """
    path = Path(path)
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    db = sqlite_utils.Database(conn)
    if migrate:
        from .migrations import migrate as run_migrations

        run_migrations(db)
    return db


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database):
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error. Nested use joins the outer one."""
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def database_file(db: sqlite_utils.Database) -> str:
    """The path of the main database file of a connection ('' for an in-memory database)."""
    return db.execute("PRAGMA database_list").fetchone()[2]


# SQLite's soft heap limit is one per process; bounded_memory() lowers it while any caller needs
# it and puts the previous value back when the last one leaves.
_heap_lock = threading.Lock()
_heap_users = 0
_heap_previous = 0

# What a whole-round export lets SQLite keep in memory: its caches and the temporary tables of
# the aggregate queries spill to temporary files beyond it (benchmarks/growth.py: the workbook
# then peaks at the same size whatever the number of States, and takes no longer).
EXPORT_HEAP_BYTES = 4 * 1024 * 1024


@contextlib.contextmanager
def bounded_memory(db: sqlite_utils.Database, limit_bytes: int | None = None):
    """Hold SQLite's memory near `limit_bytes` (bytes, the process-wide soft heap limit;
    EXPORT_HEAP_BYTES when None, no limit when 0) for the
    duration: page caches, materialized CTEs and sorters of big aggregates then spill to temporary
    files instead of growing with the data. Advisory (SQLite may exceed it briefly) and shared by
    every connection of the process; nested and concurrent users keep the lowest limit asked
    until the last one leaves, then the previous limit comes back."""
    global _heap_users, _heap_previous
    if limit_bytes is None:
        limit_bytes = EXPORT_HEAP_BYTES
    with _heap_lock:
        current = db.execute("PRAGMA soft_heap_limit").fetchone()[0]
        if _heap_users == 0:
            _heap_previous = current
        _heap_users += 1
        if limit_bytes and (current == 0 or limit_bytes < current):
            db.execute(f"PRAGMA soft_heap_limit = {int(limit_bytes)}")
    try:
        yield
    finally:
        with _heap_lock:
            _heap_users -= 1
            if _heap_users == 0:
                db.execute(f"PRAGMA soft_heap_limit = {int(_heap_previous)}")
