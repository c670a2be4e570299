"""The questionnaire loader and validator: shipped files load; broken files give precise errors."""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pytest

from survey.questionnaire import check_directory, default_directory
from survey.questionnaire.model import STANDARD_QUESTIONS

# Articles every instrument must cover (issue 2, point 3).
REQUIRED_ARTICLES = {
    "UNTOC": [*range(5, 32), 34],
    "TIP": list(range(5, 14)),
    "SOM": list(range(5, 19)),
    "FIR": list(range(5, 16)),
    "UNCAC": [*range(5, 63), 65],
}
# Official article titles, spot-checked against the treaty texts.
OFFICIAL_TITLES = {
    "UNTOC-6": "Criminalization of the laundering of proceeds of crime",
    "TIP-6": "Assistance to and protection of victims of trafficking in persons",
    "SOM-18": "Return of smuggled migrants",
    "FIR-10": "General requirements for export, import and transit licensing or authorization systems",
    "UNCAC-16": "Bribery of foreign public officials and officials of public international organizations",
    "UNCAC-46": "Mutual legal assistance",
}


def test_shipped_questionnaire_loads_with_every_instrument(questionnaire):
    assert [i.code for i in questionnaire.instruments] == ["UNTOC", "TIP", "SOM", "FIR", "UNCAC"]
    assert questionnaire.id == "omnibus"
    assert len(questionnaire.provisions) > 200


@pytest.mark.parametrize("code", list(REQUIRED_ARTICLES))
def test_every_required_article_has_a_provision(questionnaire, code):
    articles = {p.article for p in questionnaire.instrument(code).provisions}
    missing = [a for a in REQUIRED_ARTICLES[code] if a not in articles]
    assert missing == []


def test_every_provision_is_complete(questionnaire):
    for provision in questionnaire.provisions.values():
        assert provision.obligation in ("mandatory", "consider", "optional"), provision.id
        assert len(provision.summary.en) > 30, provision.id
        assert provision.title, provision.id
        names = [q.name for q in provision.questions]
        # The whole standard block comes first, in order, and holds every required question.
        block = [q.name for q in questionnaire.standard_block]
        assert names[: len(block)] == block, provision.id
        assert set(STANDARD_QUESTIONS) <= set(block)
        assert re.match(r"^(UNTOC|TIP|SOM|FIR|UNCAC)-\d+(-[0-9a-z]+)*$", provision.id)


def test_titles_are_the_same_for_every_provision_of_an_article(questionnaire):
    titles = {}
    for p in questionnaire.provisions.values():
        titles.setdefault((p.instrument, p.article), set()).add(p.title)
    assert {k: v for k, v in titles.items() if len(v) > 1} == {}
    for pid, title in OFFICIAL_TITLES.items():
        inst, art = pid.split("-")
        assert titles[(inst, int(art))] == {title}


def test_mixed_articles_are_split_by_obligation(questionnaire):
    assert questionnaire.provisions["UNCAC-16-1"].obligation == "mandatory"
    assert questionnaire.provisions["UNCAC-16-2"].obligation == "consider"


def test_cross_references_resolve_in_both_directions(questionnaire):
    provisions = questionnaire.provisions
    pairs = 0
    for p in provisions.values():
        for ref in p.cross_references:
            if ref.is_un:
                back = [r.provision for r in provisions[ref.provision].cross_references if r.is_un]
                assert p.id in back, f"{p.id} -> {ref.provision} has no way back"
                pairs += 1
    assert pairs > 50
    related = {p.id for p in questionnaire.related("UNTOC-10")}
    assert any(pid.startswith("UNCAC-26") for pid in related)
    assert "UNTOC-10" in {p.id for p in questionnaire.related(next(iter(related)))}


def test_known_overlaps_are_cross_referenced(questionnaire):
    def articles_related(pid_prefix):
        out = set()
        for p in questionnaire.provisions.values():
            if p.id == pid_prefix or p.id.startswith(pid_prefix + "-"):
                out |= {f"{r.instrument}-{r.article}" for r in p.cross_references}
        return out

    assert "UNCAC-23" in articles_related("UNTOC-6")
    assert "UNCAC-26" in articles_related("UNTOC-10")
    assert "UNCAC-25" in articles_related("UNTOC-23")
    assert "UNCAC-44" in articles_related("UNTOC-16")
    assert "UNCAC-46" in articles_related("UNTOC-18")
    assert "SOM-12" in articles_related("TIP-12")
    assert "OECD-1" in articles_related("UNCAC-16")


