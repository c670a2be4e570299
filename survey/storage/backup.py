"""Online backups with SQLite's backup API, and restores that check the file first."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .migrations import MIGRATIONS

REQUIRED_TABLES = {
    "states",
    "rounds",
    "users",
    "responses",
    "answers",
    "answer_history",
    "_migrations",
}


class BackupError(ValueError):
    pass


def backup(db_path: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy a live database (WAL readers and writers may continue) into a new file."""
    target = Path(target)
    if target.exists():
        raise BackupError(
            f"{target} already exists; choose a new file name (a backup never overwrites)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(str(db_path), timeout=30)
    partial = target.with_name(target.name + ".partial")
    try:
        dest = sqlite3.connect(str(partial))
        with dest:
            source.backup(dest, pages=1024)
        dest.execute("PRAGMA journal_mode = DELETE")
        dest.close()
    finally:
        source.close()
    check_backup(partial)
    partial.rename(target)
    return target


def check_backup(path: str | os.PathLike) -> dict:
    """Raise BackupError unless the file is an intact SQLite database of this schema."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise BackupError(f"{path} is not an SQLite database")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise BackupError(f"{path} is damaged: {result}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        missing = REQUIRED_TABLES - tables
        if missing:
            raise BackupError(
                f"{path} is not a survey database: tables {', '.join(sorted(missing))} are missing"
            )
        applied = {r[0] for r in conn.execute("SELECT name FROM _migrations")}
        known = {name for name, _ in MIGRATIONS}
        if applied - known:
            raise BackupError(
                f"{path} comes from a newer version of survey (migrations {', '.join(sorted(applied - known))}); upgrade first"
            )
        counts = {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("responses", "answers", "users")
        }
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as a database: {exc}") from None
    finally:
        conn.close()
    return counts


def restore(source: str | os.PathLike, db_path: str | os.PathLike) -> dict:
    """Replace the database with a checked backup; the current one is kept as <name>.before-restore."""
    counts = check_backup(source)
    db_path = Path(db_path)
    if db_path.exists():
        keep = db_path.with_name(db_path.name + ".before-restore")
        if keep.exists():
            keep.unlink()
        backup(db_path, keep)
    src = sqlite3.connect(f"file:{Path(source)}?mode=ro", uri=True)
    dest = sqlite3.connect(str(db_path), timeout=30)
    try:
        with dest:
            src.backup(dest)
    finally:
        src.close()
        dest.close()
    return counts
