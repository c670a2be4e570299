"""The chapter page: links built by url_for whatever the round id, hostile text escaped, parts
cached per language without one language leaking into another, and well-nested markup."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import pytest
from markupsafe import escape

from survey.questionnaire import default_directory
from survey.responding import save_provision
from survey.storage.responses import get_or_create_response
from survey.storage.rounds import create_round
from survey.storage.users import set_language
from survey.web import create_app

CHAPTER = "TIP/general_provisions"  # TIP-5, cross-referenced with UNTOC-5
CHECKED = {"section", "fieldset", "div", "form", "select", "textarea", "label", "p", "nav", "ul"}


class PageReader(HTMLParser):
    """Links and form actions of a page (with the method that follows them), and whether the
    main block elements nest properly."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name, method in (("href", "GET"), ("action", (attrs.get("method") or "GET").upper())):
            if (attrs.get(name) or "").startswith("/fill/"):
                self.links.append((attrs[name], method))
        if tag in CHECKED:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag not in CHECKED:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()


def read_page(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    reader.close()
    assert reader.problems == [], reader.problems[:5]
    assert reader.stack == [], f"left open: {reader.stack}"
    return reader


@pytest.fixture
def ken_round(db, questionnaire, request):
    """A round with the given (awkward) id, Kenya's response with the related UNTOC-5 answered
    (so TIP-5 offers a copy) and TIP-5 saved once (so it has a history)."""
    round_id = request.param
    create_round(db, round_id, questionnaire)
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "UNTOC-5", {"compliance": "partly"}, user_id=None)
    save_provision(db, response["id"], "TIP-5", {"compliance": "fully"}, user_id=None)
    return round_id


@pytest.mark.parametrize("ken_round", ["CHAPTER-1", "ЦИКЛ-1"], indirect=True)
def test_a_round_id_like_chapter_1_or_in_cyrillic_keeps_every_link_working(
    app, login_as, ken_round
):
    ken = login_as("ken@example.org")
    with app.test_request_context():
        from flask import url_for

        url = url_for(
            "fill.chapter", round_id=ken_round, instrument="TIP", chapter_id="general_provisions"
        )
    page = ken.client.get(url)
    assert page.status_code == 200
    reader = read_page(page.get_data(as_text=True))
    adapter = app.url_map.bind("localhost")
    endpoints = set()
    for link, method in reader.links:
        endpoint, args = adapter.match(unquote(urlsplit(link).path), method=method)
        endpoints.add(endpoint)
        if endpoint == "fill.overview" and not args:
            continue  # 'My questionnaire': the current round, whichever it is
        assert args["round_id"] == ken_round, link
    assert {"fill.chapter", "fill.provision_history", "fill.copy_related"} <= endpoints
    # The sidebar and history links open their pages in this round.
    for link, method in reader.links:
        if method == "GET" and ("/history/" in link or link.endswith("/TIP/victim_protection")):
            assert ken.client.get(link).status_code == 200, link
    # The copy offer posts to this round, and the undo it then offers does too.
    action = next(link for link, _ in reader.links if "/copy/TIP-5" in link)
    copied = ken.post(action, {"source": "UNTOC-5", "confirm": "1"}, form_url=url)
    assert copied.status_code == 302
    after = ken.client.get(copied.headers["Location"])
    assert after.status_code == 200
    undo = [link for link, _ in read_page(after.get_data(as_text=True)).links if "/undo/" in link]
    assert len(undo) == 1
    assert adapter.match(unquote(undo[0]), method="POST")[1]["round_id"] == ken_round
    assert ken.post(undo[0], {}, form_url=copied.headers["Location"]).status_code == 302


HOSTILE_LABEL = "<script>alert(\"label\")</script> 'quoted' & \u202eevil"
HOSTILE_SUMMARY = '<img src=x onerror="alert(1)"> summary'
HOSTILE_CHOICE = '<b>"Partly"</b>'
HOSTILE_ANSWER = "</textarea><script>alert('answer')</script> \"quotes\" \u200f\u202eRTL"


