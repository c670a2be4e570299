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
    assert "[zh] interface: 0 missing, standard block: 0 missing" in result.output  # still counted
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
