"""Interface language: Flask-Babel, the user's saved choice, Accept-Language, and a switcher."""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Blueprint, g, redirect, request, session
from flask_babel import Babel, get_locale, get_translations, gettext
from markupsafe import Markup, escape

from .. import i18n
from ..i18n import N_
from ..questionnaire.model import Text
from ..storage.responses import STATUS_LABELS
from ..storage.rounds import round_titles
from ..storage.users import set_language
from .db import get_db

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    user = getattr(g, "user", None)
    if user and user.get("language") in i18n.LANGUAGES:
        return user["language"]
    chosen = session.get("lang")
    if chosen in i18n.LANGUAGES:
        return chosen
    return request.accept_languages.best_match(list(i18n.LANGUAGES)) or i18n.DEFAULT


def page_locale():
    """The request's Babel locale, looked up once per request (Flask-Babel's get_locale
    resolves its context on every call; report pages ask once per number and per text)."""
    try:
        return g._survey_locale
    except AttributeError:
        locale = g._survey_locale = get_locale()
        return locale


def current_language() -> str:
    """The page's language code ('fr'): the locale's language (not its whole identifier, which
    Babel builds anew on every str(); pages ask for it once per row)."""
    locale = page_locale()
    return locale.language if locale is not None else i18n.DEFAULT


def translate_text(text) -> Markup:
    """A questionnaire Text in the page language; an English fallback is marked as such."""
    if text is None:
        return Markup("")
    lang = current_language()
    if lang == "en" or text.has(lang):
        return escape(text.get(lang))
    from flask import get_template_attribute

    return get_template_attribute("_macros.html", "english_fallback")(text.en)


def plain_text(text) -> str:
    """The same without markup (for attributes and exports)."""
    return "" if text is None else text.get(current_language())


def round_title(round_) -> Markup:
    """A round's title in the page language; the English title, marked, where it has none."""
    return translate_text(Text.of(round_titles(round_)))


def round_title_plain(round_) -> str:
    """The same without markup (for <title>, <option> and attributes)."""
    return plain_text(Text.of(round_titles(round_)))


def format_stamp(stamp: str | None) -> str:
    """A stored UTC time ('2026-02-12T12:08:41Z') in the page's locale, with its time zone."""
    if not stamp:
        return ""
    from datetime import UTC, datetime

    from flask_babel import format_datetime

    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return stamp
    return f"{format_datetime(moment, 'medium', rebase=False)} UTC"


def page_translations():
    """The request's message catalog, looked up once per request: Flask-Babel's gettext
    resolves its context, domain and locale identifier again for every message (about 12 µs
    each, on report pages with hundreds). Language changes redirect, so a request never
    changes its language after its first message (Flask-Babel caches the locale likewise)."""
    try:
        return g._survey_translations
    except AttributeError:
        translations = g._survey_translations = get_translations()
        return translations


def format_share(share) -> str:
    """A share (0.4) as a whole percentage in the page's locale: "40%", "40 %", "40‎%"
    (the locale's own percent pattern, as flask_babel.format_percent, without its per-call
    set-up)."""
    locale = page_locale()
    return locale.percent_formats[None].apply(share, locale)


@functools.lru_cache(maxsize=32)
def _number_pattern(digits: int, signed: bool):
    """Babel's parsed pattern for format_number (parsing it took more than applying it)."""
    from babel.numbers import parse_pattern

    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    if signed:
        pattern = f"+{pattern};-{pattern}"
    return parse_pattern(pattern)


def format_number(value, digits: int = 0, signed: bool = False) -> str:
    """A number with `digits` decimals in the page's locale ("0.750", "0,750"); `signed` shows +."""
    return _number_pattern(digits, signed).apply(value, page_locale())


def init_app(app) -> None:
    """Flask-Babel with the compiled catalogs (the package's, or compiled into the instance folder)."""
    catalogs = i18n.catalog_directory(Path(app.config["INSTANCE_PATH"]))
    Babel(app, locale_selector=select_locale, default_translation_directories=str(catalogs))
    # Templates' _() and ngettext() with the catalog looked up once per request (the same
    # messages and new-style %(name)s formatting as Flask-Babel's callables they replace).
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: page_translations().ugettext(s),
        ngettext=lambda s, p, n: page_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: page_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: page_translations().unpgettext(c, s, p, n),
    )
    i18n.install(lambda message: gettext(message) if _in_request() else message)
    app.jinja_env.filters["tr"] = translate_text
    app.jinja_env.filters["trp"] = plain_text
    app.jinja_env.filters["when"] = format_stamp
    app.jinja_env.filters["percent"] = format_share
    app.jinja_env.filters["number"] = format_number
    app.jinja_env.filters["round_title"] = round_title
    app.jinja_env.filters["round_title_plain"] = round_title_plain
    from .db import get_model

    app.jinja_env.globals.update(label_helpers(get_model))
    app.register_blueprint(bp)

    @app.context_processor
    def _language():
        lang = current_language()
        return {
            "lang": lang,
            "text_dir": "rtl" if lang in i18n.RTL else "ltr",
            "languages": i18n.LANGUAGES,
        }


