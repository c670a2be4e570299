"""Responses (one per State and round), their answers, the append-only history, and status changes."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field

from ..i18n import _
from .db import transaction
from .migrations import now

STATUSES = ("draft", "submitted", "returned", "validated")
EDITABLE = ("draft", "returned")
TRANSITIONS = {
    ("draft", "submitted"),
    ("returned", "submitted"),
    ("submitted", "validated"),
    ("submitted", "returned"),
    ("validated", "returned"),
}


class WorkflowError(ValueError):
    pass


def encode(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def decode(text: str | None):
    return None if text is None else json.loads(text)


def get_response(db, response_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM responses WHERE id = ?", [response_id]))
    return rows[0] if rows else None


def find_response(db, round_id: str, state_iso3: str) -> dict | None:
    rows = list(
        db.query(
            "SELECT * FROM responses WHERE round_id = ? AND state_iso3 = ?", [round_id, state_iso3]
        )
    )
    return rows[0] if rows else None


def get_or_create_response(db, round_id: str, state_iso3: str) -> dict:
    existing = find_response(db, round_id, state_iso3)
    if existing:
        return existing
    stamp = now()
    with transaction(db):
        db.execute(
            "INSERT OR IGNORE INTO responses (round_id, state_iso3, status, created_at, updated_at)"
            " VALUES (?, ?, 'draft', ?, ?)",
            [round_id, state_iso3, stamp, stamp],
        )
    return find_response(db, round_id, state_iso3)


@dataclass
class Answer:
    value: object
    version: int
    updated_at: str
    updated_by: int | None
    updated_by_email: str | None = None


def load_answers(db, response_id: int, provision_ids=None) -> dict[str, dict[str, Answer]]:
    """Answers of a response: {provision_id: {question: Answer}}."""
    sql = (
        "SELECT a.provision_id, a.question, a.value, a.version, a.updated_at, a.updated_by, u.email"
        " FROM answers a LEFT JOIN users u ON u.id = a.updated_by WHERE a.response_id = ?"
    )
    params: list = [response_id]
    if provision_ids is not None:
        provision_ids = list(provision_ids)
        sql += f" AND a.provision_id IN ({', '.join('?' for _ in provision_ids)})"
        params += provision_ids
    out: dict[str, dict[str, Answer]] = defaultdict(dict)
    for pid, question, value, version, at, by, email in db.execute(sql, params):
        out[pid][question] = Answer(decode(value), version, at, by, email)
    return out


def compliance_answered(db, response_id: int) -> dict[str, dict]:
    """{provision_id: {"compliance": <stored JSON text>}} for provisions whose compliance is answered.

    For progress counts, which only need to know that an answer exists (no JSON decoding).
    """
    rows = db.execute(
        "SELECT provision_id, value FROM answers WHERE question = 'compliance' AND response_id = ?",
        [response_id],
    )
    return {pid: {"compliance": value} for pid, value in rows}


def answer_values(answers: dict[str, Answer]) -> dict:
    return {q: a.value for q, a in answers.items()}


@dataclass
class SaveResult:
    changed: list[str] = field(default_factory=list)
    conflicts: list[dict] = field(default_factory=list)


def save_provision(
    db,
    response_id: int,
    provision_id: str,
    values: dict,
    *,
    user_id: int | None,
    base_versions: dict[str, int] | None = None,
    source: str = "web",
) -> SaveResult:
    """Write the given answers of one provision in one transaction, recording each change.

    `values` maps question -> cleaned value (None clears). `base_versions` maps question -> the
    version the user started from (0 = it was unanswered). A question whose stored version moved on
    since, to a value different from the one being saved, is a conflict: it is not written and is
    returned so the user can choose; every other question is saved.
    """
    result = SaveResult()
    stamp = now()
    with transaction(db):
        current = {
            row[0]: (row[1], row[2])
            for row in db.execute(
                "SELECT question, value, version FROM answers WHERE response_id = ? AND provision_id = ?",
                [response_id, provision_id],
            )
        }
        for question, value in values.items():
            old_text, version = current.get(question, (None, 0))
            new_text = None if value is None else encode(value)
            if old_text == new_text:
                continue
            if (
                base_versions is not None
                and question in base_versions
                and base_versions[question] != version
            ):
                who = db.execute(
                    "SELECT a.updated_at, u.email FROM answers a LEFT JOIN users u ON u.id = a.updated_by"
                    " WHERE a.response_id = ? AND a.provision_id = ? AND a.question = ?",
                    [response_id, provision_id, question],
                ).fetchone()
                result.conflicts.append(
                    {
                        "question": question,
                        "theirs": decode(old_text),
                        "theirs_version": version,
                        "theirs_at": who[0] if who else None,
                        "theirs_by": who[1] if who else None,
                        "yours": value,
                    }
                )
                continue
            if new_text is None:
                db.execute(
                    "DELETE FROM answers WHERE response_id = ? AND provision_id = ? AND question = ?",
                    [response_id, provision_id, question],
                )
            else:
                db.execute(
                    "INSERT INTO answers (response_id, provision_id, question, value, version, updated_at, updated_by)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(response_id, provision_id, question) DO UPDATE SET"
                    " value = excluded.value, version = excluded.version,"
                    " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                    [response_id, provision_id, question, new_text, version + 1, stamp, user_id],
                )
            db.execute(
                "INSERT INTO answer_history (response_id, provision_id, question, old_value, new_value,"
                " changed_at, changed_by, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [response_id, provision_id, question, old_text, new_text, stamp, user_id, source],
            )
            result.changed.append(question)
        if result.changed:
            db.execute("UPDATE responses SET updated_at = ? WHERE id = ?", [stamp, response_id])
    return result


def history(db, response_id: int, provision_id: str | None = None) -> list[dict]:
    sql = (
        "SELECT h.*, u.email AS changed_by_email FROM answer_history h"
        " LEFT JOIN users u ON u.id = h.changed_by WHERE h.response_id = ?"
    )
    params: list = [response_id]
    if provision_id:
        sql += " AND h.provision_id = ?"
        params.append(provision_id)
    rows = []
    for row in db.query(sql + " ORDER BY h.id DESC", params):
        row["old_value"] = decode(row["old_value"])
        row["new_value"] = decode(row["new_value"])
        rows.append(row)
    return rows


def change_status(
    db, response_id: int, to_status: str, *, user_id: int | None, comment: str | None = None
) -> dict:
    with transaction(db):
        response = get_response(db, response_id)
        if response is None:
            raise WorkflowError("no such response")
        from_status = response["status"]
        if (from_status, to_status) not in TRANSITIONS:
            raise WorkflowError(
                _("A %(old)s response cannot become %(new)s.", old=_(from_status), new=_(to_status))
            )
        if to_status == "returned" and not (comment or "").strip():
            raise WorkflowError(
                _("Say what the State should change: a comment is required to return a response.")
            )
        stamp = now()
        fields = {"status": to_status, "updated_at": stamp}
        if to_status == "submitted":
            fields["submitted_at"] = stamp
        if to_status == "validated":
            fields["validated_at"] = stamp
        if to_status == "returned":
            fields["returned_comment"] = comment.strip()
        assignments = ", ".join(f"{k} = ?" for k in fields)
        db.execute(
            f"UPDATE responses SET {assignments} WHERE id = ?", [*fields.values(), response_id]
        )
        db.execute(
            "INSERT INTO response_events (response_id, from_status, to_status, comment, at, by_user)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [response_id, from_status, to_status, comment, stamp, user_id],
        )
    return get_response(db, response_id)


def events(db, response_id: int) -> list[dict]:
    return list(
        db.query(
            "SELECT e.*, u.email AS by_email FROM response_events e LEFT JOIN users u ON u.id = e.by_user"
            " WHERE response_id = ? ORDER BY e.id DESC",
            [response_id],
        )
    )


def previous_submitted(db, state_iso3: str, before_round: str) -> dict | None:
    """The State's most recent submitted or validated response in another round."""
    rows = list(
        db.query(
            "SELECT responses.* FROM responses JOIN rounds ON rounds.id = responses.round_id"
            " WHERE responses.state_iso3 = ? AND responses.round_id != ? AND responses.status IN ('submitted', 'validated')"
            " ORDER BY rounds.created_at DESC LIMIT 1",
            [state_iso3, before_round],
        )
    )
    return rows[0] if rows else None


