"""Survey rounds: which questionnaire version, which instruments, when open."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from ..i18n import _
from .db import transaction
from .migrations import now


class RoundError(ValueError):
    pass


def _decode(row: dict | None) -> dict | None:
    if row is None:
        return None
    row = dict(row)
    row["instruments"] = json.loads(row["instruments"])
    return row


def get_round(db, round_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM rounds WHERE id = ?", [round_id]))
    return _decode(rows[0]) if rows else None


def list_rounds(db) -> list[dict]:
    sql = """
        SELECT rounds.*,
               (SELECT count(*) FROM responses WHERE round_id = rounds.id) AS responses,
               (SELECT count(*) FROM responses WHERE round_id = rounds.id
                  AND status IN ('submitted', 'validated')) AS submitted
        FROM rounds ORDER BY created_at DESC, id DESC
    """
    return [_decode(row) for row in db.query(sql)]


def current_round(db) -> dict | None:
    """The most recently created open round, else the most recent round."""
    rows = list(
        db.query(
            "SELECT * FROM rounds ORDER BY status = 'open' DESC, created_at DESC, id DESC LIMIT 1"
        )
    )
    return _decode(rows[0]) if rows else None


def create_round(
    db,
    round_id: str,
    questionnaire,
    *,
    title: str | None = None,
    instruments: list[str] | None = None,
    opens_on: str | None = None,
    closes_on: str | None = None,
    previous_round: str | None = None,
    status: str = "open",
    created_at: str | None = None,
) -> dict:
    codes = [i.code for i in questionnaire.instruments]
    instruments = instruments or codes
    unknown = [c for c in instruments if c not in codes]
    if unknown:
        raise RoundError(
            _(
                "unknown instrument(s) %(codes)s; valid: %(valid)s",
                codes=", ".join(unknown),
                valid=", ".join(codes),
            )
        )
    if not round_id or not all(ch.isalnum() or ch in "-_." for ch in round_id):
        raise RoundError(
            _(
                "round id '%(id)s' may contain only letters, digits, '-', '_' and '.'",
                id=round_id,
            )
        )
    if get_round(db, round_id):
        raise RoundError(_("round '%(id)s' already exists", id=round_id))
    if previous_round and not get_round(db, previous_round):
        raise RoundError(_("previous round '%(id)s' does not exist", id=previous_round))
    with transaction(db):
        db.execute(
            "INSERT INTO rounds (id, title, questionnaire_id, questionnaire_version, instruments,"
            " opens_on, closes_on, status, previous_round, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                round_id,
                title or f"Self-assessment round {round_id}",
                questionnaire.id,
                questionnaire.version,
                json.dumps(instruments),
                opens_on,
                closes_on,
                status,
                previous_round,
                created_at or now(),
            ],
        )
    return get_round(db, round_id)


def ensure_default_round(db, questionnaire) -> dict:
    """Open a first round for a fresh database, so a newcomer has something to fill in."""
    existing = current_round(db)
    if existing:
        return existing
    year = datetime.now(UTC).year
    return create_round(db, str(year), questionnaire, title=f"Self-assessment {year}")


def set_round_status(db, round_id: str, status: str) -> None:
    if status not in ("open", "closed"):
        raise RoundError(_("status must be 'open' or 'closed'"))
    with transaction(db):
        db.execute("UPDATE rounds SET status = ? WHERE id = ?", [status, round_id])


def state_instruments(db, round_id: str, state_iso3: str) -> list[str]:
    """The instruments a State answers in a round (a per-State override, else the round's list)."""
    row = db.execute(
        "SELECT instruments FROM round_states WHERE round_id = ? AND state_iso3 = ?",
        [round_id, state_iso3],
    ).fetchone()
    if row:
        return json.loads(row[0])
    round_ = get_round(db, round_id)
    return round_["instruments"] if round_ else []


def set_state_instruments(db, round_id: str, state_iso3: str, instruments: list[str]) -> None:
    with transaction(db):
        db.execute(
            "INSERT INTO round_states (round_id, state_iso3, instruments) VALUES (?, ?, ?)"
            " ON CONFLICT(round_id, state_iso3) DO UPDATE SET instruments = excluded.instruments",
            [round_id, state_iso3, json.dumps(instruments)],
        )
