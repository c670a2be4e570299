"""No English a user reads is left outside gettext, in the Python code or in the templates.

The Python scan walks every module of `survey/` and looks at what reaches a user: flash(),
abort()'s description, WTForms labels, descriptions, choices and validator messages,
ValidationError, the user-facing errors of the core (USER_FACING_ERRORS), Markup(), problem lists,
form errors and JSON messages. A string literal with English words there must be inside a gettext
call. Where the web layer shows an exception's text (`str(exc)`, `exc.message`), the exception
must be one of USER_FACING_ERRORS, whose messages the scan checks at every place they are raised.

The template scan strips Jinja from each template and flags visible text and readable attributes
(title, placeholder, aria-label, alt) with English words, and string literals Jinja prints
without `_()`.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "survey"
TEMPLATES = ROOT / "web" / "templates"

# Calls whose string arguments are translated: Flask-Babel's and survey.i18n's gettext, the
# request-free translator of the offline file (`t = gettext_for(lang)`), and N_ (marked for
# extraction, translated where it is shown).
GETTEXT = {"_", "gettext", "ngettext", "lazy_gettext", "lazy_ngettext", "N_", "t", "tr"}

# Exceptions whose text the web layer shows to a user (flash, abort, form errors, problem lists).
# Every message given to them must be translated where they are raised.
USER_FACING_ERRORS = {
    "ValidationError",  # WTForms: shown next to the field
    "UserError",  # storage.users: admin form errors, invitation page
    "RoundError",  # storage.rounds: admin form errors
    "RoundTitleError",  # storage.rounds: a round title refused on the admin forms
    "SaveRefused",  # responding.save: flash and JSON message of a refused save
    "WorkflowError",  # responding.workflow: undo, submit, review
    "OfflineImportError",  # exports.offline: the upload's problem list
    "ExportError",  # exports.rows: a workbook request with bad filters (400)
    "ReportFilterError",  # reports.build: an unknown instrument or chapter (400)
    "Problem",  # responding.chapter: a field's error on the chapter page
    "AnswerError",  # answers: an invalid answer, on the chapter page and in the upload's problems
}

# Modules whose words are for operators and developers, in English on purpose.
ALLOWED_MODULES = {
    "cli.py": "the command line is the operators' tool, documented in English",
    "settings.py": "settings help and errors are for whoever deploys the app",
    "web/server.py": "`survey serve` options, for operators",
    "demo.py": "demo data and its command-line errors",
    "setup.py": "database preparation, run from the command line",
    "questionnaire/": "questionnaire-file errors are for the authors of the YAML, in English",
    "storage/migrations.py": "migration names and errors, for operators",
    "storage/backup.py": "backup command, for operators",
    "i18n_check.py": "the translation report of `survey i18n check`, for maintainers",
    "benchmarks": "not shipped",
}

PROSE = re.compile(r"[A-Za-z]{2,}")
# Machine codes: lowercase identifiers, keys, statuses ("read_only", "csrf", "not started").
CODE = re.compile(r"^[a-z0-9_\-:./]*$|^[a-z][a-z ]{0,15}[a-z]$")
# Codes that look like words but are not prose (status names kept in the database, ISO codes).
ALLOWED_LITERALS = {
    "utf-8",
    "UTC",  # the time zone after a time, the same in every language
}


def _is_prose(text: str) -> bool:
    text = text.strip()
    return bool(PROSE.search(text)) and not CODE.match(text) and text not in ALLOWED_LITERALS


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _untranslated(node: ast.AST | None):
    """String constants in `node` that are not inside a gettext call."""
    if node is None:
        return
    if isinstance(node, ast.Call) and _name(node.func) in GETTEXT:
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        if _is_prose(node.value):
            yield node
        return
    if isinstance(node, ast.JoinedStr):
        text = "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
        if _is_prose(text):
            yield node
            return
    if isinstance(node, ast.Dict):
        # A JSON body's keys are machine names; its values are read.
        for value in node.values:
            yield from _untranslated(value)
        return
    if isinstance(node, ast.Subscript):
        return  # table[code]: a lookup, its keys are not shown
    if isinstance(node, ast.Call) and not _name(node.func).endswith(("Field", "Choice")):
        # Only what the call is given to show: method calls on a literal (", ".join) and
        # format() keep their literal.
        if isinstance(node.func, ast.Attribute):
            yield from _untranslated(node.func.value)
        for arg in node.args:
            yield from _untranslated(arg)
        return
    for child in ast.iter_child_nodes(node):
        yield from _untranslated(child)


WTFORMS_VALIDATORS = {
    "DataRequired",
    "InputRequired",
    "Length",
    "EqualTo",
    "Email",
    "NumberRange",
    "Regexp",
    "AnyOf",
    "NoneOf",
    "FileRequired",
    "FileAllowed",
    "FileSize",
}


def _shown_arguments(call: ast.Call, parents: dict) -> list[ast.AST]:
    """The arguments of `call` that reach a user, by what the call is."""
    name = _name(call.func)
    kw = {k.arg: k.value for k in call.keywords}
    if name == "flash":
        return call.args[:1] + [kw.get("message")]
    if name == "abort":
        return call.args[1:2] + [kw.get("description")]
    if name in ("Markup", "jsonify"):
        return list(call.args)
    if name in USER_FACING_ERRORS:
        return list(call.args) + [kw.get("message")]
    if name.endswith("Field"):
        return call.args[:1] + [kw.get(k) for k in ("label", "description", "choices")]
    if name in WTFORMS_VALIDATORS:
        return list(call.args) + [kw.get("message")]
    if name == "SelectChoice":
        return call.args[1:2] + [kw.get("label")]
    if name in ("append", "extend") and isinstance(call.func, ast.Attribute):
        target = ast.unparse(call.func.value)
        if re.search(r"problems|errors|messages", target):
            return list(call.args)
    return []


def _raw_exception_text(node: ast.AST) -> str | None:
    """The exception variable when `node` is its text: str(exc), exc.message, getattr(exc, ...)."""
    if isinstance(node, ast.Call) and _name(node.func) == "str" and len(node.args) == 1:
        node = node.args[0]
        return node.id if isinstance(node, ast.Name) else None
    if isinstance(node, ast.Call) and _name(node.func) == "getattr" and node.args:
        node = node.args[0]
        return node.id if isinstance(node, ast.Name) else None
    if isinstance(node, ast.Attribute) and node.attr in ("message", "messages", "description"):
        return node.value.id if isinstance(node.value, ast.Name) else None
    return None


def _caught_as(name: str, node: ast.AST, parents: dict) -> set[str] | None:
    """The exception classes the enclosing `except ... as name` catches."""
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.ExceptHandler) and node.name == name:
            types = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            return {_name(t) for t in types}
    return None


def scan_source(source: str, filename: str = "<snippet>") -> list[str]:
    """`file:line: text` for each English literal that reaches a user untranslated."""
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    findings = []
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        for argument in _shown_arguments(call, parents):
            if argument is None:
                continue
            for literal in _untranslated(argument):
                text = ast.unparse(literal)
                findings.append(f"{filename}:{literal.lineno}: {text[:80]}")
            # An exception's text shown as it is, or filled into a translated message.
            for part in ast.walk(argument):
                variable = _raw_exception_text(part)
                caught = _caught_as(variable, call, parents) if variable else None
                if caught is not None and not caught <= USER_FACING_ERRORS:
                    findings.append(
                        f"{filename}:{call.lineno}: the text of {', '.join(sorted(caught))} "
                        "is shown; translate its messages and add it to USER_FACING_ERRORS"
                    )
    return findings


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if any(relative == m or relative.startswith(m) for m in ALLOWED_MODULES):
            continue
        yield relative, path


# -- templates ---------------------------------------------------------------------------------

READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "aria-description"}
# Text that is the same in every language: treaty and file-format abbreviations and other codes
# in capitals (UNTOC, CSV), n_resp and n_gap (the priority method's notation, defined in the
# translated method note under the table), numbers and symbols.
TEMPLATE_ALLOWED = re.compile(r"^(n_resp|n_gap|[A-Z][A-Z0-9]{1,5}|[\s\W\d])*$")
JINJA = re.compile(r"{#.*?#}|{%.*?%}|{{.*?}}", re.S)
# Blocks whose content is a CSS class name, not text: {% block page_class %}with-sidebar{% ... %}.
CLASS_BLOCK = re.compile(r"{%-?\s*block\s+\w+_class\s*-?%}.*?{%-?\s*endblock", re.S)


class _TextFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        # Open elements whose text is not checked: script, style, and text marked lang="en"
        # (English on purpose and declared so, e.g. a regional instrument's English citation).
        self.skipped: list[str] = []
        self.found: list[tuple[int, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag in ("script", "style") or attributes.get("lang") == "en":
            self.skipped.append(tag)
        elif self.skipped and tag == self.skipped[-1]:
            self.skipped.append(tag)  # nested same-name element: its end tag pops this one
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and attributes.get("lang") != "en":
                self._check(value, self.getpos()[0])

    def handle_endtag(self, tag):
        if self.skipped and tag == self.skipped[-1]:
            self.skipped.pop()

    def handle_data(self, data):
        if not self.skipped:
            leading = data[: len(data) - len(data.lstrip())]
            self._check(data, self.getpos()[0] + leading.count("\n"))

    def _check(self, text, line):
        text = " ".join(text.split())
        if PROSE.search(text) and not TEMPLATE_ALLOWED.match(text):
            self.found.append((line, text))


def _printed_literals(node):
    """String constants Jinja would print as they are (not through _ or a macro)."""
    from jinja2 import nodes

    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        if _is_prose(node.value):
            yield node
    elif isinstance(node, nodes.CondExpr):
        yield from _printed_literals(node.expr1)
        yield from _printed_literals(node.expr2)
    elif isinstance(node, nodes.Concat):
        for child in node.nodes:
            yield from _printed_literals(child)
    elif isinstance(node, nodes.Filter) and node.name in ("e", "safe", "escape", "upper", "lower"):
        yield from _printed_literals(node.node)


def scan_template(source: str, filename: str = "<template>") -> list[str]:
    """`file:line: text` for visible English outside `_()` in one Jinja template."""
    from jinja2 import Environment, nodes

    findings = []
    # Jinja replaced by spaces, keeping line numbers (newlines stay).
    blank = lambda m: re.sub(r"[^\n]", " ", m.group())  # noqa: E731
    html = JINJA.sub(blank, CLASS_BLOCK.sub(blank, source))
    finder = _TextFinder()
    finder.feed(html)
    finder.close()
    findings += [f"{filename}:{line}: {text[:80]}" for line, text in finder.found]
    # Only parsed, never rendered: autoescaping does not apply.
    env = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    for output in env.parse(source).find_all(nodes.Output):
        for child in output.nodes:
            if isinstance(child, nodes.TemplateData):
                continue
            for literal in _printed_literals(child):
                findings.append(f"{filename}:{literal.lineno}: {literal.value[:80]!r}")
    return findings


# -- the tests ---------------------------------------------------------------------------------


def test_the_scanner_finds_an_untranslated_flash_and_passes_a_translated_one():
    assert scan_source('flash("Saved.")') == ["<snippet>:1: 'Saved.'"]
    assert scan_source('flash(_("Saved."))') == []
    assert scan_source('flash(gettext("Saved %(n)s.", n=3), "info")') == []


@pytest.mark.parametrize(
    "source",
    [
        'abort(400, "The form expired.")',
        'abort(404, f"No round {round_id}.")',
        'raise ValidationError("Too long.")',
        "raise UserError(f\"'{email}' is not an email address\")",
        'email = EmailField("Email", validators=[DataRequired()])',
        'role = SelectField(lazy_gettext("Role"), choices=[SelectChoice("admin", "Admin")])',
        'x = StringField(lazy_gettext("Name"), validators=[Length(max=3, message="Too long")])',
        'confirm = PasswordField(lazy_gettext("Again"), validators=[EqualTo("password", "They differ.")])',
        'problems.append("Row 3 is empty.")',
        'form.email.errors.append("Taken.")',
        'return jsonify({"error": "csrf", "message": "The form expired."}), 400',
        'Markup("<b>Careful</b>")',
        'flash("Imported " + str(n) + " answers")',
        "try:\n    go()\nexcept ValueError as exc:\n    abort(400, str(exc))",
        'try:\n    go()\nexcept KeyError as exc:\n    flash(_("Failed: %(why)s", why=str(exc)))',
    ],
)
def test_the_scanner_finds_each_kind_of_untranslated_message(source):
    assert scan_source(source), source


@pytest.mark.parametrize(
    "source",
    [
        'abort(400, _("The form expired."))',
        "abort(404)",
        'raise SaveRefused("read_only", _("This response is read-only."))',
        'email = EmailField(lazy_gettext("Email"), validators=[DataRequired(message=lazy_gettext("Enter it."))])',
        'role = SelectField(lazy_gettext("Role"), choices=[SelectChoice("admin", lazy_gettext("Admin"))])',
        'return jsonify({"error": "csrf", "message": message}), 400',
        'flash(_("Round %(id)s is open.", id=form.round_id.data), "info")',
        "try:\n    go()\nexcept UserError as exc:\n    form.email.errors.append(str(exc))",
        'problems.append(t("Row %(row)s is empty.", row=3))',
    ],
)
def test_the_scanner_passes_translated_messages_and_codes(source):
    assert scan_source(source) == [], source


def test_no_user_facing_english_literal_in_the_code_outside_gettext():
    findings = []
    for relative, path in _modules():
        findings += scan_source(path.read_text(encoding="utf-8"), relative)
    assert findings == [], "wrap these in _() (survey.i18n in the core):\n" + "\n".join(findings)


def test_the_template_scanner_finds_english_outside_underscore():
    assert scan_template("<p>Saved.</p>")
    assert scan_template('<input placeholder="Search">')
    assert scan_template("<p>{{ 'Draft' if x else _('Final') }}</p>")
    assert scan_template("<p>{{ _('Saved.') }} {{ user.email }} UNTOC · 3 %</p>") == []
    assert scan_template("<script>const a = 'not shown';</script>{# a comment #}") == []
    assert scan_template('<span lang="en" title="{{ t }}">UNTOC art. 5</span>') == []
    assert scan_template('<span lang="en">art. 5</span> <b>not marked</b>')
    assert scan_template("{% block page_class %}with-sidebar{% endblock %}") == []


def test_no_english_text_in_the_templates_outside_underscore():
    findings = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        relative = path.relative_to(TEMPLATES).as_posix()
        findings += scan_template(path.read_text(encoding="utf-8"), relative)
    assert findings == [], "wrap these in {{ _('...') }}:\n" + "\n".join(findings)
