"""Every word a respondent reads, in their language (issue 16).

Each respondent page, the national report and the offline Excel file are rendered in the five
languages other than English, and their visible text is searched for every English text the
project holds a translation of in that language: the interface catalog's msgids and the
questionnaire's texts (instrument, chapter and provision titles, summaries, labels, hints,
choices, cross-reference notes). English shown on purpose is inside an element marked
`lang="en"` (an untranslated text with its "(EN)" mark, a quoted original) and is left out of the
search; so is what the test itself typed.
"""

from __future__ import annotations

import io
import re
from functools import cache
from html.parser import HTMLParser

import pytest
from babel.messages.pofile import read_po
from openpyxl import load_workbook

from survey.i18n import LANGUAGES
from survey.responding import save_provision
from survey.storage.responses import change_status, get_or_create_response

OTHER = [lang for lang in LANGUAGES if lang != "en"]
# In Arabic, Chinese and Russian any Latin word is suspect, whether or not the catalogs hold it
# (e.g. a citation written by code): only these, which are names, not English, may appear.
NON_LATIN = ("ar", "ru", "zh")
LATIN_WORD = re.compile(r"(?<![\w@.-])[A-Za-z][a-z]{2,}(?![\w@-])")
LATIN_ALLOWED = {
    "Excel",  # product names
    "LibreOffice",
    "xlsx",  # a file type
    "omnibus",  # the questionnaire's id, "omnibus 2026.2"
}
PO = "survey/translations/{lang}/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%[sd]|\{[a-z_]*\}")
SKIPPED = {"script", "style", "template", "noscript"}
VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "track",
    "wbr",
}


class _Visible(HTMLParser):
    """Text nodes and readable attributes, without scripts, styles and the subtrees marked as
    another language than the page's (`lang="en"` on an untranslated text, `lang="fr"` on
    "Français" in the language menu)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[bool] = []  # per open element: hidden (skipped or marked English)
        self.page_lang: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.page_lang = attrs.get("lang")
        foreign = "lang" in attrs and tag != "html" and attrs["lang"] != self.page_lang
        hidden = (self.stack and self.stack[-1]) or tag in SKIPPED or foreign
        if not hidden:
            for name in ("title", "placeholder", "aria-label", "alt"):
                if attrs.get(name):
                    self.parts.append(attrs[name])
            if tag == "input" and attrs.get("type") in ("submit", "button") and attrs.get("value"):
                self.parts.append(attrs["value"])
        if tag not in VOID:
            self.stack.append(bool(hidden))

    def handle_startendtag(self, tag, attrs):
        if tag not in VOID:
            self.handle_starttag(tag, attrs)
            self.handle_endtag(tag)
        else:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag not in VOID and self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if data.strip() and not (self.stack and self.stack[-1]):
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ¶ ".join(" ".join(p.split()) for p in parser.parts)


def _fragments(english: str) -> list[str]:
    """The literal pieces of an English text worth searching for: between placeholders, with
    at least two words or eight letters (a lone short word may be the same in French)."""
    out = []
    for piece in PLACEHOLDER.split(english):
        piece = " ".join(piece.split()).strip(" .,:;()·—-")
        words = piece.split()
        if len(words) >= 2 or (len(words) == 1 and len(piece) >= 8 and piece.isalpha()):
            out.append(piece)
    return out


@cache
def interface_english(lang: str) -> frozenset[str]:
    """Fragments of the msgids whose translation into `lang` differs from the English."""
    with open(PO.format(lang=lang), "rb") as f:
        catalog = read_po(f, locale=lang)
    found = set()
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings:
                continue
            found.update(f for f in _fragments(english) if not any(f in s for s in strings))
    return frozenset(found)


def _texts(questionnaire):
    """Every translatable questionnaire text (a survey.questionnaire.model.Text)."""
    for instrument in questionnaire.instruments:
        yield instrument.title
        yield instrument.short_title
    for chapter in questionnaire.chapters.values():
        yield chapter.title
    for provision in questionnaire.provisions.values():
        yield provision.title_text
        yield provision.summary
        for question in provision.questions:
            for name in ("label", "hint"):
                text = getattr(question, name, None)
                if text is not None:
                    yield text
            if question.choices is not None:
                yield from (choice.label for choice in question.choices.choices)
        for ref in provision.cross_references:
            for name in ("note_text", "title_text"):
                text = getattr(ref, name, None)
                if text is not None:
                    yield text


def questionnaire_english(questionnaire, lang: str) -> frozenset[str]:
    """Fragments of the questionnaire's English texts that have a different `lang` text."""
    found = set()
    for text in _texts(questionnaire):
        if not hasattr(text, "has") or not text.has(lang):
            continue
        translated = text.get(lang)
        if translated != text.en:
            found.update(f for f in _fragments(text.en) if f not in translated)
    # Citations are catalog patterns, not literal msgids: the English ones are looked for
    # whole ('Art. 6, para. 2(b)-(d)' where French cites 'art. 6, par. 2 (b)-(d)', 'Art. 5'
    # where it cites 'art. 5').
    for provision in questionnaire.provisions.values():
        if provision.citation(lang) != provision.reference:
            found.add(provision.reference)
    return frozenset(found)


def english_in(text: str, sources) -> list[str]:
    hits = []
    for fragment in sources:
        if " " in fragment:
            if fragment in text:
                hits.append(fragment)
        elif re.search(rf"(?<![\w-]){re.escape(fragment)}(?![\w-])", text):
            hits.append(fragment)
    return sorted(hits)