@pytest.fixture
def hostile_app(tmp_path, db_path, people):
    """The app on a copy of the questionnaire whose texts carry markup, quotes and RTL marks."""
    qdir = tmp_path / "q"
    shutil.copytree(default_directory(), qdir, ignore=shutil.ignore_patterns("schema"))

    def patch(name, old, new):
        text = (qdir / name).read_text(encoding="utf-8")
        assert old in text
        (qdir / name).write_text(text.replace(old, new, 1), encoding="utf-8")

    yaml_label = HOSTILE_LABEL.replace("'", "''")
    patch(
        "shared.yaml",
        "      en: Cite and summarize the laws, regulations and other measures that implement this provision.",
        f"      en: '{yaml_label}'",
    )
    patch("shared.yaml", "        en: Partly\n", f"        en: '{HOSTILE_CHOICE}'\n")
    patch(
        "tip.yaml",
        "Make trafficking in persons, as defined in the Protocol, a crime when done on purpose,",
        HOSTILE_SUMMARY,
    )
    app = create_app(
        {
            "DATABASE": str(db_path),
            "SECRET_KEY": "test-secret",
            "RATELIMIT_ENABLED": False,
            "INSTANCE_PATH": str(tmp_path),
            "QUESTIONNAIRE_DIR": str(qdir),
        }
    )
    app.testing = True
    return app


def test_hostile_questionnaire_texts_and_answers_come_out_escaped(
    hostile_app, db, people, round_id
):
    from tests.conftest import Actions

    ken = Actions(hostile_app.test_client())
    assert ken.login("ken@example.org").status_code == 302
    url = f"/fill/{round_id}/{CHAPTER}"
    saved = ken.post(
        url, {"TIP-5.present": "1", "TIP-5.compliance": "partly", "TIP-5.measures": HOSTILE_ANSWER}
    )
    assert saved.status_code == 302
    page = ken.client.get(url).get_data(as_text=True)
    read_page(page)
    for raw in (HOSTILE_LABEL, HOSTILE_SUMMARY, HOSTILE_CHOICE, HOSTILE_ANSWER):
        assert raw not in page
    assert "<script>alert" not in page and "<img src=x" not in page
    assert (
        "&lt;script&gt;alert(&#34;label&#34;)&lt;/script&gt; &#39;quoted&#39; &amp; \u202eevil"
        in page
    )
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; summary" in page
    assert 'value="partly" checked> &lt;b&gt;&#34;Partly&#34;&lt;/b&gt;</label>' in page
    textarea = re.search(r'<textarea name="TIP-5\.measures"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea.group(1) == (
        "&lt;/textarea&gt;&lt;script&gt;alert(&#39;answer&#39;)&lt;/script&gt;"
        " &#34;quotes&#34; \u200f\u202eRTL"
    )
    # The print page shares the cached provision header.
    printed = ken.client.get(f"/fill/{round_id}/print").get_data(as_text=True)
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; summary" in printed
    assert "<img src=x" not in printed


def test_cached_parts_follow_the_language_of_each_page(
    app, db, people, login_as, round_id, questionnaire
):
    """The English page is rendered (and cached) first; the French page must not reuse it."""
    ken = login_as("ken@example.org")
    url = f"/fill/{round_id}/{CHAPTER}"
    english = ken.client.get(url).get_data(as_text=True)
    assert "Cite and summarize the laws" in english
    assert "History of changes" in english
    set_language(db, people["ken"]["id"], "fr")
    french = ken.client.get(url).get_data(as_text=True)
    read_page(french)
    assert "Citez et résumez les lois" in french
    assert "Cite and summarize the laws" not in french
    assert "Historique des modifications" in french and "History of changes" not in french
    assert 'value="partly"> En partie</label>' in french
    # Titles and summaries from translations/fr.yaml, marked as a working translation.
    tip5 = questionnaire.provisions["TIP-5"]
    assert str(escape(tip5.summary.get("fr"))) in french
    assert str(escape(tip5.title_text.get("fr"))) in french
    assert "Traduction de travail" in french and 'class="fallback"' not in french
    set_language(db, people["ken"]["id"], "en")
    again = ken.client.get(url).get_data(as_text=True)
    assert without_tokens(again) == without_tokens(english)


def without_tokens(html: str) -> str:
    return re.sub(r'(name="csrf_token"[^>]*value=)"[^"]+"', r"\1", html)


def test_the_largest_chapter_has_well_nested_markup_and_one_fieldset_per_question(
    app, login_as, round_id, questionnaire
):
    chapter = max(
        questionnaire.chapters.values(), key=lambda c: sum(len(p.questions) for p in c.provisions)
    )
    ken = login_as("ken@example.org")
    page = ken.client.get(f"/fill/{round_id}/{chapter.instrument}/{chapter.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    read_page(html)
    questions = sum(len(p.questions) for p in chapter.provisions)
    assert html.count('<fieldset class="question') == questions
    assert len(re.findall(r'name="[^"]+\.v" value="[0-9a-f]*"', html)) == questions
    assert html.count('<section class="provision"') == len(chapter.provisions)
