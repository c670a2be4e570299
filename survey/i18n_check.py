"""Translation completeness: interface catalogs and questionnaire texts, per language."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from .i18n import CATALOGS, LANGUAGES

TRANSLATIONS = CATALOGS


def catalog_gaps(lang: str, directory: Path = TRANSLATIONS) -> list[str]:
    """msgids of the template (messages.pot) with no translation (or only a fuzzy one) in `lang`."""
    with open(directory / "messages.pot", "rb") as f:
        template = read_po(f)
    po = directory / lang / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return [str(m.id) for m in template if m.id]
    with open(po, "rb") as f:
        catalog = read_po(f, locale=lang)
    missing = []
    for message in template:
        if not message.id:
            continue
        found = catalog.get(message.id)
        strings = found.string if found else None
        empty = not all(strings) if isinstance(strings, tuple | list) else not strings
        if found is None or empty or found.fuzzy:
            missing.append(message.id if isinstance(message.id, str) else message.id[0])
    return missing


def questionnaire_gaps(model, lang: str) -> dict[str, list[str]]:
    """Texts without `lang`, grouped: standard block, choice lists, titles, summaries."""
    gaps: dict[str, list[str]] = {
        "standard block": [],
        "choice lists": [],
        "titles": [],
        "summaries": [],
    }
    for question in model.standard_block:
        for field in ("label", "hint"):
            text = getattr(question, field)
            if text is not None and not text.has(lang):
                gaps["standard block"].append(f"{question.name}.{field}")
    for choice_list in model.choice_lists:
        for choice in choice_list.choices:
            if not choice.label.has(lang):
                gaps["choice lists"].append(f"{choice_list.name}.{choice.name}")
    for inst in model.instruments:
        for name, text in (("title", inst.title), ("short_title", inst.short_title)):
            if not text.has(lang):
                gaps["titles"].append(f"{inst.code}.{name}")
        for chapter in inst.chapters:
            if not chapter.title.has(lang):
                gaps["titles"].append(f"{chapter.key}")
    for provision in model.provisions.values():
        if not provision.summary.has(lang):
            gaps["summaries"].append(provision.id)
    return gaps


# Missing texts in these parts fail the check; the others are reported (English is shown, marked).
REQUIRED_PARTS = ("interface", "standard block", "choice lists")


def report_missing(model, echo) -> bool:
    """Print missing translations per language; return False when a required part is incomplete."""
    ok = True
    for lang in LANGUAGES:
        if lang == "en":
            continue
        parts = {"interface": catalog_gaps(lang), **questionnaire_gaps(model, lang)}
        summary = ", ".join(f"{name}: {len(items)} missing" for name, items in parts.items())
        echo(f"[{lang}] {summary}")
        for name in REQUIRED_PARTS:
            for item in parts[name][:50]:
                echo(f"  {lang} {name}: {item}")
            if parts[name]:
                ok = False
        if parts["titles"]:
            echo(f"  {lang} titles without translation: {', '.join(parts['titles'][:20])}")
    echo(
        "All required translations are present."
        if ok
        else "Some required translations are missing (interface, standard block or choice lists)."
    )
    return ok
