"""The JSON Schemas in questionnaires/schema/: shipped files validate; broken snippets are rejected."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from survey.questionnaire.loader import parse_yaml
from survey.questionnaire.model import (
    INSTRUMENT_CODES,
    LANGUAGES,
    OBLIGATIONS,
    QUESTION_TYPES,
    STANDARD_QUESTIONS,
)

QUESTIONNAIRES = Path(__file__).resolve().parents[1] / "questionnaires"
SCHEMA_DIR = QUESTIONNAIRES / "schema"
SCHEMA_FILES = sorted(p.name for p in SCHEMA_DIR.glob("*.schema.json"))
SHIPPED = {
    "omnibus.yaml": "omnibus",
    "shared.yaml": "shared",
    "untoc.yaml": "instrument",
    "tip.yaml": "instrument",
    "som.yaml": "instrument",
    "firearms.yaml": "instrument",
    "uncac.yaml": "instrument",
}
MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$")


def _retrieve(uri: str) -> Resource:
    """Resolve only schema files from disk, as an editor does for relative $refs; never the network."""
    parts = urlsplit(uri)
    path = Path(unquote(parts.path))
    if parts.scheme != "file" or path.parent != SCHEMA_DIR or not path.is_file():
        raise NoSuchResource(ref=uri)
    return Resource.from_contents(json.loads(path.read_text(encoding="utf-8")))


REGISTRY = Registry(retrieve=_retrieve)


def _validator(kind: str) -> Draft202012Validator:
    # Referring to the schema by its file URI makes its relative $refs resolve against that file.
    uri = (SCHEMA_DIR / f"{kind}.schema.json").as_uri()
    return Draft202012Validator({"$ref": uri}, registry=REGISTRY)


def _load(text: str, name: str = "snippet.yaml"):
    data, problems = parse_yaml(text, name)
    assert problems == []
    return data


def _errors(kind: str, data) -> list[str]:
    found = []
    for error in _validator(kind).iter_errors(data):
        for leaf in [error, *(error.context or [])]:
            found.append(f"{leaf.json_path} [{leaf.validator}] {leaf.message}")
    return found


def _walk(node, skip=frozenset()):
    """Every dict and list in a schema, not descending into the keywords in `skip`."""
    yield node
    if isinstance(node, dict):
        children = [value for key, value in node.items() if key not in skip]
    else:
        children = node if isinstance(node, list) else []
    for child in children:
        yield from _walk(child, skip)


# --- the schemas themselves -------------------------------------------------------------------


def test_expected_schema_files_exist():
    for kind in ("omnibus", "shared", "instrument"):
        assert f"{kind}.schema.json" in SCHEMA_FILES


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_is_valid_draft_2020_12(name):
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_schema_refs_are_local(name):
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    for node in _walk(schema):
        if not isinstance(node, dict):
            continue
        assert "$id" not in node, "an $id would change how editors resolve relative $refs"
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            target = ref.split("#", 1)[0]
            assert "/" not in target and ":" not in target, ref
            assert (SCHEMA_DIR / target).is_file(), ref


@pytest.mark.parametrize("name", SCHEMA_FILES)
def test_every_property_has_a_description(name):
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    # Conditions (if/then, contains) only narrow properties declared, with descriptions, elsewhere.
    conditions = frozenset({"if", "then", "else", "contains", "not"})
    missing = [
        key
        for node in _walk(schema, conditions)
        if isinstance(node, dict) and isinstance(node.get("properties"), dict)
        for key, sub in node["properties"].items()
        if not (isinstance(sub, dict) and sub.get("description"))
    ]
    assert missing == []
    assert schema.get("description")


def test_schema_enums_match_the_model():
    common = json.loads((SCHEMA_DIR / "common.schema.json").read_text(encoding="utf-8"))["$defs"]
    assert sorted(common["instrumentCode"]["enum"]) == sorted(INSTRUMENT_CODES)
    assert sorted(common["obligation"]["enum"]) == sorted(OBLIGATIONS)
    assert sorted(common["question"]["properties"]["type"]["enum"]) == sorted(QUESTION_TYPES)
    assert sorted(common["languageMap"]["properties"]) == sorted(LANGUAGES)
    shared = json.loads((SCHEMA_DIR / "shared.schema.json").read_text(encoding="utf-8"))
    consts = [
        rule["contains"]["properties"]["name"]["const"]
        for rule in shared["properties"]["standard_block"]["allOf"]
    ]
    assert sorted(consts) == sorted(STANDARD_QUESTIONS)


# --- the shipped files ------------------------------------------------------------------------


def test_every_shipped_yaml_file_is_covered():
    assert sorted(p.name for p in QUESTIONNAIRES.glob("*.yaml")) == sorted(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_file_points_at_its_schema(name):
    first = (QUESTIONNAIRES / name).read_text(encoding="utf-8").splitlines()[0]
    match = MODELINE.match(first)
    assert match, first
    assert match.group(1) == f"schema/{SHIPPED[name]}.schema.json"
    assert (QUESTIONNAIRES / match.group(1)).is_file()


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_file_validates(name):
    data = _load((QUESTIONNAIRES / name).read_text(encoding="utf-8"), name)
    assert _errors(SHIPPED[name], data) == []


# --- snippets ---------------------------------------------------------------------------------

MANIFEST = """\
id: omnibus
version: "2026.1"
title: Omnibus self-assessment
shared: shared.yaml
instruments: [untoc.yaml, uncac.yaml]
scoring:
  scores: {yes: 1.0, partly: 0.5, no: 0.0}
  weights: {mandatory: 1.0, consider: 0.5, optional: 0.25}
  ta_factor: {requested: 1.0, not_requested: 0.5}
