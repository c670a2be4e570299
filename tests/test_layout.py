"""The layering rules of STYLE.md that a reader cannot see from one file, checked on the source."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

WEB = Path(__file__).resolve().parent.parent / "survey" / "web"
SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|PRAGMA)\b\s+\S")
TAG = re.compile(
    r"</?(span|div|p|a|b|i|em|strong|input|form|ul|ol|li|table|tr|td|th|fieldset|legend|label"
    r"|textarea|select|option|button|section|nav|details|summary|h[1-6]|br|img|script|style)\b[^<>]*>"
)


def _strings(path: Path):
    """(line, text) of every string constant in a module, docstrings excepted."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def test_web_layer_holds_no_sql():
    found = [
        f"{path.name}:{line}"
        for path in sorted(WEB.glob("*.py"))
        for line, text in _strings(path)
        if SQL.search(text)
    ]
    assert found == [], "SQL belongs in survey/storage/"


def test_web_layer_assembles_no_html_in_python_strings():
    found = [
        f"{path.name}:{line}: {text[:60]!r}"
        for path in sorted(WEB.glob("*.py"))
        for line, text in _strings(path)
        if TAG.search(text) and not text.startswith("/")  # URL rules: /<round_id>/
    ]
    assert found == [], "HTML belongs in templates (macros), not in Python strings"


def test_no_import_cycles_between_web_modules():
    edges = {}
    for path in WEB.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
        edges[path.stem] = deps
    cycles = [
        (a, b) for a, b in itertools.combinations(edges, 2) if b in edges[a] and a in edges[b]
    ]
    assert cycles == []
