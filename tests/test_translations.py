"""Translation files (questionnaires/translations/<lang>.yaml): loading, validation, staleness,
the completeness check and what respondents see."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml
from click.testing import CliRunner
from markupsafe import escape

from survey.cli import main
from survey.questionnaire import check_directory, default_directory
from survey.questionnaire.translations import fingerprint

TRANSLATED = ("fr", "es", "ru", "zh", "ar")


@pytest.fixture
def qdir(tmp_path):
    target = tmp_path / "q"
    shutil.copytree(default_directory(), target, ignore=shutil.ignore_patterns("schema"))
    return target


def edit(qdir, lang, change):
    """Rewrite translations/<lang>.yaml through `change(data)`."""
    path = qdir / "translations" / f"{lang}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def messages(problems):
    return [str(p) for p in problems]


def test_every_provision_has_a_title_and_summary_in_each_language(questionnaire):
    assert questionnaire.translation_status == {lang: "working" for lang in TRANSLATED} | {
        "en": "reviewed"
    }
    assert questionnaire.stale_translations == ()
    for p in questionnaire.provisions.values():
        assert isinstance(p.title, str) and p.title_text.en == p.title  # reports keep the str
        for lang in TRANSLATED:
            assert p.title_text.has(lang) and p.summary.has(lang), (p.id, lang)
            assert p.summary.get(lang) != p.summary.en, (p.id, lang)
    # Scripts that do not use the Latin alphabet really are in theirs.
    uncac20 = questionnaire.provisions["UNCAC-20"]
    assert re.search(r"[\u0600-\u06ff]", uncac20.summary.get("ar"))
    assert re.search(r"[\u4e00-\u9fff]", uncac20.summary.get("zh"))
    assert re.search(r"[\u0400-\u04ff]", uncac20.summary.get("ru"))


def test_the_five_changed_uncac_summaries_are_translated_from_the_current_english(questionnaire):
    # The current English of UNCAC-20 names the fundamental principles of the legal system,
    # UNCAC-21 'promise', UNCAC-58 'combat': the earlier drafts said neither.
    p = questionnaire.provisions
    assert "principes fondamentaux" in p["UNCAC-20"].summary.get("fr")
    assert "基本原则" in p["UNCAC-20"].summary.get("zh")
    assert "promettre" in p["UNCAC-21"].summary.get("fr")
    assert "prometer" in p["UNCAC-21"].summary.get("es")
    assert "обещание" in p["UNCAC-21"].summary.get("ru")
    assert "económicas, financieras o comerciales" in p["UNCAC-22"].summary.get("es")
    assert "combattre" in p["UNCAC-58"].summary.get("fr")
    assert "打击" in p["UNCAC-58"].summary.get("zh")


def test_a_translation_of_an_older_english_text_is_left_out_and_reported(qdir):
    text = (qdir / "uncac.yaml").read_text(encoding="utf-8")
    old = "Your law may let courts infer the knowledge"
    assert old in text
    (qdir / "uncac.yaml").write_text(
        text.replace(old, "Your law must let courts infer the knowledge"), encoding="utf-8"
    )
    warnings = []
    model, problems = check_directory(qdir, warnings)
    assert problems == []
    p = model.provisions["UNCAC-28"]
    for lang in TRANSLATED:
        assert not p.summary.has(lang) and not p.title_text.has(lang)  # English is shown
        assert (lang, "UNCAC-28") in model.stale_translations
    assert model.provisions["UNCAC-27-1"].summary.has("fr")  # the others still load
    stale = [w for w in warnings if w.code == "translation_stale"]
    assert len(stale) == 5 and all(w.is_warning for w in stale)
    assert f"source: '{fingerprint(p)}'" in str(stale[0])
    result = CliRunner().invoke(main, ["questionnaire", "check", "--languages", str(qdir)])
    assert result.exit_code == 1, result.output
    assert "[fr] interface: 0 missing" in result.output
    assert "fr translated from an earlier English text: UNCAC-28" in result.output
    assert "fr provisions (working translation): titles 272/273, summaries 272/273" in result.output


def test_check_fails_on_a_removed_translation_and_counts_per_language(qdir):
    edit(qdir, "zh", lambda data: data["provisions"].pop("SOM-6"))
    result = CliRunner().invoke(main, ["questionnaire", "check", "--languages", str(qdir)])
    assert result.exit_code == 1, result.output
    assert "zh provisions (working translation): titles 272/273, summaries 272/273" in result.output
    assert "zh summaries: SOM-6" in result.output and "zh provision titles: SOM-6" in result.output
    assert "ar provisions (working translation): titles 273/273, summaries 273/273" in result.output
    assert "[zh] interface: 0 missing, citations: 0 missing, standard block: 0 missing" in (
        result.output
    )  # the other parts are still counted
    assert "Some translations are missing" in result.output


def test_a_reviewed_language_is_reported_and_loaded_as_reviewed(qdir):
    edit(qdir, "fr", lambda data: data.update(status="reviewed"))
    model, problems = check_directory(qdir)
    assert problems == [] and model.translation_status["fr"] == "reviewed"
    result = CliRunner().invoke(main, ["questionnaire", "check", "--languages", str(qdir)])
    assert result.exit_code == 0, result.output
    assert "fr provisions (reviewed): titles 273/273" in result.output


def _unknown_id(data):
    data["provisions"]["TIP-5a"] = data["provisions"].pop("TIP-5")


def _no_title(data):
    del data["provisions"]["TIP-5"]["title"]


def _number_summary(data):
    data["provisions"]["TIP-5"]["summary"] = 12


def _blank_summary(data):
    data["provisions"]["TIP-5"]["summary"] = "  \n "


def _no_source(data):
    del data["provisions"]["TIP-5"]["source"]


def _misspelt_key(data):
    data["provisions"]["TIP-5"]["sumary"] = data["provisions"]["TIP-5"].pop("summary")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_unknown_id, "TIP-5a: no provision 'TIP-5a' in the questionnaire (did you mean 'TIP-5'?)"),
        (_no_title, "provisions.TIP-5: missing required key 'title'"),
        (_number_summary, "provisions.TIP-5.summary: expected text, found int"),
        (_blank_summary, "provisions.TIP-5.summary: must not be empty"),
        (_no_source, "provisions.TIP-5: missing required key 'source'"),
        (_misspelt_key, "unknown key 'sumary' (did you mean 'summary'?)"),
        (
            lambda d: d.update(status="revieved"),
            "status: 'revieved' is not a valid translation status (did you mean 'reviewed'?); "
            "valid: working, reviewed",
        ),
        (lambda d: d.update(status=None), "'None' is not a valid translation status"),
        (
            lambda d: d.update(language="fre"),
            "language: 'fre' is not a valid translation language (did you mean 'fr'?)",
        ),
        (lambda d: d.update(language="es"), "language 'es' in a file named 'fr.yaml'"),
        (lambda d: d.pop("provisions"), "missing required key 'provisions'"),
        (lambda d: d.update(provisions=["TIP-5"]), "provisions: expected a mapping, found list"),
    ],
)
def test_a_broken_translation_file_is_a_clear_problem(qdir, change, expected):
    edit(qdir, "fr", change)
    model, problems = check_directory(qdir)
    assert model is None
    text = "\n".join(messages(problems))
    assert expected in text, text
    assert "translations/fr.yaml" in text


def test_a_file_for_an_unknown_language_or_english_is_refused(qdir):
    shutil.copy(qdir / "translations" / "fr.yaml", qdir / "translations" / "de.yaml")
    edit(qdir, "de", lambda d: d.update(language="de"))
    model, problems = check_directory(qdir)
    assert model is None
    assert "translations/de.yaml: language: 'de' is not a valid translation language" in (
        "\n".join(messages(problems))
    )
    (qdir / "translations" / "de.yaml").unlink()
    (qdir / "translations" / "en.yaml").write_text(
        "language: en\nstatus: reviewed\nprovisions: {}\n"
    )
    model, problems = check_directory(qdir)
    assert model is None and "'en' is not a valid translation language" in str(problems[0])


def test_a_file_that_is_not_yaml_or_not_utf8_is_a_problem_not_a_crash(qdir):
    (qdir / "translations" / "ru.yaml").write_bytes(b"language: ru\nstatus: [working\n")
    model, problems = check_directory(qdir)
    assert model is None and str(problems[0]).startswith("translations/ru.yaml: line 3")
    assert "YAML syntax error" in str(problems[0])
    (qdir / "translations" / "ru.yaml").write_bytes("language: ru\n".encode("utf-16"))
    model, problems = check_directory(qdir)
    assert model is None and "not UTF-8" in str(problems[0])


def test_hostile_translated_text_is_shown_as_text(qdir, tmp_path, people, db_path, db):
    """Markup, template syntax and a 20,000-emoji string in a translation are only text."""
    from survey.storage.rounds import current_round
    from survey.storage.users import set_language
    from tests.conftest import Actions, make_app

    hostile = "<script>alert(1)</script> {{ 7*7 }} =SUM(A1) &amp; " + "\U0001f642" * 20_000
    edit(qdir, "ar", lambda d: d["provisions"]["TIP-5"].update(summary=hostile, title="<b>x</b>"))
    model, problems = check_directory(qdir)
    assert problems == [] and model.provisions["TIP-5"].summary.get("ar") == hostile
    app = make_app(db_path, tmp_path / "instance", QUESTIONNAIRE_DIR=str(qdir))
    ken = Actions(app.test_client())
    assert ken.login("ken@example.org").status_code == 302
    set_language(db, people["ken"]["id"], "ar")
    url = f"/fill/{current_round(db)['id']}/TIP/general_provisions"
    html = ken.client.get(url).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "<b>x</b>" not in html
    assert str(escape(hostile)) in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert "{{ 7*7 }}" in html  # not evaluated


def test_the_working_note_shows_for_a_working_language_only(qdir, tmp_path, people, db_path, db):
    from survey.storage.rounds import current_round
    from survey.storage.users import set_language
    from tests.conftest import Actions, make_app

    edit(qdir, "fr", lambda data: data.update(status="reviewed"))
    app = make_app(db_path, tmp_path / "instance", QUESTIONNAIRE_DIR=str(qdir))
    ken = Actions(app.test_client())
    assert ken.login("ken@example.org").status_code == 302
    url = f"/fill/{current_round(db)['id']}/TIP/general_provisions"
    model, _ = check_directory(qdir)
    tip5 = model.provisions["TIP-5"]
    for lang, note in (("fr", None), ("es", "Traducción de trabajo"), ("en", None)):
        set_language(db, people["ken"]["id"], lang)
        html = ken.client.get(url).get_data(as_text=True)
        assert str(escape(tip5.summary.get(lang))) in html
        assert ('class="translation-note"' in html) == (note is not None), lang
        if note:
            assert note in html


# -- citations, cross-reference notes, other instruments --------------------------------------


CITED = {  # (article, paragraphs) -> each language's citation, as UN documents write them
    (16, None): {
        "en": "Art. 16",
        "fr": "art. 16",
        "es": "art. 16",
        "ru": "ст. 16",
        "zh": "第16条",
        "ar": "المادة 16",
    },
    (16, "2"): {
        "en": "Art. 16, para. 2",
        "fr": "art. 16, par. 2",
        "es": "art. 16, párr. 2",
        "ru": "ст. 16, п. 2",
        "zh": "第16条第2款",
        "ar": "المادة 16، الفقرة 2",
    },
    (46, "9-12"): {
        "en": "Art. 46, paras. 9-12",
        "fr": "art. 46, par. 9-12",
        "es": "art. 46, párrs. 9-12",
        "ru": "ст. 46, пп. 9-12",
        "zh": "第46条第9-12款",
        "ar": "المادة 46، الفقرات 9-12",
    },
    (30, "1-2"): {"en": "Art. 30, paras. 1-2", "ar": "المادة 30، الفقرتان 1-2"},  # Arabic dual
    (6, "2(b)-(d)"): {
        "en": "Art. 6, para. 2(b)-(d)",
        "fr": "art. 6, par. 2 (b)-(d)",
        "zh": "第6条第2款(b)-(d)项",
        "ru": "ст. 6, п. 2 (b)-(d)",
        "ar": "المادة 6، الفقرة 2 (ب)-(د)",  # Arabic letters: the line reads right to left
    },
    (43, "1 (first sentence)"): {
        "en": "Art. 43, para. 1 (first sentence)",
        "fr": "art. 43, par. 1 (première phrase)",
        "es": "art. 43, párr. 1 (primera oración)",
        "zh": "第43条第1款第一句",
    },
}


@pytest.mark.parametrize(("cited", "expected"), CITED.items())
def test_a_provision_is_cited_in_the_forms_of_each_language(cited, expected):
    from survey.i18n import citation

    for lang, text in expected.items():
        assert citation(*cited, lang=lang) == text, lang


def test_citations_of_every_provision_are_in_each_language_and_english_stays_the_reference(
    questionnaire,
):
    for p in questionnaire.provisions.values():
        assert p.reference == p.citation("en") and p.reference.startswith(f"Art. {p.article}")
        if p.paragraphs and "(" not in p.paragraphs:  # as before: 'para.' or 'paras.'
            many = "-" in p.paragraphs
            assert p.reference == f"Art. {p.article}, para{'s' if many else ''}. {p.paragraphs}"
        assert p.citation("fr").startswith(f"art. {p.article}")
        assert p.citation("ru").startswith(f"ст. {p.article}")
        assert p.citation("zh").startswith(f"第{p.article}条")
        assert p.citation("ar").startswith(f"المادة {p.article}")
        assert "sentence" not in p.citation("es") and "para" not in p.citation("fr")


def test_notes_and_names_of_other_instruments_are_in_each_language(questionnaire):
    ref = next(
        r for r in questionnaire.provisions["UNTOC-6-1"].cross_references if r.key == "COECRIM-13"
    )
    assert ref.note == "covers laundering of the proceeds of corruption offences only"  # English
    assert "blanchiment" in ref.note_text.get("fr") and "отмывание" in ref.note_text.get("ru")
    assert ref.instrument_title.get("fr").startswith("Convention pénale sur la corruption")
    assert ref.title_text.get("es") == "Blanqueo del producto de los delitos de corrupción"
    assert ref.citation("zh") == "COECRIM第13条" and ref.citation("fr") == "COECRIM, art. 13"
    names = {e.code: e.title_text for e in questionnaire.external_instruments}
    assert (
        names["COETHB"]
        .get("fr")
        .startswith(
            "Convention du Conseil de l'Europe sur la lutte contre la traite des êtres humains"
        )
    )
    assert names["OECD"].get("es").startswith("Convención de la OCDE para Combatir el Cohecho")
    assert names["AUCPCC"].get("ar").startswith("اتفاقية الاتحاد الأفريقي لمنع الفساد ومكافحته")
    for p in questionnaire.provisions.values():
        for r in p.cross_references:
            for lang in TRANSLATED:
                assert r.is_un or r.title_text.has(lang), (p.id, r.key, lang)
                assert r.note_text is None or r.note_text.has(lang), (p.id, r.key, lang)


def _drop_line(qdir, file, line):
    text = (qdir / file).read_text(encoding="utf-8")
    assert text.count(f"\n{line}\n") == 1, line
    (qdir / file).write_text(text.replace(f"\n{line}\n", "\n"), encoding="utf-8")


def _no_extra_label(qdir, catalogs):
    _drop_line(
        qdir,
        "untoc.yaml",
        "              fr: Lesquelles des infractions visées à l'article 5(1)(a) votre État "
        "a-t-il établies ?",
    )


def _no_choice_label(qdir, catalogs):
    _drop_line(
        qdir,
        "shared.yaml",
        "        fr: Entente avec d'autres personnes en vue de commettre une infraction grave "
        "(5(1)(a)(i))",
    )


def _no_note(qdir, catalogs):
    edit(qdir, "fr", lambda data: data["notes"]["UNTOC-6-1"].pop("COECRIM-13"))


def _no_summary(qdir, catalogs):
    edit(qdir, "fr", lambda data: data["provisions"].pop("SOM-6"))


def _no_external_title(qdir, catalogs):
    edit(qdir, "fr", lambda data: data["external"].pop("OECD-7"))


def _no_citation_pattern(qdir, catalogs):
    from babel.messages.pofile import read_po, write_po

    po = catalogs / "fr" / "LC_MESSAGES" / "messages.po"
    with open(po, "rb") as f:
        catalog = read_po(f, locale="fr")
    catalog["Art. %(article)s, para. %(paragraph)s%(subparagraphs)s"].string = ""
    with open(po, "wb") as f:
        write_po(f, catalog)


@pytest.mark.parametrize(
    ("remove", "expected"),
    [
        (_no_extra_label, "fr extra questions: UNTOC-5.offences.label"),
        (_no_choice_label, "fr choice lists: untoc5_offences.agreement"),
        (_no_note, "fr notes: UNTOC-6-1 COECRIM-13"),
        (_no_summary, "fr summaries: SOM-6 (source: "),
        (_no_external_title, "fr external titles: OECD-7"),
        (
            _no_citation_pattern,
            "fr citations: Art. %(article)s, para. %(paragraph)s%(subparagraphs)s",
        ),
    ],
)
def test_check_languages_fails_naming_each_kind_of_removed_translation(
    qdir, tmp_path, monkeypatch, remove, expected
):
    import survey.i18n_check
    from survey.i18n import CATALOGS

    catalogs = tmp_path / "catalogs"
    shutil.copytree(CATALOGS, catalogs, ignore=shutil.ignore_patterns("*.mo"))
    monkeypatch.setattr(survey.i18n_check, "TRANSLATIONS", catalogs)
    args = ["questionnaire", "check", "--languages", str(qdir)]
    remove(qdir, catalogs)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert expected in result.output
    assert "Some translations are missing" in result.output
    others = [line for line in result.output.splitlines() if line.startswith("[es]")]
    assert others and "1 missing" not in others[0]  # another language is still complete


def test_the_counts_cover_every_translatable_field(qdir):
    result = CliRunner().invoke(main, ["questionnaire", "check", "--languages", str(qdir)])
    assert result.exit_code == 0, result.output
    model, _ = check_directory(qdir)
    notes = sum(1 for p in model.provisions.values() for r in p.cross_references if r.note)
    assert notes > 100
    line = next(x for x in result.output.splitlines() if x.startswith("  ru provisions"))
    assert line == (
        "  ru provisions (working translation): titles 273/273, summaries 273/273, "
        f"notes {notes}/{notes}, external titles 95/95"
    )
    line = next(x for x in result.output.splitlines() if x.startswith("  ru questionnaire"))
    assert line.startswith("  ru questionnaire: citations 6/6, standard block ")
    assert "extra questions 126/126" in line and "choice lists 124/124" in line


def test_a_note_changed_in_english_is_shown_in_english_until_translated_again(qdir):
    from survey.questionnaire.translations import text_fingerprint

    old = "covers laundering of the proceeds of corruption offences only"
    new = "covers laundering of the proceeds of <b>corruption</b> offences only"
    text = (qdir / "untoc.yaml").read_text(encoding="utf-8")
    (qdir / "untoc.yaml").write_text(text.replace(old, new), encoding="utf-8")
    warnings = []
    model, problems = check_directory(qdir, warnings)
    assert problems == []
    ref = next(r for r in model.provisions["UNTOC-6-1"].cross_references if r.key == "COECRIM-13")
    assert ref.note == new and not any(ref.note_text.has(lang) for lang in TRANSLATED)
    stale = [str(w) for w in warnings if "notes.UNTOC-6-1.COECRIM-13" in str(w)]
    assert len(stale) == 5 and f"source: '{text_fingerprint(new)}'" in stale[0]
    result = CliRunner().invoke(main, ["questionnaire", "check", "--languages", str(qdir)])
    assert result.exit_code == 1
    assert "ar notes: UNTOC-6-1 COECRIM-13" in result.output


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["notes"]["UNTOC-6-1"].update({"COECRIM-31": {"note": "x", "source": "y"}}),
            "notes.UNTOC-6-1.COECRIM-31: 'COECRIM-31' is not a valid cross-reference with a note "
            "of UNTOC-6-1 (did you mean 'COECRIM-13'?)",
        ),
        (
            lambda d: d["external"].update({"OECD-99": {"title": "x", "source": "y"}}),
            "external.OECD-99: 'OECD-99' is not a valid instrument, or article cited",
        ),
        (
            lambda d: d["external"]["OECD"].pop("source"),
            "external.OECD: missing required key 'source'",
        ),
        (lambda d: d.update(notes=["x"]), "notes: expected a mapping, found list"),
        (
            lambda d: d["notes"].update({"UNTOC-99": {}}),
            "notes.UNTOC-99: no provision 'UNTOC-99'",
        ),
    ],
)
def test_a_broken_note_or_name_is_a_clear_problem(qdir, change, expected):
    edit(qdir, "fr", change)
    model, problems = check_directory(qdir)
    assert model is None
    text = "\n".join(messages(problems))
    assert expected in text and "translations/fr.yaml" in text, text


def test_the_chapter_page_cites_and_annotates_in_the_readers_language(
    qdir, tmp_path, people, db_path, db
):
    """Citation, article title and note in French; a note not translated stays English, marked,
    and hostile English is only text."""
    from survey.storage.rounds import current_round
    from survey.storage.users import set_language
    from tests.conftest import Actions, make_app

    hostile = "<script>alert(1)</script> {{ 7*7 }}"
    text = (qdir / "untoc.yaml").read_text(encoding="utf-8")
    old = "only the treatment of foreign bribery as a predicate offence"
    (qdir / "untoc.yaml").write_text(text.replace(old, hostile), encoding="utf-8")
    app = make_app(db_path, tmp_path / "instance", QUESTIONNAIRE_DIR=str(qdir))
    ken = Actions(app.test_client())
    assert ken.login("ken@example.org").status_code == 302
    url = f"/fill/{current_round(db)['id']}/UNTOC/criminalization"
    set_language(db, people["ken"]["id"], "fr")
    html = ken.client.get(url).get_data(as_text=True)
    assert "Art. 6" not in html and "art. 6, par. 1 ·" in html
    assert ">COECRIM, art. 13</strong>" in html and "Blanchiment du produit des délits" in html
    assert "(ne vise que le blanchiment du produit des infractions de corruption)" in html
    assert "OECD, art. 7</strong> — Blanchiment de capitaux" in html
    assert str(escape(hostile)) in html and "<script>alert(1)</script>" not in html
    fallback = html[html.index(str(escape(hostile))) - 200 : html.index(str(escape(hostile)))]
    assert 'lang="en"' in fallback and 'class="fallback"' in fallback
    set_language(db, people["ken"]["id"], "zh")
    html = ken.client.get(url).get_data(as_text=True)
    assert "第6条第1款 ·" in html and ">COECRIM第13条</strong>" in html
    set_language(db, people["ken"]["id"], "en")
    html = ken.client.get(url).get_data(as_text=True)
    assert "Art. 6, para. 1 ·" in html and ">COECRIM art. 13</strong>" in html
    assert "(covers laundering of the proceeds of corruption offences only)" in html
    assert 'class="fallback"' not in html
