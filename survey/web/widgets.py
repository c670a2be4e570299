"""Fast HTML for the chapter form: the parts that depend only on the questionnaire and the language
are built once and cached; per request only values, tokens and visibility are filled in.

A chapter can hold a few hundred inputs; rendering them through Jinja macros and filters (or
Markup.format) took most of the page time (see benchmarks/RESULTS.md). Here the HTML is built as
plain text in which every interpolated value passes through `escape()` first.
"""

from __future__ import annotations

from functools import lru_cache

from flask_babel import gettext
from markupsafe import Markup, escape

from .i18n import OBLIGATION_LABELS, translate_text


def _e(value) -> str:
    return str(escape(value))


@lru_cache(maxsize=8192)
def _question_static(question, lang: str) -> dict:
    """Legend, hint and choice labels of a question in one language (independent of any answer)."""
    required = (
        f' <span class="req" title="{_e(gettext("Required at submission"))}">*</span>'
        if question.required
        else ""
    )
    return {
        "legend": f"<legend>{translate_text(question.label)}{required}</legend>",
        "hint": str(translate_text(question.hint)) if question.hint else None,
        "choices": [(_e(c.name), str(translate_text(c.label))) for c in question.choices.choices]
        if question.choices
        else [],
    }


def display_value(question, value, lang: str) -> str:
    if value is None or value == [] or value == "":
        return '<span class="muted">—</span>'
    if question.choices is not None:
        codes = value if isinstance(value, list) else [value]
        return _e("; ".join(question.choices.label(code, lang) for code in codes))
    return f'<span class="answer-text">{_e(value)}</span>'


def question_html(
    question, provision_id: str, item: dict, errors: dict, editable: bool, lang: str
) -> Markup:
    """One question of the chapter form as a fieldset (same markup the tests and fill.js rely on)."""
    static = _question_static(question, lang)
    raw_name = f"{provision_id}.{question.name}"
    name = _e(raw_name)
    value = item["answers"].get(question.name)
    conflict = next((c for c in item["conflicts"] if c["question"] == question.name), None)
    classes = (
        "question"
        + (" has-error" if raw_name in errors else "")
        + (" has-conflict" if conflict else "")
    )
    hidden = "" if question.name in item["shown"] else " hidden"
    out = [
        f'<fieldset class="{classes}" id="f-{name}" data-question="{_e(question.name)}"{hidden}>',
        static["legend"],
    ]
    if static["hint"] is not None:
        out.append(f'<p class="hint" id="h-{name}">{static["hint"]}</p>')
    if raw_name in errors:
        out.append(
            f'<p class="field-error" id="e-{name}"><strong>{_e(gettext("Not saved:"))}</strong> {_e(errors[raw_name])}</p>'
        )
    if conflict:
        who = _e(conflict["theirs_by"] or gettext("someone else"))
        out.append(
            f'<div class="conflict"><p><strong>{_e(gettext("Their version"))}</strong> ({who}, {_e(conflict["theirs_at"])}): '
            f"{display_value(question, conflict['theirs'], lang)}</p>"
            f'<p><label><input type="checkbox" name="keep_theirs" value="{name}"> {_e(gettext("Keep theirs (discard mine)"))}</label></p></div>'
        )
    off = "" if editable else " disabled"
    if question.type == "text":
        described = f' aria-describedby="h-{name}"' if static["hint"] is not None else ""
        readonly = "" if editable else " readonly"
        out.append(
            f'<textarea name="{name}" id="i-{name}" rows="4" aria-labelledby="f-{name}"{described}{readonly}>{_e(value or "")}</textarea>'
        )
    elif question.type == "select_multiple":
        chosen = {_e(code) for code in value or ()}
        out.append(f'<div class="choices"><input type="hidden" name="{name}" value="">')
        out += [
            f'<label><input type="checkbox" name="{name}" value="{code}"{" checked" if code in chosen else ""}{off}> {label}</label>'
            for code, label in static["choices"]
        ]
        out.append("</div>")
    else:
        current = _e(value) if value is not None else None
        out.append('<div class="choices inline">')
        out += [
            f'<label><input type="radio" name="{name}" value="{code}"{" checked" if code == current else ""}{off}> {label}</label>'
            for code, label in static["choices"]
        ]
        out.append("</div>")
    out.append(
        f'<input type="hidden" name="{name}.v" value="{_e(item["tokens"][question.name])}"></fieldset>'
    )
    return Markup("".join(out))  # noqa: S704 - every interpolated value above went through escape()