def prefill_from(
    db, response_id: int, source_response_id: int, *, user_id: int | None, provision_ids
) -> int:
    """Copy another response's answers into an empty response (one transaction); return the count."""
    provision_ids = set(provision_ids)
    stamp = now()
    copied = 0
    with transaction(db):
        if db.execute(
            "SELECT 1 FROM answers WHERE response_id = ? LIMIT 1", [response_id]
        ).fetchone():
            raise WorkflowError(
                _("This response already has answers; pre-filling would overwrite them.")
            )
        rows = db.execute(
            "SELECT provision_id, question, value FROM answers WHERE response_id = ?",
            [source_response_id],
        ).fetchall()
        rows = [r for r in rows if r[0] in provision_ids]
        db.conn.executemany(
            "INSERT INTO answers (response_id, provision_id, question, value, version, updated_at, updated_by)"
            " VALUES (?, ?, ?, ?, 1, ?, ?)",
            [(response_id, p, q, v, stamp, user_id) for p, q, v in rows],
        )
        db.conn.executemany(
            "INSERT INTO answer_history (response_id, provision_id, question, old_value, new_value,"
            " changed_at, changed_by, source) VALUES (?, ?, ?, NULL, ?, ?, ?, 'prefill')",
            [(response_id, p, q, v, stamp, user_id) for p, q, v in rows],
        )
        source = get_response(db, source_response_id)
        db.execute(
            "UPDATE responses SET prefilled_from = ?, updated_at = ? WHERE id = ?",
            [source["round_id"], stamp, response_id],
        )
        copied = len(rows)
    return copied