"""

SHARED = """\
choice_lists:
  compliance:
    - {name: yes, label: "Yes, fully"}
    - {name: partly, label: Partly}
    - {name: no, label: {en: "No", fr: Non}}
  yes_no:
    - {name: yes, label: "Yes"}
    - {name: no, label: "No"}
  ta_types:
    - {name: legal_advice, label: Legal advice}
standard_block:
  - name: compliance
    type: select_one
    choices: compliance
    required: true
    label: Has your State adopted the measures that this provision requires?
    hint: {en: Choose one., es: Elija una.}
  - {name: reason, type: text, relevant: compliance == no, label: "Why not?"}
  - {name: measures, type: text, relevant: compliance is answered, label: "Which measures?"}
  - {name: examples, type: text, label: "Examples?"}
  - {name: steps, type: text, label: "Steps?"}
  - {name: challenges, type: select_multiple, choices: ta_types, label: "Challenges?"}
  - {name: challenges_other, type: text, label: "Other challenge?"}
  - {name: ta_needed, type: yes_no, label: "TA needed?"}
  - {name: ta_types, type: select_multiple, choices: ta_types, relevant: ta_needed == yes, label: "Which TA?"}
  - {name: ta_other, type: text, label: "Other TA?"}
  - {name: ta_received, type: yes_no, label: "TA received?"}
  - {name: ta_provider, type: text, label: "From whom?"}
external_instruments:
  OECD:
    title: OECD Anti-Bribery Convention (1997)
    articles: {"1": The Offence of Bribery of Foreign Public Officials}
"""

INSTRUMENT = """\
instrument: UNCAC
title: United Nations Convention against Corruption
short_title: {en: Convention against Corruption, fr: Convention contre la corruption}
chapters:
  - id: criminalization
    number: III
    title: Criminalization and law enforcement
    provisions:
      - id: UNCAC-16-1
        article: 16
        paragraphs: "1"
        title: Bribery of foreign public officials
        obligation: mandatory
        summary: Make it a crime to bribe a foreign public official.
        cross_references:
          - UNTOC-8
          - UNTOC-5-1-a
          - {instrument: OECD, article: "1", note: active bribery only}
        extra_questions:
          - {name: sanctions, type: text, label: "Which sanctions apply?"}