def _in_request() -> bool:
    from flask import has_request_context

    return has_request_context()


@bp.route("/language", methods=["POST"])
def choose_language():
    from .auth import _safe_next
    from .forms import BaseForm

    lang = request.form.get("lang", "")
    target = _safe_next(request.form.get("next")) or "/"
    if lang not in i18n.LANGUAGES or not BaseForm().validate_on_submit():
        return redirect(target)
    session["lang"] = lang
    if getattr(g, "user", None) is not None:
        set_language(get_db(), g.user["id"], lang)
    return redirect(target)


# -- labels for codes shown in pages -----------------------------------------------------------

ROLE_LABELS = {"respondent": N_("respondent"), "analyst": N_("analyst"), "admin": N_("admin")}
OBLIGATION_LABELS = {
    "mandatory": N_("Mandatory"),
    "consider": N_("Shall consider"),
    "optional": N_("Optional"),
}
SOURCE_LABELS = {
    "web": N_("web form"),
    "offline": N_("offline workbook"),
    "prefill": N_("pre-filled from the previous round"),
    "demo": N_("demo data"),
    "autosave": N_("saved automatically"),
    "replay": N_("text kept in the browser, saved later"),
    "script": N_("command line or script"),
}
# What to say when an error has no message of its own (werkzeug's defaults are English).
ERROR_DESCRIPTIONS = {
    400: N_("The request could not be understood. Go back and try again."),
    401: N_("Log in to see this page."),
    403: N_("Your account may not open this page."),
    404: N_("There is no page at this address. Check the address, or go back to the start page."),
    405: N_("This page cannot be opened this way. Go back and use the page's own buttons."),
    409: N_("Someone changed this at the same time. Reload the page and try again."),
    413: N_("The file is larger than the limit. Send a smaller file."),
    422: N_("What was sent could not be processed. Go back and check it."),
    429: N_("Too many attempts. Wait a few minutes and try again."),
}


def error_description(exc) -> str:
    """An HTTP error's message in the page's language: the one it was raised with (already
    translated where the app aborts), else the app's own text for its code instead of
    werkzeug's English default."""
    default = type(exc).description
    if exc.description and exc.description != default:
        return exc.description
    return gettext(ERROR_DESCRIPTIONS[exc.code]) if exc.code in ERROR_DESCRIPTIONS else ""


ERROR_TITLES = {
    400: N_("Bad request"),
    401: N_("Please log in"),
    403: N_("Not allowed"),
    404: N_("Not found"),
    405: N_("Not allowed"),
    409: N_("Conflict"),
    413: N_("File too large"),
    422: N_("Could not be processed"),
    429: N_("Too many attempts"),
}


def _label(table: dict, code) -> str:
    return gettext(table[code]) if code in table else str(code)


def label_helpers(model_getter) -> dict:
    from ..storage.states import grouping_label, region_label, state_name

    def source_label(source):
        if source and source.startswith("copy:"):
            return gettext("copied from %(id)s", id=source[5:])
        if source and source.startswith("undo:"):
            return gettext("a change undone")
        if source and source.startswith("migration:"):
            return gettext("converted to the new answer scale")
        return _label(SOURCE_LABELS, source)

    def choice_label(list_name):
        def label(code):
            choices = model_getter().choice_list(list_name)
            return choices.label(code, current_language()) if choices else code

        return label

    return {
        "role_label": lambda code: _label(ROLE_LABELS, code),
        "status_label": lambda code: _label(STATUS_LABELS, code),
        "obligation_label": lambda code: _label(OBLIGATION_LABELS, code),
        "grouping_label": grouping_label,
        "error_title": lambda code: _label(ERROR_TITLES, code),
        "error_description": error_description,
        "source_label": source_label,
        "region_label": region_label,
        "state_name": lambda state, lang=None: state_name(state, lang or current_language()),
        "ta_label": choice_label("ta_types"),
        "challenge_label": choice_label("challenges"),
    }
