"""The health probe: a real write, so a database that can be read but not written is not healthy."""

from __future__ import annotations

from .db import transaction
from .migrations import now


def record_check(db) -> None:
    """Upsert the one `health` row in a write transaction; raises sqlite3.Error when that fails."""
    with transaction(db):
        db.execute(
            "INSERT INTO health (id, checked_at) VALUES (1, ?)"
            " ON CONFLICT(id) DO UPDATE SET checked_at = excluded.checked_at",
            [now()],
        )
