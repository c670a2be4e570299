"""Responses (one per State and round), their answers, the append-only history, and status changes."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from ..i18n import N_, _
from .db import transaction
from .migrations import now

STATUSES = ("draft", "submitted", "returned", "validated")
# What each status is called on pages and in files (translated where shown).
STATUS_LABELS = {
    "not started": N_("not started"),
    "draft": N_("draft"),
    "submitted": N_("submitted"),
    "returned": N_("returned"),
    "validated": N_("validated"),
}
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
    """A stored answer's value. Most are choice codes: a JSON string without a backslash is its
    own text between the quotes (encode() escapes every quote and control character with one),
    so those skip the JSON parser."""
    if text is None:
        return None
    if len(text) > 1 and text[0] == '"' and text[-1] == '"' and "\\" not in text:
        return text[1:-1]
    return json.loads(text)


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


def _only_provisions(provision_ids, column: str) -> tuple[str, list]:
    """SQL to append to a WHERE clause limiting rows to the given provisions (all when None);
    `column` is a fixed column name, never user input."""
    if provision_ids is None:
        return "", []
    provision_ids = list(provision_ids)
    return f" AND {column} IN ({', '.join('?' for _ in provision_ids)})", provision_ids


def load_answers(db, response_id: int, provision_ids=None) -> dict[str, dict[str, Answer]]:
    """Answers of a response: {provision_id: {question: Answer}}."""
    sql = (
        "SELECT a.provision_id, a.question, a.value, a.version, a.updated_at, a.updated_by, u.email"
        " FROM answers a LEFT JOIN users u ON u.id = a.updated_by WHERE a.response_id = ?"
    )
    where, params = _only_provisions(provision_ids, "a.provision_id")
    out: dict[str, dict[str, Answer]] = defaultdict(dict)
    for pid, question, value, version, at, by, email in db.execute(
        sql + where, [response_id, *params]
    ):
        out[pid][question] = Answer(decode(value), version, at, by, email)
    return out


def response_values(
    db, response_id: int, provision_ids=None, *, texts: bool = True
) -> dict[str, dict]:
    """{provision_id: {question: value}}: the answers of a response, decoded (load_answers
    without the version, author and time of each), for all provisions or only
    `provision_ids`. With `texts` False, long texts come as a placeholder: progress, relevance
    and scores need to know that they exist, not what they say."""
    value = (
        "value"
        if texts
        else "CASE WHEN length(value) > 80 AND substr(value, 1, 1) = '\"'"
        " THEN '\"…\"' ELSE value END"
    )
    where, params = _only_provisions(provision_ids, "provision_id")
    out: dict[str, dict] = defaultdict(dict)
    for pid, question, text in db.execute(
        f"SELECT provision_id, question, {value} FROM answers WHERE response_id = ?" + where,
        [response_id, *params],
    ):
        out[pid][question] = decode(text)
    return out


def progress_values(db, response_id: int, provision_ids=None) -> dict[str, dict]:
    """response_values with long texts as a placeholder (for progress counts and scores)."""
    return response_values(db, response_id, provision_ids, texts=False)


def provisions_changed_since(db, response_id: int, after_id: int) -> set[str]:
    """Provisions with a history row newer than `after_id` (see last_change_id)."""
    return {
        row[0]
        for row in db.execute(
            "SELECT DISTINCT provision_id FROM answer_history WHERE response_id = ? AND id > ?",
            [response_id, after_id],
        )
    }


def answer_values(answers: dict[str, Answer]) -> dict:
    return {q: a.value for q, a in answers.items()}


def lock_for_answers(db, response_id: int) -> tuple[str, str] | None:
    """(response status, round status) read inside the caller's write transaction, or None."""
    row = db.execute(
        "SELECT r.status, rounds.status FROM responses r JOIN rounds ON rounds.id = r.round_id"
        " WHERE r.id = ?",
        [response_id],
    ).fetchone()
    return (row[0], row[1]) if row else None


def stored_texts(db, response_id: int, provision_ids) -> dict[tuple[str, str], tuple[str, int]]:
    """{(provision_id, question): (stored JSON text, version)} for the given provisions."""
    where, params = _only_provisions(provision_ids, "provision_id")
    rows = db.execute(
        "SELECT provision_id, question, value, version FROM answers WHERE response_id = ?" + where,
        [response_id, *params],
    )
    return {(pid, question): (value, version) for pid, question, value, version in rows}


