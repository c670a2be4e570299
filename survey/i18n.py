"""Languages: the six official UN languages, and a translation hook the core library can use.

The core (answers, storage) must not import Flask; it marks user-facing messages with `_()` from
here. The web layer installs Flask-Babel's gettext as the translator; elsewhere (CLI, tests) the
messages stay in English.
"""

from __future__ import annotations

import functools
import gettext
import io
import os
import re
from collections.abc import Callable
from pathlib import Path

LANGUAGES = {
    "en": "English",
    "fr": "Français",
    "es": "Español",
    "ru": "Русский",
    "zh": "中文",
    "ar": "العربية",
}
RTL = {"ar"}
DEFAULT = "en"

# The gettext sources (messages.po per language). A wheel also carries the compiled messages.mo
# next to them, written at build time by setup.py's build step (which loads this file by path, so
# nothing here may import more than the standard library at module level).
CATALOGS = Path(__file__).resolve().parent / "translations"
# A source checkout (the editable install, the tests) has the project file next to the package;
# an installed wheel in site-packages does not.
SOURCE_CHECKOUT = (CATALOGS.parents[1] / "pyproject.toml").is_file()

_translator: Callable[[str], str] | None = None


def install(translator: Callable[[str], str] | None) -> None:
    global _translator
    _translator = translator


def _(message: str, **values) -> str:
    """Translate a message (when a translator is installed) and fill in %(name)s values."""
    text = _translator(message) if _translator else message
    return text % values if values else text


def N_(message: str) -> str:
    """Mark a message for extraction without translating it now."""
    return message


# -- compiled catalogs -------------------------------------------------------------------------


def catalog_sources(source: Path = CATALOGS) -> list[Path]:
    """Every `<lang>/LC_MESSAGES/messages.po` under `source`, sorted."""
    return sorted(source.glob("*/LC_MESSAGES/messages.po"))


@functools.lru_cache(maxsize=32)
def _compiled(po: str, _mtime_ns: int, _size: int) -> bytes:
    """The .mo bytes of one catalog (cached per file version: many apps start in one process)."""
    import io

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with open(po, "rb") as f:
        catalog = read_po(f, locale=Path(po).parts[-3])
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compile_catalogs(source: Path, target: Path, *, force: bool = False) -> list[Path]:
    """Compile each `source/<lang>/LC_MESSAGES/messages.po` to `target/<lang>/LC_MESSAGES/messages.mo`.

    A .mo newer than its .po is left alone unless `force`. Each file is written whole (temporary
    file, then rename), so a process reading the folder never sees half a catalog. Returns the
    paths written. Raises OSError when `target` cannot be written, and Babel's errors for a
    malformed .po (the tests keep the shipped catalogs well formed).
    """
    written = []
    for po in catalog_sources(source):
        mo = target / po.relative_to(source).with_suffix(".mo")
        stat = po.stat()
        if not force and mo.exists() and mo.stat().st_mtime_ns >= stat.st_mtime_ns:
            continue
        data = _compiled(str(po), stat.st_mtime_ns, stat.st_size)
        mo.parent.mkdir(parents=True, exist_ok=True)
        tmp = mo.with_name(f".{mo.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, mo)
        written.append(mo)
    return written


def catalog_directory(instance: Path) -> Path:
    """The folder of compiled catalogs the web app reads (Flask-Babel's translation directory).

    An installed wheel has them in the package, compiled at build time: that folder is returned
    and nothing is written. A source checkout (or a wheel built without them) gets them compiled
    into `instance/translations`, refreshed when a .po is newer: the package folder is never
    written at run time. Raises OSError when the instance folder cannot be written.
    """
    sources = catalog_sources()
    if not SOURCE_CHECKOUT and all(po.with_suffix(".mo").is_file() for po in sources):
        return CATALOGS
    target = Path(instance) / "translations"
    compile_catalogs(CATALOGS, target)
    return target


# -- translating outside a request (files written in a chosen language) ----------------------


@functools.lru_cache(maxsize=16)
def _messages(po: str, _mtime_ns: int, _size: int) -> dict[str, str]:
    from babel.messages.pofile import read_po

    with open(po, "rb") as f:
        catalog = read_po(f, locale=Path(po).parts[-3])
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string}


def gettext_for(lang: str) -> Callable[..., str]:
    """A translator into `lang` that needs no request: for files written in a chosen language
    (the offline questionnaire), from the CLI as from the web. Returns t(message, **values);
    English, or a message without a translation, stays as written."""
    po = CATALOGS / lang / "LC_MESSAGES" / "messages.po"
    messages: dict[str, str] = {}
    if lang != DEFAULT and po.is_file():
        stat = po.stat()
        messages = _messages(str(po), stat.st_mtime_ns, stat.st_size)

    def t(message: str, **values) -> str:
        text = messages.get(message) or message
        return text % values if values else text

    return t


