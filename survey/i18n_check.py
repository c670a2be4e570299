"""Translation completeness: interface catalogs and questionnaire texts, per language."""

from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from .i18n import CATALOGS, LANGUAGES
from .questionnaire.translations import fingerprint

TRANSLATIONS = CATALOGS
# The gettext keywords of `pybabel extract` (docs/translations.md gives the command): `_`, `gettext`
# and `ngettext` translate now, `N_` marks for later, `lazy_gettext` translates when a form label
# or message is shown. The test of messages.pot runs the extraction with these.
EXTRACT_KEYWORDS = ("_", "N_", "gettext", "ngettext:1,2", "lazy_gettext")


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
    """Texts without `lang`, grouped: standard block, choice lists, titles (instruments and
    chapters), provision titles, summaries. A translation left out as stale counts as missing."""
    gaps: dict[str, list[str]] = {
        "standard block": [],
        "choice lists": [],
        "titles": [],
        "provision titles": [],
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
        if not provision.title_text.has(lang):
            gaps["provision titles"].append(provision.id)
        if not provision.summary.has(lang):
            gaps["summaries"].append(provision.id)
    return gaps


PROVISION_PARTS = ("provision titles", "summaries")
STATUS_NAMES = {"working": "working translation", "reviewed": "reviewed"}


def report_missing(model, echo) -> bool:
    """Print missing translations per language, with each language's status (working or
    reviewed) and the count of provision titles and summaries; return False when anything is
    missing, a translation left out because its English source changed included."""
    ok = True
    total = len(model.provisions)
    for lang in LANGUAGES:
        if lang == "en":
            continue
        parts = {"interface": catalog_gaps(lang), **questionnaire_gaps(model, lang)}
        summary = ", ".join(f"{name}: {len(items)} missing" for name, items in parts.items())
        echo(f"[{lang}] {summary}")
        status = model.translation_status.get(lang)
        echo(
            f"  {lang} provisions ({STATUS_NAMES.get(status, 'no translation file')}): "
            f"titles {total - len(parts['provision titles'])}/{total}, "
            f"summaries {total - len(parts['summaries'])}/{total}"
        )
        stale = [pid for stale_lang, pid in model.stale_translations if stale_lang == lang]
        if stale:
            echo(f"  {lang} translated from an earlier English text: {', '.join(stale)}")
        for name, items in parts.items():
            for item in items[:50]:
                # A provision's text names the fingerprint its translation must carry (source).
                provision = model.provisions.get(item) if name in PROVISION_PARTS else None
                where = f" (source: '{fingerprint(provision)}')" if provision else ""
                echo(f"  {lang} {name}: {item}{where}")
            if len(items) > 50:
                echo(f"  {lang} {name}: ... and {len(items) - 50} more")
            if items:
                ok = False
    echo(
        "All translations are present."
        if ok
        else "Some translations are missing (English is shown in their place, marked)."
    )
    return ok
