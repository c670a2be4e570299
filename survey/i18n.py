"""Languages: the six official UN languages, and a translation hook the core library can use.

The core (answers, storage) must not import Flask; it marks user-facing messages with `_()` from
here. The web layer installs Flask-Babel's gettext as the translator; elsewhere (CLI, tests) the
messages stay in English.
"""

from __future__ import annotations

from collections.abc import Callable

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
