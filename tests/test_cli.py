"""The `survey` command line: questionnaire check/show, rounds, users, tokens."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from survey.cli import main
from survey.questionnaire import default_directory


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args, **kwargs):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False, **kwargs)

    return invoke


def test_questionnaire_check_passes_on_shipped_files_and_prints_counts(run):
    result = run("questionnaire", "check")
    assert result.exit_code == 0, result.output
    assert "provisions, all valid" in result.output
    for code in ("UNTOC", "TIP", "SOM", "FIR", "UNCAC"):
        assert f"\n{code} " in result.output


def test_questionnaire_check_lists_every_problem_and_exits_1(run, tmp_path):
    target = tmp_path / "q"
    shutil.copytree(default_directory(), target, ignore=shutil.ignore_patterns("schema"))
    text = (target / "tip.yaml").read_text()
    text = text.replace("obligation: mandatory", "obligation: mandatry", 1).replace(
        "summary:", "sumary:", 1
    )
    (target / "tip.yaml").write_text(text)
    result = CliRunner().invoke(main, ["questionnaire", "check", str(target)])
    assert result.exit_code == 1
    assert (
        "tip.yaml: chapters[0].provisions[0].obligation: 'mandatry' is not a valid obligation level (did you mean 'mandatory'?)"
        in result.output
    )
    assert "unknown key 'sumary' (did you mean 'summary'?)" in result.output
    assert "problem(s) in" in result.output


def test_questionnaire_show_json_for_scripts(run, questionnaire):
    result = run("questionnaire", "show", "--instrument", "uncac", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert len(rows) == len(questionnaire.instrument("UNCAC").provisions)
    first = rows[0]
    assert set(first) >= {
        "id",
        "instrument",
        "article",
        "title",
        "chapter",
        "obligation",
        "summary",
        "cross_references",
        "questions",
    }
    assert [q["name"] for q in first["questions"]][:3] == ["compliance", "reason", "measures"]


def test_questionnaire_show_table_and_unknown_instrument(run):
    result = run("questionnaire", "show", "--instrument", "TIP")
    assert "TIP-5" in result.output and "mandatory" in result.output
    bad = CliRunner().invoke(main, ["questionnaire", "show", "--instrument", "XYZ"])
    assert bad.exit_code == 1 and "unknown instrument 'XYZ'" in bad.output


def test_questionnaire_show_in_treaty_order(run, questionnaire):
    rows = json.loads(run("questionnaire", "show", "--json", "--order", "treaty").output)
    assert len(rows) == len(questionnaire.provisions)
    untoc = [r["id"] for r in rows if r["instrument"] == "UNTOC"]
    # Article by article, paragraphs as numbers: 18(9) before 18(10)-(11), 20(2) before 20(3).
    assert untoc.index("UNTOC-18-9") < untoc.index("UNTOC-18-11") < untoc.index("UNTOC-18-16")
    assert untoc.index("UNTOC-20-2") < untoc.index("UNTOC-20-3") < untoc.index("UNTOC-21")
    articles = [r["article"] for r in rows if r["instrument"] == "UNTOC"]
    assert articles == sorted(articles)
    by_chapter = [r["id"] for r in json.loads(run("questionnaire", "show", "--json").output)]
    assert by_chapter != [r["id"] for r in rows]  # the chapters do not follow the articles
    table = run("questionnaire", "show", "--instrument", "UNCAC", "--order", "treaty").output
    assert table.index("UNCAC-43-1 ") < table.index("UNCAC-43-1-s2") < table.index("UNCAC-43-2")


def test_init_rounds_and_users(run, tmp_path):
    db = tmp_path / "s.db"
    result = run("init", "--db", db)
    assert "Created the first administrator: admin@example.org" in result.output
    listed = json.loads(run("rounds", "list", "--db", db, "--json").output)
    assert len(listed) == 1 and listed[0]["questionnaire_id"] == "omnibus"
    assert (
        run(
            "rounds",
            "create",
            "2030",
            "--db",
            db,
            "--previous",
            listed[0]["id"],
            "--instrument",
            "TIP",
        ).exit_code
        == 0
    )
    table = run("rounds", "list", "--db", db).output
    assert "2030" in table
    added = run(
        "users", "add", "focal@example.org", "--role", "respondent", "--state", "ken", "--db", db
    )
    assert "Added respondent focal@example.org for KEN" in added.output
    assert "/invite/" in added.output
    bad = CliRunner().invoke(
        main,
        [
            "users",
            "add",
            "x@example.org",
            "--role",
            "respondent",
            "--state",
            "XXX",
            "--db",
            str(db),
        ],
    )
    assert bad.exit_code == 1 and "'XXX' is not the ISO3 code" in bad.output
    analyst = run(
        "users",
        "add",
        "a@example.org",
        "--role",
        "analyst",
        "--password",
        "long enough pw",
        "--db",
        db,
    )
    assert analyst.exit_code == 0
    token = run("tokens", "add", "a@example.org", "--db", db)
    assert token.output.startswith("svy_")


def test_database_from_environment(run, tmp_path, monkeypatch):
    db = tmp_path / "env.db"
    monkeypatch.setenv("SURVEY_DATABASE", str(db))
    run("init")
    assert db.exists()
    missing = CliRunner().invoke(main, ["rounds", "list", "--db", str(tmp_path / "nope.db")])
    assert missing.exit_code == 1 and "no database at" in missing.output