def untranslated(html: str, lang: str, sources) -> list[str]:
    """What a page in `lang` shows in English: fragments of `sources`, and in a non-Latin
    language every Latin word but the allowed names."""
    assert f'<html lang="{lang}"' in html
    text = visible_text(html)
    hits = english_in(text, sources)
    if lang in NON_LATIN:
        hits += sorted(set(LATIN_WORD.findall(text)) - LATIN_ALLOWED)
    return hits


# -- a State's round, answered a little, with nothing English typed ---------------------------

TYPED = {  # answers in no language the search looks for
    "UNTOC-5": {
        "compliance": "partly",
        "ta_needed": "yes",
        "ta_types": ["legal_advice"],
        "ta_received": "yes",
        "ta_provider": "ONUDC 2025",
    },
    "UNCAC-15": {"compliance": "not_yet", "ta_needed": "no"},
    "TIP-5": {"compliance": "fully"},
}


# Five submitted neighbours: Kenya's officials then see the national report's regional section.
NEIGHBOURS = ("EGY", "NGA", "GHA", "ZAF", "ETH")


@pytest.fixture
def kenya_round(db, round_id, people):
    response = get_or_create_response(db, round_id, "KEN")
    for pid, values in TYPED.items():
        save_provision(db, response["id"], pid, values, user_id=None)
    for iso3 in NEIGHBOURS:
        neighbour = get_or_create_response(db, round_id, iso3)
        for pid, values in TYPED.items():
            save_provision(db, neighbour["id"], pid, values, user_id=None)
        change_status(db, neighbour["id"], "submitted", user_id=None)
    return round_id


def respondent_urls(questionnaire, round_id):
    urls = [
        f"/fill/{round_id}/",
        f"/fill/{round_id}/submit",
        f"/fill/{round_id}/profile",
        f"/fill/{round_id}/print",
        f"/fill/{round_id}/offline",
        f"/fill/{round_id}/history/UNTOC-5",
        f"/national/{round_id}/KEN",
    ]
    for instrument in questionnaire.instruments:
        for chapter in instrument.chapters:
            urls.append(f"/fill/{round_id}/{instrument.code}/{chapter.id}")
    return urls


@pytest.mark.parametrize("lang", OTHER)
def test_every_respondent_page_is_in_the_users_language(
    db, login_as, questionnaire, kenya_round, lang
):
    db.execute("UPDATE users SET language = ? WHERE email = 'ken@example.org'", [lang])
    ken = login_as("ken@example.org").client
    sources = interface_english(lang) | questionnaire_english(questionnaire, lang)
    assert len(sources) > 1000  # the search has something to find
    found = {}
    for url in respondent_urls(questionnaire, kenya_round):
        response = ken.get(url)
        assert response.status_code == 200, url
        if hits := untranslated(response.get_data(as_text=True), lang, sources):
            found[url] = hits
    assert found == {}


@pytest.mark.parametrize("lang", OTHER)
def test_pages_before_logging_in_and_error_pages_follow_the_browsers_language(
    client, questionnaire, lang
):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    sources = interface_english(lang) | questionnaire_english(questionnaire, lang)
    for url, status in (("/login", 200), ("/invite/not-a-token", 404), ("/no/such/page", 404)):
        response = client.get(url)
        assert response.status_code == status, url
        assert untranslated(response.get_data(as_text=True), lang, sources) == [], url


@pytest.mark.parametrize("lang", OTHER)
def test_the_offline_file_is_in_the_pages_language(db, login_as, questionnaire, kenya_round, lang):
    db.execute("UPDATE users SET language = ? WHERE email = 'ken@example.org'", [lang])
    ken = login_as("ken@example.org").client
    response = ken.get(f"/fill/{kenya_round}/offline.xlsx")
    assert response.status_code == 200
    data = response.data
    response.close()
    book = load_workbook(io.BytesIO(data))
    sources = interface_english(lang) | questionnaire_english(questionnaire, lang)
    found = {}
    for sheet in book.worksheets:
        if sheet.sheet_state != "visible":
            continue  # the file's own marker for the import, which nobody reads
        assert sheet.sheet_view.rightToLeft is (True if lang == "ar" else None), sheet.title
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                if isinstance(value, str) and (hits := english_in(value, sources)):
                    found.setdefault(sheet.title, set()).update(hits)
    assert found == {}


def test_the_search_finds_english_where_it_is_left(questionnaire):
    """The search is not blind: an interface string and a summary left in English are found,
    and the same English inside a lang="en" element is not."""
    sources = interface_english("fr") | questionnaire_english(questionnaire, "fr")
    summary = questionnaire.provisions["UNTOC-5"].summary.en
    page = (
        "<html lang='fr'><body><h1>Le questionnaire</h1>"
        "<p>Saved. Your answers are kept.</p>"
        f"<p>{summary}</p><p lang='en'>{summary}</p></body></html>"
    )
    hits = english_in(visible_text(page), sources)
    assert hits and any(h in summary for h in hits)
    cited = questionnaire.provisions["UNTOC-6-2-b"]
    page = f"<html lang='fr'><body><p>{cited.reference}</p></body></html>"
    assert cited.reference in english_in(visible_text(page), sources)
    page = f"<html lang='fr'><body><p>{cited.citation('fr')}</p></body></html>"
    assert english_in(visible_text(page), sources) == []
    assert english_in(visible_text(f"<p lang='en'>{summary}</p>"), sources) == []
    # In Chinese, a citation written in English by code is caught word by word, an English
    # original marked as such is not, and neither is an email address.
    zh = visible_text(
        "<html lang='zh'><body><p>第5条 (first sentence) ken@example.org</p>"
        "<p lang='en'>Art. 5, para. 1</p></body></html>"
    )
    assert sorted(set(LATIN_WORD.findall(zh)) - LATIN_ALLOWED) == ["first", "sentence"]
