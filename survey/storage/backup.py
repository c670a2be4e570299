"""Backups that finish while the app keeps writing, and restores that check the file first.

A backup is SQLite's backup API copying every page in one step (`pages=-1`): one read snapshot,
so writers carry on in the write-ahead log and the copy is the database as of that moment. (In
small steps, as before, the copy restarts after every write and under steady saves never
finishes; `VACUUM INTO` also works in one snapshot, but it rebuilds every table and index, and
its copy took about twice as long under load: benchmarks/backup_load.py.) The copy is written
under a hidden temporary name next to the target, checked with `PRAGMA integrity_check`, flushed
to disk and only then given its final name; on any failure, Ctrl-C or SIGTERM the temporary file
is removed.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from dataclasses import dataclass
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
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: where it is, its size in bytes, and how long it took in seconds."""

    path: Path
    size: int
    seconds: float

    def describe(self) -> str:
        """One line for people: 'Backup written to F: 214.9 MB in 2.1 s (integrity check ok)'."""
        return (
            f"Backup written to {self.path}: {self.size / 1e6:.1f} MB in {self.seconds:.1f} s "
            "(integrity check ok)"
        )


def _temporary_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _remove_abandoned(target: Path) -> None:
    """Remove temporary files of earlier backups to `target` whose process no longer exists.

    Only a process killed outright (SIGKILL, power loss) leaves one; the pid in the name says
    whose it was, so a backup still running in another process is never touched.
    """
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.(\d+)\.tmp$")
    for leftover in target.parent.iterdir():  # not glob: the name may contain [ or *
        match = pattern.match(leftover.name)
        if not match:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            _remove_with_companions(leftover)
        except PermissionError:  # a live process of another user
            continue


def _remove_with_companions(database: Path) -> None:
    """Remove a database file and any journal, -wal or -shm file SQLite made next to it."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


def _fsync(path: Path, *, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some platforms cannot open a directory; the file itself is synced
            return
        raise
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(db_path: str | os.PathLike, target: str | os.PathLike) -> BackupResult:
    """Copy the database at `db_path` into the new file `target`, consistently, while it is in use.

    Readers and writers of the live database carry on; the copy is the database as of the moment
    the copy's read snapshot began. Returns a BackupResult (path, size in bytes, seconds).
    Raises BackupError when `target` already exists (a backup never overwrites), when the source
    is missing or unreadable, or when the copy fails its integrity check; nothing is left behind
    at `target` or under a temporary name in those cases, nor on KeyboardInterrupt.
    """
    started = time.perf_counter()
    source_path = Path(db_path)
    target = Path(target)
    if target.exists():
        raise BackupError(
            f"{target} already exists; choose a new file name (a backup never overwrites)"
        )
    if not source_path.is_file():
        raise BackupError(f"no database at {source_path}")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(target)
    temporary = _temporary_name(target)
    _remove_with_companions(temporary)
    try:
        source = sqlite3.connect(str(source_path), timeout=30)
        copy = sqlite3.connect(str(temporary))
        try:
            source.backup(copy, pages=-1)  # all pages in one step: one consistent snapshot
            # A self-contained file: no -wal or -shm companions to lose when it is moved.
            copy.execute("PRAGMA journal_mode = DELETE")
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"cannot copy {source_path}: {exc}") from None
        finally:
            copy.close()
            source.close()
        check_backup(temporary)
        _fsync(temporary)
        _publish(temporary, target)
    except BaseException:
        _remove_with_companions(temporary)
        raise
    _fsync(target.parent, directory=True)
    return BackupResult(target, target.stat().st_size, time.perf_counter() - started)


def _publish(temporary: Path, target: Path) -> None:
    """Give the checked copy its final name, never replacing a file that appeared meanwhile."""
    try:
        os.link(temporary, target)  # fails if target exists, unlike rename
    except FileExistsError:
        raise BackupError(
            f"{target} already exists; choose a new file name (a backup never overwrites)"
        ) from None
    except OSError:  # a file system without hard links
        if target.exists():
            raise BackupError(
                f"{target} already exists; choose a new file name (a backup never overwrites)"
            ) from None
        os.replace(temporary, target)
        return
    temporary.unlink()


def _read_only_uri(path: Path) -> str:
    # as_uri() percent-encodes '#', '?' and '%', which a bare file: URI would misread.
    return path.resolve().as_uri() + "?mode=ro"


def check_backup(path: str | os.PathLike) -> dict:
    """Check that `path` is an intact SQLite database of this schema; return row counts.

    Returns {"responses": n, "answers": n, "users": n}. Raises BackupError when the file is
    missing, is not SQLite, fails `PRAGMA integrity_check`, lacks the survey tables, or was
    written by a newer version of survey.
    """
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise BackupError(f"{path} is not an SQLite database")
    conn = sqlite3.connect(_read_only_uri(path), uri=True)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
            raise BackupError(f"{path} is damaged (integrity check: {shown}); use another backup")
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
    """Replace the database at `db_path` with the checked backup `source`; return its row counts.

    The current database is first backed up to `<name>.before-restore` (replacing an older one).
    Raises BackupError, changing nothing, when `source` fails `check_backup`. Returns the counts
    of `check_backup`. Stop the app first: sessions and pages open during a restore see the
    database change under them.
    """
    counts = check_backup(source)
    db_path = Path(db_path)
    if db_path.exists():
        keep = db_path.with_name(db_path.name + ".before-restore")
        if keep.exists():
            keep.unlink()
        backup(db_path, keep)
    src = sqlite3.connect(_read_only_uri(Path(source)), uri=True)
    dest = sqlite3.connect(str(db_path), timeout=30)
    try:
        # All pages in one step, inside one write transaction on the destination.
        with dest:
            src.backup(dest, pages=-1)
    finally:
        src.close()
        dest.close()
    return counts
