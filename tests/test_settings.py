"""The settings table: every setting documented, read only through survey.settings, shown by the CLI.

Also `--db`, which every database command takes before or after its name.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from survey.cli import main
from survey.settings import SETTINGS, SettingError, as_markdown, current_values, setting

ROOT = Path(__file__).resolve().parents[1]
DEPLOYMENT = ROOT / "docs" / "deployment.md"
ENVIRONMENT_CALLS = {"environ", "getenv", "putenv", "unsetenv", "environb", "getenvb"}


def documented_rows() -> dict[str, list[str]]:
    """variable -> the cells of its row in the settings table of docs/deployment.md."""
    text = DEPLOYMENT.read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\|\s*`([A-Z0-9_]+)`\s*\|", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return rows


def test_every_setting_is_documented_with_its_variable_and_default():
    rows = documented_rows()
    for spec in SETTINGS:
        assert spec.env in rows, (
            f"{spec.env} is not in the settings table of docs/deployment.md; "
            "`survey settings --markdown` prints the rows"
        )
        default = rows[spec.env][1]
        if spec.default is not None:
            assert default == f"`{spec.default}`", (spec.env, default)
        else:
            assert "`" not in default, (spec.env, default)  # no made-up default
    documented_only = set(rows) - {spec.env for spec in SETTINGS}
    assert documented_only == set(), "the docs list variables the app does not read"


def test_the_documented_table_is_the_generated_one():
    # Hand edits of the help text belong in survey/settings.py, where `survey settings` reads it.
    assert as_markdown() in DEPLOYMENT.read_text(encoding="utf-8")


def environment_reads(source: str) -> list[int]:
    """Line numbers where a module reads or writes the process environment through `os`."""
    tree = ast.parse(source)
    os_names = {"os"}
    direct = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {a.asname or a.name for a in node.names if a.name == "os"}
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            direct |= {a.asname or a.name for a in node.names if a.name in ENVIRONMENT_CALLS}
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_CALLS
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(a.name in ENVIRONMENT_CALLS for a in node.names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Name) and node.id in direct:
            lines.append(node.lineno)
    return sorted(lines)


@pytest.mark.parametrize(
    "source",
    [
        "import os\nx = os.environ['A']",
        "import os as o\nx = o.getenv('A')",
        "from os import environ\nx = environ.get('A')",
        "from os import getenv as g\nx = g('A')",
        "import os\nos.environ.setdefault('A', '1')",
    ],
)
def test_the_scan_finds_every_way_of_reading_the_environment(source):
    assert environment_reads(source)


def test_nothing_in_the_package_reads_the_environment_except_the_settings_table():
    offenders = []
    for path in sorted((ROOT / "survey").rglob("*.py")):
        if path == ROOT / "survey" / "settings.py":
            continue
        for line in environment_reads(path.read_text(encoding="utf-8")):
            offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == [], "read settings through survey.settings.setting()"


def test_settings_command_shows_values_and_sources_and_masks_the_secret(monkeypatch):
    for spec in SETTINGS:
        monkeypatch.delenv(spec.env, raising=False)
    secret = "s3cr3t-<script>-ключ-🔑"
    monkeypatch.setenv("SURVEY_SECRET_KEY", secret)
    monkeypatch.setenv("SURVEY_PORT", "8080")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 0, result.output
    assert secret not in result.output and "s3cr3t" not in result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert set(lines) == {spec.env for spec in SETTINGS}
    assert "********" in lines["SURVEY_SECRET_KEY"]
    assert lines["SURVEY_PORT"].split()[1:] == ["8080", "[environment]"]
    assert lines["SURVEY_WORKER_CLASS"].split()[1:] == ["gthread", "[default]"]
    assert "(not set)" in lines["SURVEY_DATABASE"]


def test_settings_command_exits_1_naming_an_unreadable_value(monkeypatch):
    monkeypatch.setenv("SURVEY_HTTPS", "perhaps")
    result = CliRunner().invoke(main, ["settings"])
    assert result.exit_code == 1
    assert "SURVEY_HTTPS='perhaps': expected 1 or 0 (true/false)" in result.output


def test_a_setting_comes_from_the_caller_then_the_variable_then_the_default():
    environ = {"SURVEY_PORT": "8080"}
    assert setting("PORT", 9000, environ=environ) == 9000
    assert setting("PORT", environ=environ) == 8080
    assert setting("PORT", environ={}) == 5000
    assert setting("WORKERS", environ={}) is None
    with pytest.raises(SettingError, match="SURVEY_PORT='70000'"):
        setting("PORT", environ={"SURVEY_PORT": "70000"})
    shown = {v.setting.env: (v.shown, v.source) for v in current_values(environ)}
    assert shown["SURVEY_PORT"] == ("8080", "environment")
    assert shown["SURVEY_HOST"] == ("127.0.0.1", "default")
    assert shown["SURVEY_DATABASE"] == ("", "unset")


# -- --db before or after the command ----------------------------------------------------------


def _invoke(args, monkeypatch):
    monkeypatch.delenv("SURVEY_DATABASE", raising=False)
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
@pytest.mark.parametrize(
    "command",
    [("init",), ("rounds", "list"), ("users", "list"), ("i18n", "compile")],
    ids=" ".join,
)
def test_db_option_before_or_after_the_command(command, before, tmp_path, monkeypatch):
    # A database path with spaces and non-Latin letters, as a user's folder may have.
    db = tmp_path / "données d'essai — 調査" / "survey.db"
    if command != ("init",):
        assert _invoke(["init", "--db", db], monkeypatch).exit_code == 0
    args = ["--db", db, *command] if before else [*command, "--db", db]
    monkeypatch.chdir(tmp_path)  # a default ./instance would appear here
    result = _invoke(args, monkeypatch)
    assert result.exit_code == 0, result.output
    assert db.exists()
    assert not (tmp_path / "instance").exists()
    if command == ("rounds", "list"):
        assert "open" in result.output
    if command == ("i18n", "compile"):
        assert (db.parent / "translations" / "fr" / "LC_MESSAGES" / "messages.mo").is_file()


@pytest.mark.parametrize("before", [True, False], ids=["before", "after"])
def test_demo_takes_db_before_or_after(before, tmp_path, monkeypatch):
    import survey.demo

    seen = []

    def generate_demo(db, questionnaire, *, seed):
        from survey.storage.db import database_file

        seen.append(Path(database_file(db)))
        raise survey.demo.DemoError("stopped by the test")

    monkeypatch.setattr(survey.demo, "generate_demo", generate_demo)
    db = tmp_path / "demo.db"
    args = ["--db", db, "demo"] if before else ["demo", "--db", db]
    result = _invoke(args, monkeypatch)
    assert "stopped by the test" in result.output
    assert seen == [db]


def test_two_different_db_options_are_refused_with_both_named(tmp_path, monkeypatch):
    first, second = tmp_path / "a.db", tmp_path / "b.db"
    result = _invoke(["--db", first, "init", "--db", second], monkeypatch)
    assert result.exit_code == 2
    assert str(first) in result.output and str(second) in result.output
    assert "give it once" in result.output
    assert not first.exists() and not second.exists()
    same = _invoke(["--db", first, "init", "--db", first], monkeypatch)
    assert same.exit_code == 0 and first.exists()


def test_invitation_links_use_the_base_url_setting_unless_given(tmp_path, monkeypatch):
    db = tmp_path / "survey.db"
    assert _invoke(["init", "--db", db], monkeypatch).exit_code == 0
    monkeypatch.setenv("SURVEY_BASE_URL", "https://survey.example.org/")
    added = _invoke(
        ["--db", db, "users", "add", "fp@example.org", "--role", "respondent", "--state", "KEN"],
        monkeypatch,
    )
    assert added.exit_code == 0, added.output
    assert "https://survey.example.org/invite/" in added.output
    again = _invoke(
        ["users", "invite", "fp@example.org", "--db", db, "--base-url", "https://other.example"],
        monkeypatch,
    )
    assert again.exit_code == 0, again.output
    assert "https://other.example/invite/" in again.output
