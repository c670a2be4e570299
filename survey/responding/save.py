"""The one way an answer reaches the database: `save_answers`, with one conflict rule.

Every entry path (the chapter form, autosave, the confirmed replay after a new login, copying a
related provision, undo, pre-fill from an earlier round, the offline file) turns what the user did
into `Edit`s and calls `save_answers`. One call is one transaction: all of its edits are written or
none is, and whether the response may still be edited is decided inside that transaction, so a
save racing a submission either lands before it or changes nothing.

The conflict rule. Each edit carries the token of the value the user started from (`base`).
- The new value equals the stored one: nothing to write (two people agreeing is no conflict).
- `base` is the token of the new value: the user left the answer as they found it; it is never
  written, whatever the stored value is now (a newer answer is not replaced by an untouched field).
- `base` is the token of the stored value: nobody else changed it since; it is written.
- Otherwise someone else changed it after the user began: a `Conflict`, not written; the caller
  shows both versions and lets the user choose (keep theirs, or save again from the new token).
`overwrite=True` writes in that last case too: only for an explicit choice made after the
conflicts were shown (the offline import's "replace newer answers").
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..storage.db import transaction
from ..storage.migrations import now
from ..storage.responses import (
    EDITABLE,
    AnswerWrite,
    answer_authors,
    decode,
    encode,
    lock_for_answers,
    stored_texts,
    write_answers,
)
from .tokens import answer_token, matches


@dataclass(frozen=True)
class Edit:
    """One answer as the user left it: a cleaned value (None clears) and where they started from.

    `base` is `answer_token(value the user saw)`; None when the path cannot know it (then the
    edit only goes through when the stored value is still empty or already equal).
    """

    provision_id: str
    question: str
    value: object
    base: str | None


@dataclass(frozen=True)
class Conflict:
    """An answer changed by someone else after the user began: both versions, and who/when."""

    provision_id: str
    question: str
    yours: object
    theirs: object
    theirs_token: str
    theirs_at: str | None
    theirs_by: str | None


@dataclass
class SaveOutcome:
    """What one save did. `tokens` holds the new base token of every answer the user now holds
    in agreement with the database (written, or already equal); conflicted answers get none, so a
    page can never silently adopt the other person's version as its starting point."""

    save_id: str
    changed: list[tuple[str, str]] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def changed_in(self, provision_id: str) -> list[str]:
        return [q for pid, q in self.changed if pid == provision_id]


class SaveRefused(Exception):
    """The save was refused as a whole; nothing was written. `code` says why:
    'read_only' (submitted, validated or closed round), 'no_response', 'storage' (the database
    cannot be written: disk full, read-only file, I/O error)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _storage_refusal(exc: sqlite3.Error) -> SaveRefused:
    from ..i18n import _

    return SaveRefused(
        "storage",
        _(
            "Not saved: the server cannot store answers right now (%(reason)s). Your text is kept on this page; try again in a few minutes or tell the secretariat.",
            reason=str(exc),
        ),
    )


def save_answers(
    db,
    response_id: int,
    edits: Iterable[Edit],
    *,
    user_id: int | None,
    source: str,
    keep_theirs: Iterable[tuple[str, str]] = (),
    overwrite: bool = False,
    require_editable: bool = True,
) -> SaveOutcome:
    """Save `edits` into response `response_id` in one transaction, under the conflict rule above.

    `keep_theirs` lists (provision_id, question) pairs whose stored value the user chose to keep.
    `source` is recorded in the history ('web', 'autosave', 'replay', 'copy:UNTOC-5', 'undo',
    'prefill', 'offline'). Raises SaveRefused('read_only') when `require_editable` and the
    response is not a draft or returned response in an open round, SaveRefused('storage') when the
    database cannot be written; in both cases nothing was written.
    """
    from ..i18n import _

    edits = list(edits)
    keep = set(keep_theirs)
    outcome = SaveOutcome(save_id=uuid.uuid4().hex)
    try:
        with transaction(db):
            state = lock_for_answers(db, response_id)
            if state is None:
                raise SaveRefused("no_response", _("There is no such response."))
            if require_editable and (state[0] not in EDITABLE or state[1] != "open"):
                message = (
                    _(
                        "Not saved: this response is %(status)s and read-only until the secretariat returns it.",
                        status=_(state[0]),
                    )
                    if state[1] == "open"
                    else _("Not saved: this round is closed; answers can no longer be changed.")
                )
                raise SaveRefused("read_only", message)
            stored = stored_texts(db, response_id, {e.provision_id for e in edits})
            writes: list[AnswerWrite] = []
            conflicted: list[tuple[Edit, str | None, str]] = []
            for edit in edits:
                key = (edit.provision_id, edit.question)
                old_text, version = stored.get(key, (None, 0))
                new_text = None if edit.value is None else encode(edit.value)
                old_value = decode(old_text)
                if old_text == new_text or key in keep:
                    outcome.tokens[key] = answer_token(old_value)
                    continue
                if matches(edit.base, edit.value):
                    continue  # left as found: never replaces a newer answer
                base_ok = (
                    matches(edit.base, old_value) if edit.base is not None else old_text is None
                )
                if not base_ok and not overwrite:
                    conflicted.append((edit, old_text, answer_token(old_value)))
                    continue
                writes.append(
                    AnswerWrite(edit.provision_id, edit.question, old_text, new_text, version)
                )
                outcome.changed.append(key)
                outcome.tokens[key] = answer_token(edit.value)
            write_answers(
                db,
                response_id,
                writes,
                user_id=user_id,
                source=source,
                save_id=outcome.save_id,
                stamp=now(),
            )
            authors = answer_authors(
                db, response_id, [(edit.provision_id, edit.question) for edit, *rest in conflicted]
            )
            for edit, old_text, token in conflicted:
                at, by = authors.get((edit.provision_id, edit.question), (None, None))
                outcome.conflicts.append(
                    Conflict(
                        edit.provision_id,
                        edit.question,
                        edit.value,
                        decode(old_text),
                        token,
                        at,
                        by,
                    )
                )
    except sqlite3.IntegrityError:
        raise  # a broken invariant is a bug, not a storage outage
    except sqlite3.DatabaseError as exc:  # read-only, full, locked, I/O error, malformed image
        raise _storage_refusal(exc) from exc
    return outcome


def save_provision(
    db,
    response_id: int,
    provision_id: str,
    values: dict,
    *,
    user_id: int | None,
    source: str = "script",
) -> SaveOutcome:
    """Set answers of one provision as given, whatever was stored (scripts, demo, tests).

    The same `save_answers` path with `overwrite`: for callers that act on the database directly
    rather than for a person looking at a page (no one could have been shown a conflict).
    """
    edits = [Edit(provision_id, q, v, None) for q, v in values.items()]
    return save_answers(
        db,
        response_id,
        edits,
        user_id=user_id,
        source=source,
        overwrite=True,
        require_editable=False,
    )