"""

BASES = {"omnibus": MANIFEST, "shared": SHARED, "instrument": INSTRUMENT}


@pytest.mark.parametrize("kind", sorted(BASES))
def test_valid_snippet_is_accepted(kind):
    assert _errors(kind, _load(BASES[kind])) == []


def test_yes_and_no_codes_must_stay_strings():
    # A plain YAML 1.1 loader would turn `name: yes` into True; the schema rejects that.
    data = _load(SHARED)
    data["choice_lists"]["yes_no"][0]["name"] = True
    assert any("choice_lists.yes_no[0].name" in e for e in _errors("shared", data))


# (schema, text to replace in the valid snippet, replacement, expected fragment of an error)
BROKEN = {
    "manifest unknown key": (
        "omnibus",
        "shared: shared.yaml",
        "shared: shared.yaml\nshard: shared.yaml",
        "'shard' was unexpected",
    ),
    "manifest missing instruments": (
        "omnibus",
        "instruments: [untoc.yaml, uncac.yaml]\n",
        "",
        "'instruments' is a required property",
    ),
    "manifest instrument file in a folder": (
        "omnibus",
        "untoc.yaml",
        "../untoc.yaml",
        "$.instruments[0]",
    ),
    "manifest negative weight": (
        "omnibus",
        "optional: 0.25",
        "optional: -1",
        "$.scoring.weights.optional",
    ),
    "manifest unknown score": (
        "omnibus",
        "partly: 0.5,",
        "partial: 0.5,",
        "'partial' was unexpected",
    ),
    "shared unknown question key": (
        "shared",
        "required: true\n",
        "requird: true\n",
        "'requird' was unexpected",
    ),
    "shared bad question type": (
        "shared",
        "type: select_one",
        "type: select_many",
        "$.standard_block[0].type",
    ),
    "shared select without choices": (
        "shared",
        "    choices: compliance\n",
        "",
        "'choices' is a required property",
    ),
    "shared yes_no with choices": (
        "shared",
        'type: yes_no, label: "TA needed?"',
        'type: yes_no, choices: compliance, label: "TA needed?"',
        # jsonschema drops the path of errors from a false schema; the message names the value
        "$.standard_block[7] [None] False schema does not allow 'compliance'",
    ),
    "shared missing en": (
        "shared",
        'label: {en: "No", fr: Non}',
        "label: {fr: Non}",
        "'en' is a required property",
    ),
    "shared empty en": (
        "shared",
        "{en: Choose one., es: Elija una.}",
        "{en: ' ', es: Elija una.}",
        "$.standard_block[0].hint",
    ),
    "shared unknown language": (
        "shared",
        "es: Elija una.",
        "sp: Elija una.",
        "'sp' was unexpected",
    ),
    "shared bad choice code": (
        "shared",
        "name: partly",
        "name: Partly",
        "$.choice_lists.compliance[1].name",
    ),
    "shared missing standard question": (
        "shared",
        '  - {name: steps, type: text, label: "Steps?"}\n',
        "",
        "[contains]",
    ),
    "shared external without articles": (
        "shared",
        '    articles: {"1": The Offence of Bribery of Foreign Public Officials}\n',
        "",
        "'articles' is a required property",
    ),
    "instrument unknown key": (
        "instrument",
        "obligation: mandatory",
        "obligaton: mandatory",
        "'obligaton' was unexpected",
    ),
    "instrument bad obligation": (
        "instrument",
        "obligation: mandatory",
        "obligation: must",
        "$.chapters[0].provisions[0].obligation",
    ),
    "instrument bad provision id": (
        "instrument",
        "id: UNCAC-16-1",
        "id: UNCAC-16.1",
        "$.chapters[0].provisions[0].id",
    ),
    "instrument lower-case provision id": (
        "instrument",
        "id: UNCAC-16-1",
        "id: uncac-16-1",
        "$.chapters[0].provisions[0].id",
    ),
    "instrument id of another instrument": (
        "instrument",
        "id: UNCAC-16-1",
        "id: UNTOC-16-1",
        "does not match '^UNCAC-'",
    ),
    "instrument unknown code": (
        "instrument",
        "instrument: UNCAC",
        "instrument: CAC",
        "$.instrument",
    ),
    "instrument missing summary": (
        "instrument",
        "        summary: Make it a crime to bribe a foreign public official.\n",
        "",
        "'summary' is a required property",
    ),
    "instrument article as text": (
        "instrument",
        "article: 16",
        'article: "16"',
        "$.chapters[0].provisions[0].article",
    ),
    "instrument translated provision title": (
        "instrument",
        "title: Bribery of foreign public officials",
        "title: {en: Bribery of foreign public officials}",
        "$.chapters[0].provisions[0].title",
    ),
    "instrument bad chapter id": (
        "instrument",
        "id: criminalization",
        "id: Criminalization",
        "$.chapters[0].id",
    ),
    "instrument bad cross-reference": (
        "instrument",
        "- UNTOC-8",
        "- UNTOC 8",
        "$.chapters[0].provisions[0].cross_references[0]",
    ),
    "instrument cross-reference unknown key": (
        "instrument",
        "note: active bribery only",
        "notes: active bribery only",
        "'notes' was unexpected",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_snippet_is_rejected(case):
    kind, old, new, expected = BROKEN[case]
    base = BASES[kind]
    assert base.count(old) == 1, f"{old!r} must occur once in the valid {kind} snippet"
    errors = _errors(kind, _load(base.replace(old, new)))
    assert errors, f"{case}: accepted"
    assert any(expected in e for e in errors), "\n".join(errors)
