"""Respondent actions beyond typing: copy from a related provision, undo a save, pre-fill from an
earlier round, and the pending changes of a post that arrived after the session expired.

Each builds `Edit`s and saves them through `save_answers`; none writes answers another way.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..i18n import _
from ..storage.db import transaction
from ..storage.migrations import now
from ..storage.responses import (
    WorkflowError,
    get_response,
    has_answers,
    load_answers,
    mark_prefilled,
    saved_changes,
)
from .save import Edit, SaveOutcome, save_answers
from .tokens import EMPTY, answer_token


@dataclass(frozen=True)
class CopyItem:
    """One question of the target provision: its answer now and the answer that would be copied."""

    question: object
    current: object
    copied: object
    token: str  # token of `current`, the base of the edit

    @property
    def replaces(self) -> bool:
        return self.current not in (None, "", []) and self.current != self.copied


@dataclass(frozen=True)
class CopyPlan:
    target: object
    source: object
    items: tuple[CopyItem, ...]

    @property
    def replaces_answers(self) -> bool:
        """True when copying would replace a non-empty answer: the user must confirm first."""
        return any(item.replaces for item in self.items)

    def edits(self, bases: dict[str, str] | None = None) -> list[Edit]:
        """Edits for the copy; `bases` (question -> token, from the confirmation form) say what the
        user saw when confirming, so an answer changed since then is a conflict, not replaced."""
        return [
            Edit(
                self.target.id,
                item.question.name,
                item.copied,
                (bases or {}).get(item.question.name, item.token),
            )
            for item in self.items
            if item.copied != item.current
        ]


def copy_plan(db, response_id: int, target, source) -> CopyPlan:
    """What copying `source`'s answers into `target` would do (questions both provisions have)."""
    stored = load_answers(db, response_id, [source.id, target.id])
    theirs = stored.get(source.id, {})
    mine = stored.get(target.id, {})
    items = []
    for question in target.questions:
        if question.name not in theirs:
            continue
        current = mine[question.name].value if question.name in mine else None
        items.append(
            CopyItem(question, current, theirs[question.name].value, answer_token(current))
        )
    return CopyPlan(target, source, tuple(items))


def copy_answers(
    db, response_id: int, plan: CopyPlan, *, user_id: int, bases: dict[str, str] | None = None
) -> SaveOutcome:
    return save_answers(
        db, response_id, plan.edits(bases), user_id=user_id, source=f"copy:{plan.source.id}"
    )


def undo_save(db, response_id: int, save_id: str, *, user_id: int) -> SaveOutcome:
    """Put back what one copy replaced; an answer changed again since is a conflict, kept as is.

    Raises WorkflowError when the save is not a copy into this response.
    """
    changes = saved_changes(db, response_id, save_id)
    if not changes or not all(c["source"].startswith("copy:") for c in changes):
        # Only copies are offered for undo; a colleague's ordinary save is not undone this way.
        raise WorkflowError(_("There is nothing to undo: that change is not in this response."))
    edits = [
        Edit(c["provision_id"], c["question"], c["old_value"], answer_token(c["new_value"]))
        for c in changes
    ]
    return save_answers(db, response_id, edits, user_id=user_id, source=f"undo:{save_id}")


def prefill(
    db, response_id: int, source_response_id: int, *, user_id: int | None, provision_ids
) -> int:
    """Start an empty response from another response's answers, in one transaction; the count.

    Raises WorkflowError when the response already has answers (they would be overwritten).
    """
    wanted = set(provision_ids)
    source = get_response(db, source_response_id)
    with transaction(db):
        if has_answers(db, response_id):
            raise WorkflowError(
                _("This response already has answers; pre-filling would overwrite them.")
            )
        answers = load_answers(db, source_response_id, wanted)
        edits = [
            Edit(pid, question, answer.value, EMPTY)
            for pid, by_question in answers.items()
            for question, answer in by_question.items()
        ]
        outcome = save_answers(db, response_id, edits, user_id=user_id, source="prefill")
        mark_prefilled(db, response_id, source["round_id"], now())
    return len(outcome.changed)


@dataclass(frozen=True)
class PendingChange:
    """One answer a user changed in a post that needs their confirmation before it is saved."""

    provision: object
    question: object
    value: object
    current: object


def pending_changes(db, response_id: int | None, model, post) -> list[PendingChange]:
    """The answers a kept post would change, next to what is stored now, in questionnaire order."""
    stored = load_answers(db, response_id, post.provision_ids) if response_id else {}
    out = []
    for edit in post.changed():
        provision = model.provisions[edit.provision_id]
        current = stored.get(edit.provision_id, {}).get(edit.question)
        current_value = current.value if current else None
        if current_value == edit.value:
            continue
        out.append(
            PendingChange(provision, provision.question(edit.question), edit.value, current_value)
        )
    return out
