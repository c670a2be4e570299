"""Cached parts of the chapter form and of the provision header, rendered from Jinja macros.

A chapter holds up to ~2,000 inputs. What depends only on the questionnaire and the language
(headers, legends, hints, each choice's input and label, start tags, copy-offer controls) is
rendered once from the macros in templates/fill/_provision.html and kept here as Markup, keyed by
the questionnaire objects and the language passed in, never by the request's language. On each
request the template fills in values, tokens, visibility, problems and links; Python only picks
which cached fragment fits a value. No HTML is written in Python: every fragment comes from a
macro, and the templates put them together.

The caches live as long as the process: a changed template or catalogue needs a restart or
`clear_caches()` (a reloaded questionnaire needs neither, since its objects are the keys).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from flask_babel import force_locale, gettext
from markupsafe import Markup

from ..responding import field_name
from ..responding.chapter import article_of, rules_json
from .i18n import format_stamp

TEMPLATE = "fill/_provision.html"


def _macros():
    return current_app.jinja_env.get_template(TEMPLATE).module


@lru_cache(maxsize=4096)
def provision_header_html(provision, lang: str, level: int = 2) -> Markup:
    """Id, title, citation, obligation, summary and cross-references of a provision in `lang`
    (the same for every State; shared by the chapter, review, print and profile pages), with
    the note that a working translation is shown where the language's status is 'working'."""
    from .db import get_model

    status = get_model().translation_status.get(lang)  # the model `provision` comes from
    with force_locale(lang):
        return _macros().provision_header(provision, lang, level, status)


@dataclass(frozen=True)
class QuestionParts:
    """One question's markup that does not depend on any answer (all of it from the macros)."""

    open: Markup  # fieldset start tag, legend and hint; the question is shown
    open_hidden: Markup  # the same for a question not relevant yet
    textarea: Markup | None  # text questions: the textarea start tag
    choices_start: Markup | None  # choice questions: the start of the group
    choices: tuple[tuple[str, Markup, Markup], ...]  # multiple: (code, not ticked, ticked)
    groups: dict  # whole groups: by each code of a single choice, and None (nothing ticked)
    multiple: bool

    def group(self, value) -> Markup | None:
        """The whole choice group for `value` when it is cached (any value of a single choice, an
        unanswered multiple choice); None when the boxes are to be ticked one by one (`pick`)."""
        if self.multiple:
            return None if value else self.groups[None]
        if isinstance(value, str):
            return self.groups.get(value, self.groups[None])  # an unknown code ticks nothing
        return self.groups[None]

    def pick(self, value) -> list[Markup]:
        """Each choice's input, ticked where `value` (a list of codes) has it."""
        chosen = value if isinstance(value, list | tuple) else (value,)
        return [ticked if code in chosen else plain for code, plain, ticked in self.choices]


@dataclass(frozen=True)
class ProvisionParts:
    top: Markup  # the section's start tag and the provision header
    present: Markup  # the hidden marker that the provision was posted
    questions: tuple[QuestionParts, ...]
    history_label: str

    def rows(self, question_views):
        """(QuestionView, QuestionParts, opening, group) for each question, in order.

        `opening` is the cached fieldset start with legend and hint, shown or hidden as the
        question is relevant or not, or None when the field has a problem or a conflict (the
        template then renders a marked start tag); `group` is the cached choice group for the
        question's value, or None.
        """
        for qv, qp in zip(question_views, self.questions, strict=True):
            marked = qv.error or qv.conflict
            opening = None if marked else (qp.open if qv.shown else qp.open_hidden)
            yield qv, qp, opening, None if qp.textarea else qp.group(qv.value)


# ~40 KB an entry in English (more in scripts stored with wider characters): 1,024 entries hold
# every provision of the questionnaire in about four (language, editable) combinations.
@lru_cache(maxsize=1024)
def provision_parts(provision, lang: str, editable: bool) -> ProvisionParts:
    """The questionnaire-only parts of one provision's section of the chapter form, in `lang`."""
    header = provision_header_html(provision, lang)
    with force_locale(lang):
        m = _macros()
        questions = []
        for q in provision.questions:
            field = field_name(provision.id, q.name)
            choices, groups = (), {}
            if q.type == "select_multiple":
                # Ticked one by one per request, from each choice's two cached states; the group
                # with nothing ticked is cached whole.
                choices = tuple(
                    (
                        c.name,
                        m.choice_input(field, q, c, False, editable, lang),
                        m.choice_input(field, q, c, True, editable, lang),
                    )
                    for c in q.choices.choices
                )
                groups = {None: m.choice_group(field, q, None, editable, lang)}
            elif q.type != "text":
                # Every state of a single choice, cached whole.
                codes = [None, *q.choices.codes]
                groups = {code: m.choice_group(field, q, code, editable, lang) for code in codes}
            questions.append(
                QuestionParts(
                    open=m.question_open(field, q, True, lang),
                    open_hidden=m.question_open(field, q, False, lang),
                    textarea=m.textarea_start(field, q, editable) if q.type == "text" else None,
                    choices_start=None if q.type == "text" else m.choices_start(field, q),
                    choices=choices,
                    groups=groups,
                    multiple=q.type == "select_multiple",
                )
            )
        return ProvisionParts(
            top=m.section_top(provision, rules_json(provision), header),
            present=m.present_marker(provision),
            questions=tuple(questions),
            history_label=gettext("History of changes"),
        )


