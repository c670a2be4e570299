"""Translation completeness: interface catalogs and questionnaire texts, per language."""

from __future__ import annotations

import functools
from pathlib import Path

from babel.messages.pofile import read_po

from .i18n import CATALOGS, CITATION_MESSAGES, LANGUAGES
from .questionnaire.translations import fingerprint

TRANSLATIONS = CATALOGS
# The gettext keywords of `pybabel extract` (docs/translations.md gives the command): `_`, `gettext`
# and `ngettext` translate now, `N_` marks for later, `lazy_gettext` translates when a form label
# or message is shown. The test of messages.pot runs the extraction with these.
EXTRACT_KEYWORDS = ("_", "N_", "gettext", "ngettext:1,2", "lazy_gettext")


def _catalog(path: Path, locale: str | None = None):
    """The catalog in a .po or .pot file, or None when there is none (read once per version)."""
    if not path.exists():
        return None
    stat = path.stat()
    return _read(str(path), locale, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _read(path: str, locale: str | None, _mtime_ns: int, _size: int):
    with open(path, "rb") as f:
        return read_po(f, locale=locale)


def _untranslated(catalog, message_id) -> bool:
    found = catalog.get(message_id) if catalog is not None else None
    strings = found.string if found else None
    empty = not all(strings) if isinstance(strings, tuple | list) else not strings
    return found is None or empty or found.fuzzy


def catalog_gaps(lang: str, directory: Path = TRANSLATIONS) -> list[str]:
    """msgids of the template (messages.pot) with no translation (or only a fuzzy one) in `lang`."""
    template = _catalog(directory / "messages.pot")
    catalog = _catalog(directory / lang / "LC_MESSAGES" / "messages.po", lang)
    return [
        message.id if isinstance(message.id, str) else message.id[0]
        for message in template
        if message.id and _untranslated(catalog, message.id)
    ]


def questionnaire_fields(model, lang: str) -> dict[str, list[tuple[str, bool]]]:
    """Every translatable questionnaire text a respondent reads, grouped, each as (where it is,
    whether `lang` has it): the standard block (with each obligation level's own compliance
    question), the extra questions of the provisions, the choice lists, instrument and chapter
    titles, provision titles, summaries, cross-reference notes and the names of other
    instruments and of their articles cited. A translation left out as stale does not count."""
    fields: dict[str, list[tuple[str, bool]]] = {part: [] for part in QUESTIONNAIRE_PARTS}

    def question_fields(part, where, question):
        for name in ("label", "hint"):
            text = getattr(question, name)
            if text is not None:
                fields[part].append((f"{where}.{name}", text.has(lang)))

    standard = {q.name for q in model.standard_block}
    seen = {id(q) for q in model.standard_block}
    for question in model.standard_block:
        question_fields("standard block", question.name, question)
    for provision in model.provisions.values():
        for question in provision.questions:
            if question.name not in standard:
                question_fields("extra questions", f"{provision.id}.{question.name}", question)
            elif id(question) not in seen:  # an obligation level's own wording
                seen.add(id(question))
                question_fields(
                    "standard block", f"{question.name} ({provision.obligation})", question
                )
    for choice_list in model.choice_lists:
        for choice in choice_list.choices:
            fields["choice lists"].append(
                (f"{choice_list.name}.{choice.name}", choice.label.has(lang))
            )
    for inst in model.instruments:
        for name, text in (("title", inst.title), ("short_title", inst.short_title)):
            fields["titles"].append((f"{inst.code}.{name}", text.has(lang)))
        for chapter in inst.chapters:
            fields["titles"].append((chapter.key, chapter.title.has(lang)))
    names: dict[str, bool] = {e.code: e.title_text.has(lang) for e in model.external_instruments}
    for provision in model.provisions.values():
        fields["provision titles"].append((provision.id, provision.title_text.has(lang)))
        fields["summaries"].append((provision.id, provision.summary.has(lang)))
        for ref in provision.cross_references:
            if ref.note_text is not None:
                fields["notes"].append((f"{provision.id} {ref.key}", ref.note_text.has(lang)))
            if ref.title_text is not None:
                names[ref.key] = ref.title_text.has(lang)
    fields["external titles"] = list(names.items())
    return fields


QUESTIONNAIRE_PARTS = (
    "standard block",
    "extra questions",
    "choice lists",
    "titles",
    "provision titles",
    "summaries",
    "notes",
    "external titles",
)
# The parts in the translation files, whose language status (working or reviewed) they carry.
FILE_PARTS = {
    "provision titles": "titles",
    "summaries": "summaries",
    "notes": "notes",
    "external titles": "external titles",
}


def questionnaire_gaps(model, lang: str) -> dict[str, list[str]]:
    """Texts without `lang`, grouped as in `questionnaire_fields`."""
    return {
        part: [where for where, has in items if not has]
        for part, items in questionnaire_fields(model, lang).items()
    }


def citation_gaps(lang: str, directory: Path = TRANSLATIONS) -> list[str]:
    """The citation patterns ('Art. %(article)s, para. %(paragraphs)s', ...) that the catalog of
    `lang` does not translate (every plural form of a plural one), whatever the template says."""
    catalog = _catalog(directory / lang / "LC_MESSAGES" / "messages.po", lang)
    return [
        message if isinstance(message, str) else message[0]
        for message in CITATION_MESSAGES
        if _untranslated(catalog, message)
    ]


PROVISION_PARTS = ("provision titles", "summaries")


def _counts(fields, missing, names) -> str:
    """'titles 273/273, summaries 272/273': translated of all, per part (with its label)."""
    return ", ".join(
        f"{label} {len(fields[part]) - len(missing[part])}/{len(fields[part])}"
        for part, label in names
    )


STATUS_NAMES = {"working": "working translation", "reviewed": "reviewed"}


def report_missing(model, echo, catalogs: Path | None = None) -> bool:
    """Print, per language, what is missing of every translatable text (interface catalogs,
    citation patterns, then each part of the questionnaire), the language's status (working or
    reviewed) with the counts of what the translation files hold, and the counts of the rest;
    return False when anything is missing, a translation left out because its English source
    changed included."""
    ok = True
    catalogs = catalogs or TRANSLATIONS  # read when called: a test can point it elsewhere
    for lang in LANGUAGES:
        if lang == "en":
            continue
        interface = catalog_gaps(lang, catalogs)
        fields = questionnaire_fields(model, lang)
        parts = {
            "interface": interface,
            "citations": citation_gaps(lang, catalogs),
            **{part: [w for w, has in items if not has] for part, items in fields.items()},
        }
        summary = ", ".join(f"{name}: {len(items)} missing" for name, items in parts.items())
        echo(f"[{lang}] {summary}")
        status = model.translation_status.get(lang)

        echo(
            f"  {lang} provisions ({STATUS_NAMES.get(status, 'no translation file')}): "
            + _counts(fields, parts, FILE_PARTS.items())
        )
        others = [(part, part) for part in QUESTIONNAIRE_PARTS if part not in FILE_PARTS]
        cited = len(CITATION_MESSAGES) - len(parts["citations"])
        echo(
            f"  {lang} questionnaire: citations {cited}/{len(CITATION_MESSAGES)}, {_counts(fields, parts, others)}"
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