@functools.lru_cache(maxsize=16)
def _gnu(po: str, mtime_ns: int, size: int) -> gettext.GNUTranslations:
    return gettext.GNUTranslations(io.BytesIO(_compiled(po, mtime_ns, size)))


def translations_for(lang: str) -> gettext.NullTranslations:
    """The catalog of `lang` as the standard library's translations (gettext and ngettext with
    the language's plural rule), read without a request; English is the msgids themselves."""
    po = CATALOGS / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not po.is_file():
        return gettext.NullTranslations()
    stat = po.stat()
    return _gnu(str(po), stat.st_mtime_ns, stat.st_size)


# -- citations ---------------------------------------------------------------------------------

# How `paragraphs` is written in the questionnaire: '2', '9-12', '2(b)-(d)', '1 (first sentence)'.
_RANGE = re.compile(r"(\d+)-(\d+)")
_SUBPARAGRAPHS = re.compile(r"(\d+)(\([a-z]+\)(?:-\([a-z]+\))?)")
_SENTENCE = re.compile(r"(\d+) \((first|second) sentence\)")
# Subparagraph letters in the Arabic texts of the UN treaties (abjad order): (a) is (أ), (e) (هـ).
# fmt: off
_ABJAD = ("أ", "ب", "ج", "د", "هـ", "و", "ز", "ح", "ط", "ي", "ك", "ل", "م",
          "ن", "س", "ع", "ف", "ص", "ق", "ر", "ش", "ت", "ث", "خ", "ذ", "ض")
# fmt: on
ARABIC_LETTERS = str.maketrans(dict(zip("abcdefghijklmnopqrstuvwxyz", _ABJAD, strict=True)))


def citation(article: int | str, paragraphs: str | None = None, lang: str = DEFAULT) -> str:
    """How a UN provision is cited in `lang`, in the forms of that language's UN documents:
    'Art. 46, paras. 9-12', 'art. 46, par. 9-12', 'ст. 46, пп. 9-12', '第46条第9-12款'.

    The patterns are catalog messages, so a language without them falls back to English (and
    the completeness check reports them missing)."""
    t = translations_for(lang)
    article = str(article)
    if not paragraphs:
        return t.gettext("Art. %(article)s") % {"article": article}
    if match := _SENTENCE.fullmatch(paragraphs):
        paragraph, which = match.groups()
        cited = t.ngettext(
            "Art. %(article)s, para. %(paragraphs)s", "Art. %(article)s, paras. %(paragraphs)s", 1
        ) % {"article": article, "paragraphs": paragraph}
        if which == "first":
            return t.gettext("%(citation)s (first sentence)") % {"citation": cited}
        return t.gettext("%(citation)s (second sentence)") % {"citation": cited}
    if match := _SUBPARAGRAPHS.fullmatch(paragraphs):
        paragraph, subparagraphs = match.groups()
        if lang == "ar":  # Arabic texts letter subparagraphs in Arabic: (ب)-(د), read right to left
            subparagraphs = subparagraphs.translate(ARABIC_LETTERS)
        return t.gettext("Art. %(article)s, para. %(paragraph)s%(subparagraphs)s") % {
            "article": article,
            "paragraph": paragraph,
            "subparagraphs": subparagraphs,
        }
    if match := _RANGE.fullmatch(paragraphs):
        first, last = (int(n) for n in match.groups())
        count = max(last - first + 1, 2)
    else:  # one paragraph, or a form not foreseen: a list or a range is several
        count = 2 if "-" in paragraphs or "," in paragraphs else 1
    return t.ngettext(
        "Art. %(article)s, para. %(paragraphs)s", "Art. %(article)s, paras. %(paragraphs)s", count
    ) % {"article": article, "paragraphs": paragraphs}


def external_citation(instrument: str, article: str, lang: str = DEFAULT) -> str:
    """An article of another instrument cited in `lang`: 'OECD art. 7', 'OECD第7条'."""
    return translations_for(lang).gettext("%(instrument)s art. %(article)s") % {
        "instrument": instrument,
        "article": article,
    }


# Every catalog message a citation needs: the completeness check asks each language for them.
CITATION_MESSAGES = (
    "Art. %(article)s",
    ("Art. %(article)s, para. %(paragraphs)s", "Art. %(article)s, paras. %(paragraphs)s"),
    "Art. %(article)s, para. %(paragraph)s%(subparagraphs)s",
    "%(citation)s (first sentence)",
    "%(citation)s (second sentence)",
    "%(instrument)s art. %(article)s",
)
