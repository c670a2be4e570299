"""Named, idempotent schema migrations: each runs once, in order, in its own transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from .db import transaction

# A migration is SQL text, or a function of the database for data moves that need Python; both
# run inside the migration's transaction.
MIGRATIONS: list[tuple[str, str | Callable]] = [
    (
        "0001_initial",
        """
        CREATE TABLE states (
            iso3 TEXT PRIMARY KEY,
            iso2 TEXT NOT NULL,
            m49 INTEGER NOT NULL,
            name_en TEXT NOT NULL, name_fr TEXT, name_es TEXT, name_ru TEXT, name_zh TEXT, name_ar TEXT,
            un_regional_group TEXT NOT NULL,
            un_regional_group_also TEXT,
            m49_region TEXT NOT NULL,
            m49_subregion TEXT NOT NULL,
            m49_intermediate_region TEXT
        );
        CREATE TABLE rounds (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            questionnaire_id TEXT NOT NULL,
            questionnaire_version TEXT NOT NULL,
            instruments TEXT NOT NULL,              -- JSON list of instrument codes every State answers
            opens_on TEXT,
            closes_on TEXT,
            status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
            previous_round TEXT REFERENCES rounds(id),
            created_at TEXT NOT NULL
        );
        CREATE TABLE round_states (                 -- per-State override of the instruments answered
            round_id TEXT NOT NULL REFERENCES rounds(id),
            state_iso3 TEXT NOT NULL REFERENCES states(iso3),
            instruments TEXT NOT NULL,
            PRIMARY KEY (round_id, state_iso3)
        );
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            name TEXT,
            password_hash TEXT,
            role TEXT NOT NULL CHECK (role IN ('respondent', 'analyst', 'admin')),
            state_iso3 TEXT REFERENCES states(iso3),
            language TEXT,
            active INTEGER NOT NULL DEFAULT 1,
            session_version INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            last_login_at TEXT,
            CHECK ((role = 'respondent') = (state_iso3 IS NOT NULL))
        );
        CREATE TABLE sessions (                     -- server-side record so logout really ends a session
            id_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            last_seen_at TEXT NOT NULL
        );
        CREATE TABLE invitations (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT
        );
        CREATE TABLE responses (
            id INTEGER PRIMARY KEY,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            state_iso3 TEXT NOT NULL REFERENCES states(iso3),
            status TEXT NOT NULL DEFAULT 'draft'
                CHECK (status IN ('draft', 'submitted', 'returned', 'validated')),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            submitted_at TEXT,
            validated_at TEXT,
            returned_comment TEXT,
            prefilled_from TEXT REFERENCES rounds(id),
            UNIQUE (round_id, state_iso3)
        );
        CREATE TABLE response_events (
            id INTEGER PRIMARY KEY,
            response_id INTEGER NOT NULL REFERENCES responses(id),
            from_status TEXT,
            to_status TEXT NOT NULL,
            comment TEXT,
            at TEXT NOT NULL,
            by_user INTEGER REFERENCES users(id)
        );
        CREATE TABLE answers (
            id INTEGER PRIMARY KEY,
            response_id INTEGER NOT NULL REFERENCES responses(id),
            provision_id TEXT NOT NULL,
            question TEXT NOT NULL,
            value TEXT NOT NULL,                    -- JSON: "code", ["code", ...] or "text"
            version INTEGER NOT NULL DEFAULT 1,
            updated_at TEXT NOT NULL,
            updated_by INTEGER REFERENCES users(id),
            UNIQUE (response_id, provision_id, question)
        );
        CREATE TABLE answer_history (
            id INTEGER PRIMARY KEY,
            response_id INTEGER NOT NULL REFERENCES responses(id),
            provision_id TEXT NOT NULL,
            question TEXT NOT NULL,
            old_value TEXT,
            new_value TEXT,
            changed_at TEXT NOT NULL,
            changed_by INTEGER REFERENCES users(id),
            source TEXT NOT NULL
        );
        CREATE INDEX answer_history_by_provision ON answer_history (response_id, provision_id);
        CREATE TRIGGER answer_history_no_update BEFORE UPDATE ON answer_history
            BEGIN SELECT RAISE(ABORT, 'answer_history is append-only'); END;
        CREATE TRIGGER answer_history_no_delete BEFORE DELETE ON answer_history
            BEGIN SELECT RAISE(ABORT, 'answer_history is append-only'); END;
        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            token_hash TEXT NOT NULL UNIQUE,
            user_id INTEGER NOT NULL REFERENCES users(id),
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        """,
    ),
    (
        "0002_answers_by_question",
        """
        -- Covering index for scoring: compliance and ta_needed answers by question, then response.
        CREATE INDEX answers_by_question ON answers (question, response_id, provision_id, value);
        """,
    ),
    (
        "0003_answer_history_save_id",
        """
        -- Every save (a chapter, a copy, an import, an undo) is one transaction with one id, so a
        -- save can be listed and undone as a whole.
        ALTER TABLE answer_history ADD COLUMN save_id TEXT;
        CREATE INDEX answer_history_by_save ON answer_history (save_id);
        """,
    ),
    (
        "0004_health",
        """
        -- One row /healthz rewrites on each probe: a real write, so a read-only or full database
        -- shows as unavailable rather than healthy.
        CREATE TABLE health (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            checked_at TEXT NOT NULL
        );
        """,
    ),
    ("0005_answer_scales_per_obligation", lambda db: move_answers_to_obligation_scales(db)),
    (
        "0006_rate_limits",
        """
        -- Login throttling counters (survey.storage.ratelimit), shared by every worker process
        -- and kept across restarts: one row per live fixed window, deleted once it expires.
        CREATE TABLE rate_limits (
            key TEXT PRIMARY KEY,
            count INTEGER NOT NULL,
            expires_at REAL NOT NULL                -- Unix seconds
        );
        CREATE INDEX rate_limits_by_expiry ON rate_limits (expires_at);
        """,
    ),
    (
        "0007_export_builds",
        """
        -- Exports built in the background (survey/exports/jobs.py): one row per file, keyed by
        -- its kind, round, filters and data version, with the progress the page shows.
        CREATE TABLE export_builds (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            round_id TEXT NOT NULL REFERENCES rounds(id),
            params TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
            rows_done INTEGER NOT NULL DEFAULT 0,
            rows_expected INTEGER NOT NULL DEFAULT 0,
            name TEXT NOT NULL,
            error TEXT,
            path TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT
        );
        CREATE INDEX export_builds_by_export ON export_builds (kind, round_id, params);
        """,
    ),
    (
        "0008_report_versions",
        """
        -- The version of a round's counted responses (survey/reports/cache.py) reads each
        -- response's latest history row: one index seek instead of a scan of the response's
        -- whole history (answer_history_by_provision orders it by provision, not by id).
        CREATE INDEX answer_history_latest ON answer_history (response_id, id);
        """,
    ),
    ("0009_round_titles", lambda db: add_round_titles(db)),
]

# -- 0005: answer scales per obligation level (questionnaire 2026.2, docs/scoring.md) ---------
#
# Until questionnaire 2026.1 every provision asked "Has your State adopted the measures that this
# provision requires?" with yes / partly / no / na. Each old code becomes, by the provision's
# obligation level:
#
# | old    | mandatory | consider (shall consider)    | optional (may)           |
# |--------|-----------|------------------------------|--------------------------|
# | yes    | fully     | adopted                      | used                     |
# | partly | partly    | partly_adopted               | used (in part is used)   |
# | no     | not_yet   | not_yet_considered           | not_used                 |
# | na     | na        | na                           | not_used                 |
#
# 'no' on a "shall consider" provision never said the State had considered and declined, so it
# becomes not_yet_considered (still a gap) rather than declined: only the State can say it
# declined. An option that cannot apply is an option not used. Where an old 'na' kept its reason
# in `measures` (the old hint said "say why below" and the reason field did not exist), the text
# is copied into `reason`, which the form now asks for 'na'. Every change is a new answer version
# and an appended history row with source 'migration:0005_answer_scales_per_obligation'; no
# history row is changed. Answers on provision ids the questionnaire no longer has are left as
# they are (they are neither shown nor scored).
OLD_TO_NEW_COMPLIANCE: dict[str, dict[str, str]] = {
    "mandatory": {"yes": "fully", "partly": "partly", "no": "not_yet", "na": "na"},
    "consider": {
        "yes": "adopted",
        "partly": "partly_adopted",
        "no": "not_yet_considered",
        "na": "na",
    },
    "optional": {"yes": "used", "partly": "used", "no": "not_used", "na": "not_used"},
}
SCALES_MIGRATION = "0005_answer_scales_per_obligation"


def move_answers_to_obligation_scales(db, levels: dict[str, str] | None = None) -> int:
    """Recode stored compliance answers to the scale of each provision's obligation level.

    `levels` maps provision id -> obligation level; by default the shipped questionnaire's.
    Returns the number of answers recoded. Runs inside the caller's transaction.
    """
    from .responses import AnswerWrite, write_answers

    if levels is None:
        from ..questionnaire import get_questionnaire

        levels = {pid: p.obligation for pid, p in get_questionnaire().provisions.items()}
    stored: dict[int, dict[tuple[str, str], tuple[str, int]]] = {}
    for response_id, pid, question, value, version in db.execute(
        "SELECT response_id, provision_id, question, value, version FROM answers"
        " WHERE question IN ('compliance', 'measures', 'reason')"
    ):
        stored.setdefault(response_id, {})[(pid, question)] = (value, version)
    stamp, moved = now(), 0
    for response_id, answers in stored.items():
        writes = []
        for (pid, question), (value, version) in sorted(answers.items()):
            if question != "compliance" or pid not in levels:
                continue
            old = json.loads(value)
            new = OLD_TO_NEW_COMPLIANCE[levels[pid]].get(old)
            if new is None or new == old:
                continue
            writes.append(AnswerWrite(pid, "compliance", value, json.dumps(new), version))
        for (pid, question), (value, _version) in sorted(answers.items()):
            keeps_na = pid in levels and OLD_TO_NEW_COMPLIANCE[levels[pid]]["na"] == "na"
            measures = answers.get((pid, "measures"))
            if (
                question == "compliance"
                and json.loads(value) == "na"
                and keeps_na
                and (pid, "reason") not in answers
                and measures is not None
            ):
                writes.append(AnswerWrite(pid, "reason", None, measures[0], 0))
        moved += sum(1 for w in writes if w.question == "compliance")
        if writes:
            write_answers(
                db,
                response_id,
                writes,
                user_id=None,
                source=f"migration:{SCALES_MIGRATION}",
                save_id=f"migration:{SCALES_MIGRATION}",
                stamp=stamp,
            )
    return moved


# -- 0009: round titles in the six languages (docs/translations.md) ---------------------------
#
# `title` stays the English title, shown wherever a language has none, so older code reading
# `rounds.title` keeps working; each other language gets a column (title_ar, title_es, ...).
# Existing rows keep their title as the English one. A title the application wrote itself
# ("Self-assessment 2026" for a fresh database's round, "Self-assessment round R1" for a round
# created without a title) is filled in every language from the interface catalogs; a title an
# administrator typed is left for them to translate (pages show it in English, marked).
ROUND_TITLES_MIGRATION = "0009_round_titles"


def add_round_titles(db) -> int:
    """Add the per-language title columns and translate the generated titles; return the number
    of rounds given translations. Runs inside the caller's transaction."""
    import re

    from .rounds import ROUND_TITLE, YEAR_TITLE, generated_titles, write_titles

    for column in ("title_ar", "title_es", "title_fr", "title_ru", "title_zh"):
        db.execute(f"ALTER TABLE rounds ADD COLUMN {column} TEXT")
    translated = 0
    for round_id, title in db.execute("SELECT id, title FROM rounds").fetchall():
        year = re.fullmatch(r"Self-assessment (\d{4})", title)  # YEAR_TITLE in English
        if title == ROUND_TITLE % {"id": round_id}:
            titles = generated_titles(ROUND_TITLE, id=round_id)
        elif year:
            titles = generated_titles(YEAR_TITLE, year=year.group(1))
        else:
            continue
        write_titles(db, round_id, {lang: t for lang, t in titles.items() if lang != "en"})
        translated += 1
    return translated


def now() -> str:
    """UTC timestamp as ISO 8601 text with seconds, the one format the database stores."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def applied(db) -> set[str]:
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
    )
    return {row[0] for row in db.execute("SELECT name FROM _migrations")}


def migrate(db, *, until: str | None = None) -> list[str]:
    """Apply every migration not yet applied (up to and including `until`); return those applied now."""
    done = applied(db)
    ran = []
    for name, sql in MIGRATIONS:
        if name in done:
            if name == until:
                break
            continue
        with transaction(db):
            # Re-check inside the write lock: another process may have migrated meanwhile.
            if db.execute("SELECT 1 FROM _migrations WHERE name = ?", [name]).fetchone():
                continue
            if callable(sql):
                sql(db)
            else:
                for statement in _statements(sql):
                    db.execute(statement)
            db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", [name, now()])
        ran.append(name)
        if name == until:
            break
    return ran


def _statements(sql: str) -> list[str]:
    """Split a migration script into statements, keeping trigger bodies whole."""
    import sqlite3

    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
