"""Languages: the six official UN languages, and a translation hook the core library can use.

The core (answers, storage) must not import Flask; it marks user-facing messages with `_()` from
here. The web layer installs Flask-Babel's gettext as the translator; elsewhere (CLI, tests) the
messages stay in English.
"""

from __future__ import annotations

import functools
import os
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