def answer_authors(db, response_id: int, keys) -> dict[tuple[str, str], tuple[str, str | None]]:
    """{(provision_id, question): (updated_at, email of who last changed it)} for `keys`."""
    keys = set(keys)
    if not keys:
        return {}
    where, params = _only_provisions({pid for pid, _q in keys}, "a.provision_id")
    rows = db.execute(
        "SELECT a.provision_id, a.question, a.updated_at, u.email FROM answers a"
        " LEFT JOIN users u ON u.id = a.updated_by WHERE a.response_id = ?" + where,
        [response_id, *params],
    )
    return {(pid, q): (at, email) for pid, q, at, email in rows if (pid, q) in keys}


@dataclass(frozen=True)
class AnswerWrite:
    """One answer change as stored: JSON texts (None = no answer) and the version it replaces."""

    provision_id: str
    question: str
    old_text: str | None
    new_text: str | None
    old_version: int


def write_answers(
    db,
    response_id: int,
    writes: list[AnswerWrite],
    *,
    user_id: int | None,
    source: str,
    save_id: str,
    stamp: str,
) -> None:
    """Apply the writes and append one history row each; the caller holds the transaction."""
    upserts = [w for w in writes if w.new_text is not None]
    deletes = [w for w in writes if w.new_text is None]
    db.conn.executemany(
        "INSERT INTO answers (response_id, provision_id, question, value, version, updated_at, updated_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(response_id, provision_id, question) DO UPDATE SET"
        " value = excluded.value, version = excluded.version,"
        " updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        [
            (response_id, w.provision_id, w.question, w.new_text, w.old_version + 1, stamp, user_id)
            for w in upserts
        ],
    )
    db.conn.executemany(
        "DELETE FROM answers WHERE response_id = ? AND provision_id = ? AND question = ?",
        [(response_id, w.provision_id, w.question) for w in deletes],
    )
    db.conn.executemany(
        "INSERT INTO answer_history (response_id, provision_id, question, old_value, new_value,"
        " changed_at, changed_by, source, save_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (response_id, w.provision_id, w.question, w.old_text, w.new_text, stamp, user_id)
            + (source, save_id)
            for w in writes
        ],
    )
    if writes:
        db.execute("UPDATE responses SET updated_at = ? WHERE id = ?", [stamp, response_id])


def saved_changes(db, response_id: int, save_id: str) -> list[dict]:
    """The history rows of one save: provision_id, question, old/new values (decoded), source."""
    rows = []
    for row in db.query(
        "SELECT provision_id, question, old_value, new_value, source, changed_by, changed_at"
        " FROM answer_history WHERE response_id = ? AND save_id = ? ORDER BY id",
        [response_id, save_id],
    ):
        row["old_value"] = decode(row["old_value"])
        row["new_value"] = decode(row["new_value"])
        rows.append(row)
    return rows


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


def has_answers(db, response_id: int) -> bool:
    return (
        db.execute("SELECT 1 FROM answers WHERE response_id = ? LIMIT 1", [response_id]).fetchone()
        is not None
    )


def mark_prefilled(db, response_id: int, source_round_id: str, stamp: str) -> None:
    db.execute(
        "UPDATE responses SET prefilled_from = ?, updated_at = ? WHERE id = ?",
        [source_round_id, stamp, response_id],
    )


def responses_by_state(db, round_id: str) -> list[dict]:
    """Every State with its response in a round (status 'not started' when it has none), by name.

    Each row is the State's columns plus response_id, status, updated_at, submitted_at and
    `answered`, the number of provisions whose compliance is answered.
    """
    return list(
        db.query(
            """
            SELECT states.*, r.id AS response_id, coalesce(r.status, 'not started') AS status, r.updated_at,
                   r.submitted_at, (SELECT count(DISTINCT provision_id) FROM answers a
                                    WHERE a.response_id = r.id AND a.question = 'compliance') AS answered
            FROM states LEFT JOIN responses r ON r.state_iso3 = states.iso3 AND r.round_id = ?
            ORDER BY states.name_en
            """,
            [round_id],
        )
    )


def last_change_id(db, response_id: int) -> int:
    """The id of the response's latest history row (0 if none): changes whenever an answer does."""
    row = db.execute(
        "SELECT max(id) FROM answer_history WHERE response_id = ?", [response_id]
    ).fetchone()
    return row[0] or 0


def compliance_codes(db, response_id: int, provision_ids) -> dict[str, str]:
    """{provision_id: compliance code} for those of the given provisions that have one."""
    where, params = _only_provisions(provision_ids, "provision_id")
    rows = db.execute(
        "SELECT provision_id, value FROM answers WHERE question = 'compliance'"
        " AND response_id = ?" + where,
        [response_id, *params],
    )
    return {pid: json.loads(value) for pid, value in rows}