def test_regional_cross_references_name_instrument_and_article(questionnaire):
    external = [
        r for p in questionnaire.provisions.values() for r in p.cross_references if not r.is_un
    ]
    codes = {r.instrument for r in external}
    assert {"OECD", "COECRIM", "COECIV", "COETHB"} <= codes
    assert all(r.article and r.title for r in external)


def test_relevance_rules_parse_and_behave(questionnaire):
    provision = questionnaire.provisions["UNCAC-15"]
    shown = lambda answers: [q.name for q in provision.relevant_questions(answers)]  # noqa: E731
    assert shown({}) == ["compliance"]
    assert "steps" not in shown({"compliance": "yes"})
    assert "ta_types" not in shown({"compliance": "no", "ta_needed": "no"})
    assert "ta_types" in shown({"compliance": "no", "ta_needed": "yes"})


# -- broken snippets --------------------------------------------------------------------------


@pytest.fixture
def qdir(tmp_path):
    """A copy of the shipped questionnaire to break one piece at a time."""
    target = tmp_path / "q"
    shutil.copytree(default_directory(), target, ignore=shutil.ignore_patterns("schema"))
    return target


MINI_INSTRUMENT = """
instrument: TIP
title: Trafficking in Persons Protocol
chapters:
  - id: general
    title: General provisions
    provisions:
      - id: TIP-5
        article: 5
        title: Criminalization
        obligation: mandatory
        summary: Make trafficking in persons a criminal offence with all its elements.
"""


def write_mini(qdir: Path, instrument_text: str, shared_patch=None):
    (qdir / "omnibus.yaml").write_text(
        "id: mini\nversion: '1'\ntitle: Mini\nshared: shared.yaml\ninstruments: [tip.yaml]\n"
    )
    (qdir / "tip.yaml").write_text(textwrap.dedent(instrument_text))
    # The shipped translations name provisions a mini questionnaire does not have.
    shutil.rmtree(qdir / "translations", ignore_errors=True)
    if shared_patch:
        text = (qdir / "shared.yaml").read_text()
        old, new = shared_patch
        assert old in text
        (qdir / "shared.yaml").write_text(text.replace(old, new, 1))


BROKEN = [
    (
        "misspelled key",
        MINI_INSTRUMENT.replace("obligation: mandatory", "obligaton: mandatory"),
        None,
        "tip.yaml: chapters[0].provisions[0].obligaton: unknown key 'obligaton' (did you mean 'obligation'?)",
    ),
    (
        "missing obligation",
        MINI_INSTRUMENT.replace("        obligation: mandatory\n", ""),
        None,
        "tip.yaml: chapters[0].provisions[0].obligation: missing required key 'obligation'",
    ),
    (
        "unknown obligation level",
        MINI_INSTRUMENT.replace("obligation: mandatory", "obligation: mandatry"),
        None,
        "tip.yaml: chapters[0].provisions[0].obligation: 'mandatry' is not a valid obligation level (did you mean 'mandatory'?)",
    ),
    (
        "bad provision id",
        MINI_INSTRUMENT.replace("id: TIP-5", "id: TIP-5-A"),
        None,
        "tip.yaml: chapters[0].provisions[0].id: 'TIP-5-A' is not a valid provision id",
    ),
    (
        "article does not match id",
        MINI_INSTRUMENT.replace("article: 5", "article: 6"),
        None,
        "tip.yaml: chapters[0].provisions[0].article: article 6 does not match id 'TIP-5'",
    ),
    (
        "duplicate id",
        MINI_INSTRUMENT
        + """
      - id: TIP-5
        article: 5
        title: Criminalization
        obligation: mandatory
        summary: The same provision a second time, which must be reported.
""",
        None,
        "tip.yaml: chapters[0].provisions[1].id: duplicate provision id 'TIP-5'",
    ),
    (
        "unknown cross-reference",
        MINI_INSTRUMENT + "        cross_references: [UNCAC-999]\n",
        None,
        "tip.yaml: chapters[0].provisions[0].cross_references[0]: cross-reference 'UNCAC-999' names no provision or article",
    ),
    (
        "unknown regional article",
        MINI_INSTRUMENT + "        cross_references: [{instrument: COETHB, article: '99'}]\n",
        None,
        "tip.yaml: chapters[0].provisions[0].cross_references[0].article: COETHB has no article '99'",
    ),
    (
        "misspelled regional instrument",
        MINI_INSTRUMENT + "        cross_references: [{instrument: COETBH, article: '4'}]\n",
        None,
        "'COETBH' is not a valid instrument of a cross-reference (did you mean 'COETHB'?)",
    ),
    (
        "relevance names unknown question",
        MINI_INSTRUMENT,
        ("relevant: ta_needed == yes", "relevant: ta_neded == yes"),
        "shared.yaml: standard_block[8].relevant: relevance rule 'ta_neded == yes': unknown question 'ta_neded' (did you mean 'ta_needed'?)",
    ),
    (
        "relevance names unknown code",
        MINI_INSTRUMENT,
        (
            "relevant: compliance in [partly, not_yet, not_yet_considered]",
            "relevant: compliance in [partial, not_yet, not_yet_considered]",
        ),
        "'partial' is not a code of 'compliance' (did you mean 'partly'?)",
    ),
    (
        "relevance syntax",
        MINI_INSTRUMENT,
        ("relevant: ta_needed == yes", "relevant: ta_needed = yes"),
        "relevance rule 'ta_needed = yes': unexpected character '='",
    ),
    (
        "unknown choice list",
        MINI_INSTRUMENT,
        ("choices: ta_types", "choices: ta_type"),
        "shared.yaml: standard_block[8].choices: 'ta_type' is not a valid choice list (did you mean 'ta_types'?)",
    ),
    (
        "yaml syntax error",
        MINI_INSTRUMENT.replace("title: Criminalization", "title: [Criminalization"),
        None,
        "tip.yaml: line ",
    ),
    (
        "missing English",
        MINI_INSTRUMENT.replace(
            "summary: Make trafficking",
            "summary:\n          fr: Ériger la traite en infraction.\n        x: Make",
        ).replace(
            "        x: Make trafficking in persons a criminal offence with all its elements.\n", ""
        ),
        None,
        "tip.yaml: chapters[0].provisions[0].summary: no English ('en') text",
    ),
]


