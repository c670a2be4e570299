"""Survey rounds: which questionnaire version, which instruments, when open."""

from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime

from ..i18n import DEFAULT, LANGUAGES, N_, _, gettext_for
from .db import transaction
from .migrations import now

TITLE_MAX = 200  # characters in a round title, in any language
# A round's title per language. English is the `title` column that older databases and callers
# know (shown wherever a language has no title); each other language has a column, as the
# States' names do.
TITLE_COLUMNS = {lang: "title" if lang == DEFAULT else f"title_{lang}" for lang in LANGUAGES}
# The titles the application writes itself (a fresh database's round, a round created without
# a title): translated through the interface catalogs, so they exist in every language.
YEAR_TITLE = N_("Self-assessment %(year)s")
ROUND_TITLE = N_("Self-assessment round %(id)s")
# Invisible characters that would reorder the text after a title (an unclosed right-to-left
# override turns the rest of a heading around): the bidirectional embeddings, overrides and
# isolates. Control characters (NUL, newlines, escape) and lone surrogates are refused too.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class RoundError(ValueError):
    pass


class RoundTitleError(RoundError):
    """A title that cannot be stored; `lang` says which language's title, for the form field."""

    def __init__(self, lang: str, message: str):
        super().__init__(message)
        self.lang = lang


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


# -- titles ------------------------------------------------------------------------------------


def _forbidden(ch: str) -> bool:
    code = ord(ch)
    return (
        unicodedata.category(ch) in ("Cc", "Cs")
        or ch in _BIDI_CONTROLS
        or 0xFDD0 <= code <= 0xFDEF
        or code & 0xFFFE == 0xFFFE
    )


def clean_title(text: str | None, lang: str) -> str | None:
    """A title as stored: trimmed, None when empty; RoundTitleError says what to change."""
    if lang not in TITLE_COLUMNS:
        raise RoundError(
            _(
                "'%(lang)s' is not one of the languages %(valid)s",
                lang=lang,
                valid=", ".join(TITLE_COLUMNS),
            )
        )
    text = (text or "").strip()
    for position, ch in enumerate(text, 1):
        if _forbidden(ch):
            raise RoundTitleError(
                lang,
                _(
                    "Title (%(language)s): character %(position)s is an invisible control "
                    "character (%(code)s), which a title may not contain. Remove it and try again.",
                    language=LANGUAGES[lang],
                    position=position,
                    code=f"U+{ord(ch):04X}",
                ),
            )
    if len(text) > TITLE_MAX:
        raise RoundTitleError(
            lang,
            _(
                "Title (%(language)s): %(length)s characters; the limit is %(limit)s. Shorten it "
                "and try again.",
                language=LANGUAGES[lang],
                length=f"{len(text):,}",
                limit=TITLE_MAX,
            ),
        )
    return text or None


def generated_titles(message: str, **values) -> dict[str, str]:
    """A title the application writes (YEAR_TITLE, ROUND_TITLE) in every language it is
    translated into, from the interface catalogs; English always."""
    english = message % values
    titles = {DEFAULT: english}
    for lang in LANGUAGES:
        translated = gettext_for(lang)(message, **values)
        if lang != DEFAULT and translated != english:
            titles[lang] = translated
    return titles


def round_titles(round_: dict) -> dict[str, str]:
    """The round's title in each language it has one in (English always)."""
    return {lang: round_[col] for lang, col in TITLE_COLUMNS.items() if round_.get(col)}


def round_title(round_: dict, lang: str) -> str:
    """The round's title in `lang`, else its English title."""
    return round_.get(TITLE_COLUMNS.get(lang, "title")) or round_["title"]


def _cleaned_titles(titles: dict[str, str | None]) -> dict[str, str | None]:
    return {lang: clean_title(text, lang) for lang, text in titles.items()}


def set_round_titles(db, round_id: str, titles: dict[str, str | None]) -> dict:
    """Change the titles of the languages given (an empty one removes that language's title;
    the English title cannot be removed); the others stay as they are."""
    if get_round(db, round_id) is None:
        raise RoundError(_("round '%(id)s' does not exist", id=round_id))
    cleaned = _cleaned_titles(titles)
    if DEFAULT in cleaned and not cleaned[DEFAULT]:
        raise RoundTitleError(
            DEFAULT,
            _(
                "The English title cannot be empty: it is shown in every language that has no "
                "title of its own."
            ),
        )
    with transaction(db):
        write_titles(db, round_id, cleaned)
    return get_round(db, round_id)


def write_titles(db, round_id: str, titles: dict[str, str | None]) -> None:
    """Store titles already cleaned (inside the caller's transaction)."""
    if titles:
        assignments = ", ".join(f"{TITLE_COLUMNS[lang]} = ?" for lang in titles)
        db.execute(f"UPDATE rounds SET {assignments} WHERE id = ?", [*titles.values(), round_id])


# -- rounds ------------------------------------------------------------------------------------


def create_round(
    db,
    round_id: str,
    questionnaire,
    *,
    title: str | None = None,
    titles: dict[str, str | None] | None = None,
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
    given = _cleaned_titles({**(titles or {}), **({DEFAULT: title} if title else {})})
    # Without an English title the round gets the application's own, in every language it is
    # translated into; the titles given win over those translations.
    stored = {} if given.get(DEFAULT) else generated_titles(ROUND_TITLE, id=round_id)
    stored.update({lang: text for lang, text in given.items() if text})
    with transaction(db):
        db.execute(
            "INSERT INTO rounds (id, title, questionnaire_id, questionnaire_version, instruments,"
            " opens_on, closes_on, status, previous_round, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                round_id,
                stored[DEFAULT],
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
        write_titles(db, round_id, {lang: t for lang, t in stored.items() if lang != DEFAULT})
    return get_round(db, round_id)


def ensure_default_round(db, questionnaire) -> dict:
    """Open a first round for a fresh database, so a newcomer has something to fill in."""
    existing = current_round(db)
    if existing:
        return existing
    year = datetime.now(UTC).year
    return create_round(
        db, str(year), questionnaire, titles=generated_titles(YEAR_TITLE, year=year)
    )


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
