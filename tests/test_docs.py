"""Every CLI command is documented in the README (a new command cannot be forgotten)."""

from __future__ import annotations

from pathlib import Path

import click

from survey.cli import main


def commands(group, prefix="survey"):
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            yield from commands(command, path)
        else:
            yield path


def test_every_cli_command_is_in_the_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = []
    for path in commands(main):
        parts = path.split()
        # "survey users add" may appear as "survey users add" or as "users add" in a row.
        if path not in readme and " ".join(parts[1:]) not in readme:
            missing.append(path)
    assert missing == []


def test_docs_linked_from_the_readme_exist():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    for doc in (
        "docs/questionnaire-format.md",
        "docs/scoring.md",
        "docs/exports.md",
        "docs/translations.md",
        "docs/deployment.md",
        "SECURITY.md",
    ):
        assert doc in readme and (root / doc).exists(), doc