@pytest.mark.parametrize(
    "case,instrument,shared_patch,expected", BROKEN, ids=[b[0] for b in BROKEN]
)
def test_broken_questionnaire_reports_file_path_and_suggestion(
    qdir, case, instrument, shared_patch, expected
):
    write_mini(qdir, instrument, shared_patch)
    model, problems = check_directory(qdir)
    assert model is None
    messages = [str(p) for p in problems]
    assert any(expected in m for m in messages), messages


def test_mini_questionnaire_is_valid(qdir):
    write_mini(qdir, MINI_INSTRUMENT)
    model, problems = check_directory(qdir)
    assert problems == []
    assert list(model.provisions) == ["TIP-5"]


def test_yes_and_no_stay_strings(qdir):
    write_mini(qdir, MINI_INSTRUMENT)
    model, _ = check_directory(qdir)
    assert model.choice_list("yes_no").codes == ("yes", "no")
    assert model.choice_list("compliance_mandatory").codes == ("fully", "partly", "not_yet", "na")
    assert model.choice_list("compliance_consider").codes == (
        "adopted",
        "partly_adopted",
        "declined",
        "not_yet_considered",
        "na",
    )
    assert model.choice_list("compliance_optional").codes == ("used", "not_used")
    assert model.choice_list("compliance").codes == (
        "fully",
        "partly",
        "not_yet",
        "adopted",
        "partly_adopted",
        "declined",
        "not_yet_considered",
        "used",
        "not_used",
        "na",
    )


def test_loader_refuses_python_tags(qdir):
    write_mini(qdir, "!!python/object/apply:os.system ['echo hacked']\n")
    model, problems = check_directory(qdir)
    assert model is None
    assert any("tip.yaml" in str(p) and "YAML syntax error" in str(p) for p in problems)


def test_manifest_cannot_point_outside_the_folder(qdir):
    (qdir / "omnibus.yaml").write_text(
        "id: x\nversion: '1'\ntitle: X\nshared: shared.yaml\ninstruments: [../../etc/passwd]\n"
    )
    model, problems = check_directory(qdir)
    assert model is None
    assert any("instruments[0]" in str(p) for p in problems)


def test_scoring_constants_can_be_overridden(qdir):
    write_mini(qdir, MINI_INSTRUMENT)
    with open(qdir / "omnibus.yaml", "a") as f:
        f.write("scoring:\n  weights: {optional: 0.1}\n")
    model, problems = check_directory(qdir)
    assert problems == []
    assert model.scoring.weight == {"mandatory": 1.0, "consider": 0.5, "optional": 0.1}


def test_show_json_lists_documented_fields(questionnaire):
    from survey.questionnaire.export import provision_dict

    row = provision_dict(questionnaire, questionnaire.provisions["UNCAC-15"])
    assert set(row) >= {
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
    assert json.dumps(row)