@dataclass(frozen=True)
class OfferParts:
    """The controls offering to copy a related provision's answer into one provision."""

    lang: str
    target: object  # the provision offered the copies
    intro: Markup
    starts: dict[str, Markup]  # by related article ('UNCAC-44'): its label and select start tag
    ends: dict[str, Markup]  # by related article: the select's end and the copy button
    options: dict[tuple[str, str], Markup]  # by (related provision id, compliance code)

    def groups(self, offer_groups):
        """(start, options, end) for each OfferGroup shown: the cached parts of its select.

        A part the cache lacks (a stored code the questionnaire no longer lists, say) is rendered
        from its macro, so an unexpected answer shows as it is rather than vanishing.
        """
        for group in offer_groups:
            start = self.starts.get(group.article)
            end = self.ends.get(group.article)
            options = [
                self.options.get((related.id, code))
                or self._render("offer_option", related, code, self.lang)
                for related, code in group.sources
            ]
            yield (
                start or self._render("offer_group_start", self.target, group.article),
                options,
                end or self._render("offer_group_end", self.target, group.article),
            )

    def _render(self, name, *args) -> Markup:
        with force_locale(self.lang):
            return getattr(_macros(), name)(*args)


@lru_cache(maxsize=4096)
def offer_parts(provision, lang: str) -> OfferParts:
    """The parts of `provision`'s copy offers in `lang` (which ones show is decided per request)."""
    from .db import get_model

    related = get_model().related(provision.id)
    articles = dict.fromkeys(article_of(r.id) for r in related)
    with force_locale(lang):
        m = _macros()
        return OfferParts(
            lang=lang,
            target=provision,
            intro=m.offer_intro(),
            starts={a: m.offer_group_start(provision, a) for a in articles},
            ends={a: m.offer_group_end(provision, a) for a in articles},
            options={
                (r.id, code): m.offer_option(r, code, lang)
                for r in related
                for code in r.question("compliance").choices.codes
            },
        )


@lru_cache(maxsize=16)
def _last_saved_pattern(lang: str) -> str:
    with force_locale(lang):
        return gettext("Last saved %(when)s")  # without arguments: the pattern, translated


def last_saved(stamp: str, lang: str) -> str:
    """'Last saved 12 Feb 2026, 12:08:41 UTC' in `lang` (plain text, escaped where shown).

    Not cached: the time is the respondent's data, and a cache keyed by it would only make the
    benchmark's repeated views look faster than a first one."""
    return _last_saved_pattern(lang) % {"when": format_stamp(stamp)}


@lru_cache(maxsize=1024)
def chapter_label_html(chapter, lang: str) -> Markup:
    """'III. Criminalization and law enforcement' in `lang` (sidebar and chapter links)."""
    with force_locale(lang):
        return _macros().chapter_label(chapter, lang)


@lru_cache(maxsize=16384)
def progress_title(answered: int, total: int, lang: str) -> str:
    """'3 of 9 required answers given' in `lang` (plain text)."""
    with force_locale(lang):
        return gettext(
            "%(answered)s of %(total)s required answers given", answered=answered, total=total
        )


def clear_caches() -> None:
    """Drop every cached part (after changing a template or a catalogue in a running process)."""
    for cached in (
        provision_header_html,
        provision_parts,
        offer_parts,
        _last_saved_pattern,
        chapter_label_html,
        progress_title,
    ):
        cached.cache_clear()


def init_app(app) -> None:
    """Make the cached parts available to every template."""
    app.jinja_env.globals.update(
        provision_header_html=provision_header_html,
        provision_parts=provision_parts,
        offer_parts=offer_parts,
        last_saved=last_saved,
        chapter_label_html=chapter_label_html,
        progress_title=progress_title,
    )