@lru_cache(maxsize=4096)
def provision_header_html(provision, lang: str, level: int = 2) -> Markup:
    """Id, official title, citation, obligation, summary and cross-references (same for every State)."""
    badge = f'<span class="badge ob-{_e(provision.obligation)}" title="{_e(gettext("Obligation level"))}">{_e(gettext(OBLIGATION_LABELS[provision.obligation]))}</span>'
    out = [
        f'<h{level} class="provision-title"><span class="pid">{_e(provision.id)}</span> <span lang="en">{_e(provision.title)}</span></h{level}>',
        f'<p class="meta">{_e(provision.reference)} · {badge}</p>',
        f'<p class="summary">{translate_text(provision.summary)}</p>',
    ]
    refs = provision.cross_references
    if refs:
        out.append(
            f'<details class="xrefs"><summary>{_e(gettext("Cross-references (%(n)s)", n=len(refs)))}</summary><ul>'
        )
        for ref in refs:
            if ref.is_un:
                item = f"<strong>{_e(ref.provision)}</strong>"
            else:
                title = f' — <span lang="en">{_e(ref.title)}</span>' if ref.title else ""
                item = f"<strong>{_e(ref.instrument)}</strong> {_e(gettext('art.'))} {_e(ref.article)}{title}"
            if ref.note:
                item += f' <span class="muted" lang="en">({_e(ref.note)})</span>'
            out.append(f"<li>{item}</li>")
        out.append("</ul></details>")
    return Markup("".join(out))  # noqa: S704 - every interpolated value above went through escape()


def sections_html(
    items, errors, editable: bool, lang: str, offers: dict, rules: dict, history_url: str
) -> Markup:
    """Every provision section of a chapter form (header, reuse offers, questions, history link)."""
    import json

    history_label = _e(gettext("History of changes"))
    copy_label = _e(gettext("Copy that answer here, then amend"))
    out = []
    for item in items:
        provision = item["provision"]
        pid = _e(provision.id)
        rules_json = _e(json.dumps(rules.get(provision.id, {}), separators=(",", ":")))
        out.append(
            f'<section class="provision" id="{pid}" data-provision="{pid}" data-rules="{rules_json}">'
        )
        out.append(provision_header_html(provision, lang))
        if editable and offers.get(provision.id):
            out.append('<div class="offer">')
            for offer in offers[provision.id]:
                related = offer["provision"]
                answer = related.question("compliance").choices.label(offer["compliance"], lang)
                sentence = gettext(
                    "Your State answered the related provision %(id)s (%(title)s): compliance “%(answer)s”.",
                    id=related.id,
                    title=related.title,
                    answer=answer,
                )
                out.append(
                    f'<p>{_e(sentence)} <button type="submit" form="copy-{pid}-{_e(related.id)}" class="small">{copy_label}</button></p>'
                )
            out.append("</div>")
        out.append(f'<input type="hidden" name="{pid}.present" value="1">')
        out += [
            question_html(q, provision.id, item, errors, editable, lang)
            for q in provision.questions
        ]
        saved = (
            f"{_e(gettext('Last saved %(when)s', when=item['updated']))} · "
            if item["updated"]
            else ""
        )
        url = _e(history_url.replace("PROVISION", provision.id))
        out.append(
            f'<p class="provision-foot muted">{saved}<a href="{url}">{history_label}</a></p></section>'
        )
    return Markup("".join(out))  # noqa: S704 - every interpolated value above went through escape()


def sidebar_html(progress, current_key: str, chapter_url: str, lang: str) -> Markup:
    """The chapter navigation with per-chapter progress (answered / provisions)."""
    out = [f'<nav class="sidebar" aria-label="{_e(gettext("Chapters"))}">']
    instrument = None
    for row in progress:
        chapter = row.chapter
        if row.instrument != instrument:
            if instrument is not None:
                out.append("</ul>")
            out.append(f"<h2>{_e(row.instrument)}</h2><ul>")
            instrument = row.instrument
        current = chapter.key == current_key
        url = _e(chapter_url.replace("INSTRUMENT", row.instrument).replace("CHAPTER", chapter.id))
        number = f"{_e(chapter.number)}. " if chapter.number else ""
        label = _e(
            gettext(
                "%(answered)s of %(total)s provisions answered",
                answered=row.answered,
                total=row.applicable,
            )
        )
        li_class = ' class="current"' if current else ""
        aria_current = ' aria-current="page"' if current else ""
        done = " done" if row.done else ""
        out.append(
            f'<li{li_class}><a href="{url}"{aria_current}>{number}{translate_text(chapter.title)}</a>'
            f'<span class="progress{done}" aria-label="{label}">{row.answered}/{row.applicable}</span></li>'
        )
    if instrument is not None:
        out.append("</ul>")
    out.append("</nav>")
    return Markup("".join(out))  # noqa: S704 - every interpolated value above went through escape()


def copy_forms_html(offers: dict, csrf: str, copy_url: str) -> Markup:
    """The small forms behind the 'copy that answer here' buttons (one per offer)."""
    out = []
    for provision_id, items in offers.items():
        url = _e(copy_url.replace("PROVISION", provision_id))
        for offer in items:
            source = _e(offer["provision"].id)
            out.append(
                f'<form method="post" id="copy-{_e(provision_id)}-{source}" action="{url}" hidden>'
                f'<input type="hidden" name="csrf_token" value="{_e(csrf)}"><input type="hidden" name="source" value="{source}"></form>'
            )
    return Markup("".join(out))  # noqa: S704 - every interpolated value above went through escape()
