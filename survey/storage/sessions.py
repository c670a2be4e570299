"""Server-side login sessions: one row per logged-in browser, keyed by a hash of its session id."""

from __future__ import annotations

from .db import transaction
from .migrations import now


def find_session(db, id_hash: str) -> tuple[int, str] | None:
    """(user id, last seen at) of a session, else None."""
    row = db.execute(
        "SELECT user_id, last_seen_at FROM sessions WHERE id_hash = ?", [id_hash]
    ).fetchone()
    return (row[0], row[1]) if row else None


def touch_session(db, id_hash: str) -> None:
    """Note that the session is in use now."""
    with transaction(db):
        db.execute("UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?", [now(), id_hash])


def start_session_row(db, id_hash: str, user_id: int, prune_before: str) -> None:
    """Record a new session, and forget sessions idle since before `prune_before` (they are over)."""
    with transaction(db):
        stamp = now()
        db.execute("DELETE FROM sessions WHERE last_seen_at < ?", [prune_before])
        db.execute(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
            [id_hash, user_id, stamp, stamp],
        )


def delete_session(db, id_hash: str) -> None:
    with transaction(db):
        db.execute("DELETE FROM sessions WHERE id_hash = ?", [id_hash])


def end_user_sessions(db, user_id: int, except_id_hash: str | None = None) -> int:
    """End every session of a user (but the one named, if any); return how many were ended."""
    with transaction(db):
        cursor = db.execute(
            "DELETE FROM sessions WHERE user_id = ? AND id_hash IS NOT ?",
            [user_id, except_id_hash],
        )
    return cursor.rowcount
