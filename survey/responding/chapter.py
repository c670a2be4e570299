"""A chapter of the questionnaire as the respondent sees and posts it (Flask-free).

`read_chapter_post` turns a posted chapter form (any mapping with `getlist`, e.g. a werkzeug
MultiDict or a dict of lists) into edits for `save_answers` and coded problems;
`chapter_view` builds the typed view model the chapter template renders.

Field names: '<provision id>.<question>' holds the answer, '<provision id>.<question>.v' the
token of the value the page started from, '<provision id>.present' marks a posted provision,
'keep_theirs' lists fields whose other version the user chose to keep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

from ..answers import AnswerError, clean_value
from ..i18n import _
from .save import Conflict, Edit
from .tokens import EMPTY, answer_token, matches


def field_name(provision_id: str, question: str) -> str:
    """Form field name for one question of one provision: 'UNCAC-15.compliance'."""
    return f"{provision_id}.{question}"


def token_name(provision_id: str, question: str) -> str:
    """Form field holding the token of the value the page started from."""
    return f"{provision_id}.{question}.v"


@dataclass(frozen=True)
class Problem:
    """A coded, translated problem with one answer; `message` names the question by its label."""

    code: str  # 'invalid' | 'too_long'
    provision_id: str
    question: str
    message: str

    @property
    def field(self) -> str:
        return field_name(self.provision_id, self.question)


@dataclass
class ChapterPost:
    """What a chapter post asks for: edits to save, problems found, and every posted value
    (raw, as typed) so a page shown again keeps the user's text."""

    edits: list[Edit] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    posted: dict[str, dict[str, object]] = field(default_factory=dict)
    keep_theirs: set[tuple[str, str]] = field(default_factory=set)
    provision_ids: list[str] = field(default_factory=list)

    def changed(self) -> list[Edit]:
        """Edits whose value differs from what the page started from (what the user did)."""
        return [e for e in self.edits if not matches(e.base, e.value)]


def _raw(question, formdata, name):
    values = formdata.getlist(name)
    if question.type == "select_multiple":
        return [v for v in values if v != ""]
    if question.type == "text":
        return values[-1] if values else ""
    return values[-1] if values else None


def read_chapter_post(chapter, formdata, *, lang: str = "en") -> ChapterPost:
    """Edits and problems from a posted chapter form; only provisions marked present are read.

    Inside a posted provision a question whose field is absent is left alone (an unanswered
    radio group posts nothing; checkbox groups post an empty sentinel so unticking all counts).
    """
    post = ChapterPost()
    keep = set(formdata.getlist("keep_theirs"))
    for provision in chapter.provisions:
        if f"{provision.id}.present" not in formdata:
            continue
        post.provision_ids.append(provision.id)
        for question in provision.questions:
            name = field_name(provision.id, question.name)
            if name not in formdata:
                continue
            raw = _raw(question, formdata, name)
            post.posted.setdefault(provision.id, {})[question.name] = raw
            if name in keep:
                post.keep_theirs.add((provision.id, question.name))
                continue
            try:
                value = clean_value(question, raw)
            except AnswerError as exc:
                code = "too_long" if question.type == "text" else "invalid"
                post.problems.append(
                    Problem(
                        code,
                        provision.id,
                        question.name,
                        _(
                            "%(provision)s, “%(question)s”: %(problem)s",
                            provision=provision.id,
                            question=question.label.get(lang),
                            problem=str(exc),
                        ),
                    )
                )
                continue
            token_values = formdata.getlist(token_name(provision.id, question.name))
            base = token_values[-1] if token_values and token_values[-1] else None
            post.edits.append(Edit(provision.id, question.name, value, base))
    return post


# -- view models ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionView:
    question: object  # survey.questionnaire.model.Question
    field: str
    value: object  # what the input shows: stored, or as posted when the page needs attention
    token: str
    shown: bool
    error: str | None = None
    conflict: Conflict | None = None


@dataclass(frozen=True)
class OfferGroup:
    """Answered cross-referenced provisions of one article, offered for copying into `target`."""

    target: str
    article: str  # e.g. 'UNCAC-44'
    sources: tuple[tuple[object, str], ...]  # (Provision, compliance code), in questionnaire order


@dataclass(frozen=True)
class ProvisionView:
    provision: object  # survey.questionnaire.model.Provision
    questions: tuple[QuestionView, ...]
    updated_at: str | None
    offers: tuple[OfferGroup, ...]
    rules_json: str
    answered: int  # required, relevant questions answered
    required: int  # required, relevant questions

    @property
    def id(self) -> str:
        return self.provision.id

    @property
    def complete(self) -> bool:
        return self.required > 0 and self.answered == self.required


