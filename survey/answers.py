"""Answer values: cleaning and checking a raw value against its question (pure, no storage)."""

from __future__ import annotations

import unicodedata

from .i18n import _

MAX_TEXT = 100_000  # characters in one text answer; longer answers get a clear error


class AnswerError(ValueError):
    pass


def clean_text(raw: str) -> str:
    """Text as stored: NUL and other C0 controls (except tab/newline) removed, newlines normalised."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")
    return text.strip()


def clean_value(question, raw):
    """Return the stored form of a raw answer (None when empty) or raise AnswerError."""
    if raw is None:
        return None
    if question.type == "text":
        if isinstance(raw, list):
            raw = "\n".join(str(r) for r in raw)
        text = clean_text(str(raw))
        if len(text) > MAX_TEXT:
            raise AnswerError(
                _(
                    "the answer has %(n)s characters; the limit is %(limit)s. Shorten it or refer to the full text.",
                    n=f"{len(text):,}",
                    limit=f"{MAX_TEXT:,}",
                )
            )
        return text or None
    codes = question.choices.codes if question.choices else ()
    if question.type == "select_multiple":
        items = raw if isinstance(raw, list | tuple) else [raw]
        chosen = [str(i).strip() for i in items if str(i).strip()]
        bad = [c for c in chosen if c not in codes]
        if bad:
            raise AnswerError(
                _("'%(value)s' is not one of %(valid)s", value=bad[0], valid=", ".join(codes))
            )
        # Keep the questionnaire's order and drop repeats, so equal answers compare equal.
        return [c for c in codes if c in chosen] or None
    if isinstance(raw, list | tuple):
        raw = raw[-1] if raw else None
        if raw is None:
            return None
    value = str(raw).strip()
    if not value:
        return None
    if value not in codes:
        raise AnswerError(
            _("'%(value)s' is not one of %(valid)s", value=value, valid=", ".join(codes))
        )
    return value


def relevant_answers(provision, answers: dict) -> dict:
    """Only the answers to questions that are relevant given the other answers."""
    kept: dict = {}
    if not answers:
        return kept
    # An unanswered question is skipped before its rule is evaluated: the rules read only what
    # is kept, which an unanswered question never adds to.
    for question in provision.questions:
        if answers.get(question.name) is not None and question.is_relevant(kept):
            kept[question.name] = answers[question.name]
    return kept


def missing_required(provision, answers: dict) -> list:
    """Required questions, relevant given the answers, that have no answer."""
    kept = relevant_answers(provision, answers)
    return [
        q
        for q in provision.questions
        if q.required and q.is_relevant(kept) and kept.get(q.name) is None
    ]