@dataclass(frozen=True)
class ChapterView:
    chapter: object
    provisions: tuple[ProvisionView, ...]
    problems: tuple[Problem, ...]
    conflicts: tuple[Conflict, ...]
    editable: bool


@lru_cache(maxsize=4096)
def rules_json(provision) -> str:
    """Relevance rules as JSON trees for the page's script (the server decides without it)."""
    out = {q.name: _rule_json(q.relevant) for q in provision.questions if q.relevant is not None}
    return json.dumps(out, separators=(",", ":"))


def _rule_json(node):
    if hasattr(node, "parts"):
        return {"op": node.op, "parts": [_rule_json(p) for p in node.parts]}
    if hasattr(node, "clause"):
        return {"op": "not", "parts": [_rule_json(node.clause)]}
    return {"op": node.op, "q": node.question, "codes": list(node.codes)}


def article_of(provision_id: str) -> str:
    """'UNCAC-44-6-a' -> 'UNCAC-44' (instrument and article)."""
    return "-".join(provision_id.split("-")[:2])


def offer_groups(model, provision, compliance: dict[str, str]) -> tuple[OfferGroup, ...]:
    """Related provisions with a compliance answer, grouped by article (one offer per article).

    `compliance` is {provision_id: compliance code} (survey.storage.responses.compliance_codes).
    """
    groups: dict[str, list] = {}
    for related in model.related(provision.id):
        code = compliance.get(related.id)
        if code is not None:
            groups.setdefault(article_of(related.id), []).append((related, code))
    return tuple(
        OfferGroup(provision.id, article, tuple(items)) for article, items in groups.items()
    )


def chapter_view(
    model,
    chapter,
    stored: dict,
    *,
    related: dict | None = None,
    editable: bool,
    post: ChapterPost | None = None,
    conflicts: list[Conflict] = (),
    show_posted: bool = False,
    saved_tokens: dict[tuple[str, str], str] | None = None,
) -> ChapterView:
    """The chapter as the template renders it.

    `stored` is {provision_id: {question: Answer}} (survey.storage.responses.load_answers);
    `related` {provision_id: compliance code} of the cross-referenced provisions (copy offers). Where the
    save found problems or conflicts (or, with `show_posted`, everywhere the user posted), the
    page shows the posted values, so nothing typed is lost; a conflicted answer's token becomes
    the other person's version, so saving again after seeing both keeps the user's version.
    `saved_tokens` (SaveOutcome.tokens) marks answers the same request saved or found equal.
    """
    problems = {p.field: p.message for p in post.problems} if post else {}
    by_field = {field_name(c.provision_id, c.question): c for c in conflicts}
    attention = (
        {c.provision_id for c in conflicts} | {p.provision_id for p in post.problems}
        if post
        else set()
    )
    bases = {(e.provision_id, e.question): e.base for e in post.edits} if post else {}
    provisions = []
    for provision in chapter.provisions:
        answers = stored.get(provision.id, {})
        values = {q: a.value for q, a in answers.items()}
        posted = post.posted.get(provision.id) if post else None
        use_posted = posted is not None and (show_posted or provision.id in attention)
        if use_posted:
            values = {**values, **posted}
        relevant = {q.name for q in provision.relevant_questions(values)}
        questions = []
        required = answered = 0
        for question in provision.questions:
            name = field_name(provision.id, question.name)
            conflict = by_field.get(name)
            stored_answer = answers.get(question.name)
            token = answer_token(stored_answer.value) if stored_answer else EMPTY
            if use_posted:
                base = bases.get((provision.id, question.name))
                token = base if base is not None else token
            if saved_tokens and (provision.id, question.name) in saved_tokens:
                # Saved (or already equal) in this request: the page now agrees with the database.
                token = saved_tokens[(provision.id, question.name)]
            if conflict is not None:
                token = conflict.theirs_token
            shown = question.name in relevant
            if question.required and shown:
                required += 1
                answered += values.get(question.name) not in (None, "", [])
            questions.append(
                QuestionView(
                    question,
                    name,
                    values.get(question.name),
                    token,
                    shown,
                    problems.get(name),
                    conflict,
                )
            )
        provisions.append(
            ProvisionView(
                provision,
                tuple(questions),
                max((a.updated_at for a in answers.values()), default=None),
                offer_groups(model, provision, related or {}) if editable else (),
                rules_json(provision),
                answered,
                required,
            )
        )
    return ChapterView(
        chapter,
        tuple(provisions),
        tuple(post.problems) if post else (),
        tuple(conflicts),
        editable,
    )
