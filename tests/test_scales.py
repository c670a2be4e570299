"""Answer scales per obligation level: the scales in the model, scoring per level (the worked
example of docs/scoring.md, read from the doc), and the migration of stored 2026.1 answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from survey.questionnaire import get_questionnaire
from survey.responding import save_provision
from survey.scoring import (
    reference_priorities,
    regional_priorities,
    score_state,
    state_index,
    ta_demand,
)
from survey.storage import connect
from survey.storage.migrations import (
    OLD_TO_NEW_COMPLIANCE,
    SCALES_MIGRATION,
    migrate,
)
from survey.storage.responses import change_status, get_or_create_response
from survey.storage.rounds import create_round
from survey.storage.states import load_states

DOC = Path(__file__).resolve().parents[1] / "docs" / "scoring.md"
STATES = {"Kenya": "KEN", "Nigeria": "NGA"}


@pytest.fixture(scope="module")
def model():
    return get_questionnaire()


# -- the scales in the model ---------------------------------------------------------------


def test_each_provision_asks_the_scale_of_its_obligation_level(model):
    expected = {
        "mandatory": ("fully", "partly", "not_yet", "na"),
        "consider": ("adopted", "partly_adopted", "declined", "not_yet_considered", "na"),
        "optional": ("used", "not_used"),
    }
    for provision in model.provisions.values():
        question = provision.question("compliance")
        assert question.choices.codes == expected[provision.obligation], provision.id


def test_an_option_is_asked_as_an_option_not_as_a_requirement(model):
    optional = model.provisions["UNTOC-13-7"].question("compliance")
    mandatory = model.provisions["UNTOC-5"].question("compliance")
    assert "option" in optional.label.en and "requires" not in optional.label.en
    assert "requires" in mandatory.label.en
    assert (
        model.provisions["UNCAC-20"]
        .question("compliance")
        .label.en.startswith("Has your State considered")
    )


def test_reason_not_measures_follows_not_applicable_and_declined(model):
    provision = model.provisions["UNCAC-20"]
    for code in ("na", "declined"):
        shown = {q.name for q in provision.relevant_questions({"compliance": code})}
        assert "reason" in shown and "measures" not in shown and "steps" not in shown
    shown = {q.name for q in provision.relevant_questions({"compliance": "not_yet_considered"})}
    assert {"steps", "challenges", "ta_needed"} <= shown and "reason" not in shown


def test_ta_received_and_ta_needed_are_asked_whatever_the_answer(model):
    provision = model.provisions["UNTOC-13-7"]
    for code in ("used", "not_used"):
        shown = {q.name for q in provision.relevant_questions({"compliance": code})}
        assert {"ta_needed", "ta_received"} <= shown
        assert "steps" not in shown and "challenges" not in shown


def test_other_asks_please_specify(model):
    provision = model.provisions["UNTOC-5"]
    answers = {"compliance": "partly", "challenges": ["other"], "ta_needed": "yes"}
    answers["ta_types"] = ["other"]
    shown = {q.name for q in provision.relevant_questions(answers)}
    assert {"challenges_other", "ta_other"} <= shown
    answers.update(challenges=["limited_resources"], ta_types=["legal_advice"])
    shown = {q.name for q in provision.relevant_questions(answers)}
    assert not {"challenges_other", "ta_other"} & shown


def test_no_text_promises_an_attachment(model):
    texts = [q.label.en + (q.hint.en if q.hint else "") for q in model.standard_block]
    texts += [
        q.label.en + (q.hint.en if q.hint else "")
        for p in model.provisions.values()
        for q in p.questions
    ]
    assert not [t for t in texts if "attach" in t.lower()]


# -- the worked example of docs/scoring.md ----------------------------------------------------


def _tables(text: str) -> list[list[list[str]]]:
    """Every markdown table of the text: rows of stripped cells, the separator row left out."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r"-+", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _worked_example():
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Worked example") : text.index("## Stored answers")]
    tables = {t[0][0]: t for t in _tables(section)}
    answers: dict[str, dict[str, dict]] = {iso3: {} for iso3 in STATES.values()}
    for pid, level, _w, *cells in tables["provision"][1:]:
        for state, cell in zip(tables["provision"][0][3:], cells, strict=True):
            code = re.search(r"`(\w+)`", cell).group(1)
            values = {"compliance": code, "ta_needed": "yes" if "TA requested" in cell else "no"}
            answers[STATES[state]][pid] = values
        assert level in OLD_TO_NEW_COMPLIANCE
    ranking = [dict(zip(tables["rank"][0], row, strict=True)) for row in tables["rank"][1:]]
    indexes = {STATES[row[0]]: float(row[3]) for row in tables["State"][1:]}
    return answers, ranking, indexes


def test_worked_example_levels_match_the_questionnaire(model):
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Worked example") : text.index("## Stored answers")]
    table = next(t for t in _tables(section) if t[0][0] == "provision")
    for pid, level, weight, *_ in table[1:]:
        assert model.provisions[pid].obligation == level
        assert model.scoring.weight[level] == float(weight)


def test_worked_example_in_the_doc_is_what_scoring_computes(tmp_path, model):
    answers, ranking, indexes = _worked_example()
    db = connect(tmp_path / "example.db")
    load_states(db)
    create_round(db, "R1", model)
    for iso3, by_provision in answers.items():
        response = get_or_create_response(db, "R1", iso3)
        for pid, values in by_provision.items():
            save_provision(db, response["id"], pid, values, user_id=None)
        change_status(db, response["id"], "submitted", user_id=None)

    rows = regional_priorities(db, model, "R1", "un_regional_group", region="AFRICAN_GROUP")
    reference = reference_priorities(
        model,
        [
            {"region": "AFRICAN_GROUP", "state": iso3, "status": "submitted", "answers": values}
            for iso3, values in answers.items()
        ],
    )
    for computed in (rows, reference):
        assert [r["provision_id"] for r in computed] == [r["provision"] for r in ranking]
        for row, doc in zip(computed, ranking, strict=True):
            assert row["rank"] == int(doc["rank"])
            assert row["n_resp"] == int(doc["n_resp"])
            assert row["n_gap"] == int(doc["n_gap"])
            assert row["gap_share"] == pytest.approx(float(doc["gap_share"]))
            assert row["ta_share"] == pytest.approx(float(doc["ta_share"]))
            assert row["priority"] == pytest.approx(float(doc["priority"]))

    for iso3, expected in indexes.items():
        index = state_index(
            s for s in score_state(model, answers[iso3]) if s.provision_id in answers[iso3]
        )
        assert round(index.index, 1) == expected

    # Kenya's request for help to use an option it does not use is TA demand, not a gap.
    demand = ta_demand(db, model, "R1", "un_regional_group", region="AFRICAN_GROUP")
    assert demand == []  # no ta_types were chosen: requests without types name no type
    db.conn.close()


def test_unused_option_and_declined_measure_are_never_gaps(model):
    values = {
        "UNTOC-13-7": {"compliance": "not_used", "ta_needed": "yes"},
        "UNCAC-20": {"compliance": "declined", "reason": "Art. 11 of the Constitution."},
        "UNTOC-5": {"compliance": "fully"},
    }
    scores = {s.provision_id: s for s in score_state(model, values) if s.provision_id in values}
    assert not any(s.is_gap for s in scores.values())
    assert scores["UNTOC-13-7"].ta_needed  # TA may be requested on any provision
    assert scores["UNCAC-20"].score == 1.0
    not_yet = score_state(model, {"UNCAC-20": {"compliance": "not_yet_considered"}})
    assert next(s for s in not_yet if s.provision_id == "UNCAC-20").is_gap


# -- the migration of stored answers ---------------------------------------------------------

OLD_ANSWERS = {
    # provision (level): old compliance code, and what the migration must make of it
    "UNTOC-5": ("yes", "fully"),  # mandatory
    "TIP-5": ("no", "not_yet"),  # mandatory
    "UNCAC-20": ("no", "not_yet_considered"),  # consider: 'no' never meant declined
    "UNTOC-13-7": ("no", "not_used"),  # optional
    "UNTOC-18-9": ("partly", "used"),  # optional
    "UNTOC-12-7": ("na", "not_used"),  # optional
}


def test_migration_moves_old_answers_to_the_new_scales_and_keeps_history(tmp_path, model):
    db = connect(tmp_path / "old.db", migrate=False)
    migrate(db, until="0004_health")
    load_states(db)
    # An English title only: the per-language title columns (0009) do not exist yet.
    create_round(db, "R1", model, title="Round 1")
    response = get_or_create_response(db, "R1", "KEN")
    for pid, (old, _new) in OLD_ANSWERS.items():
        save_provision(
            db, response["id"], pid, {"compliance": old, "measures": "Law 12/2010"}, user_id=None
        )
    # A mandatory 'na' whose reason was written in measures, as the old hint asked.
    save_provision(
        db,
        response["id"],
        "UNTOC-15-1",
        {"compliance": "na", "measures": "No territory outside the mainland."},
        user_id=None,
    )
    history_before = db.execute("SELECT * FROM answer_history ORDER BY id").fetchall()
    versions_before = dict(
        db.execute(
            "SELECT provision_id, version FROM answers WHERE question = 'compliance'"
        ).fetchall()
    )

    # Up to this migration only: later migrations (0006 onwards) are not what this test is about.
    assert migrate(db, until=SCALES_MIGRATION) == [SCALES_MIGRATION]
    assert migrate(db, until=SCALES_MIGRATION) == []  # runs once

    stored = {
        (pid, q): json.loads(v)
        for pid, q, v in db.execute("SELECT provision_id, question, value FROM answers")
    }
    for pid, (_old, new) in OLD_ANSWERS.items():
        assert stored[(pid, "compliance")] == new, pid
        assert new in model.provisions[pid].question("compliance").choices.codes
    assert stored[("UNTOC-15-1", "compliance")] == "na"
    assert stored[("UNTOC-15-1", "reason")] == "No territory outside the mainland."

    history_after = db.execute("SELECT * FROM answer_history ORDER BY id").fetchall()
    assert history_after[: len(history_before)] == history_before  # old rows unchanged
    added = db.execute(
        "SELECT provision_id, question, old_value, new_value FROM answer_history WHERE source = ?",
        [f"migration:{SCALES_MIGRATION}"],
    ).fetchall()
    assert len(history_after) == len(history_before) + len(added)
    moved = {
        (pid, json.loads(old), json.loads(new)) for pid, q, old, new in added if q == "compliance"
    }
    assert moved == {(pid, old, new) for pid, (old, new) in OLD_ANSWERS.items() if old != new}
    assert ("UNTOC-15-1", "reason", None, json.dumps("No territory outside the mainland.")) in added
    # Each recoded answer is a new version, so a form opened before the migration conflicts.
    for pid, (old, new) in OLD_ANSWERS.items():
        version = db.execute(
            "SELECT version FROM answers WHERE provision_id = ? AND question = 'compliance'", [pid]
        ).fetchone()[0]
        assert version == versions_before[pid] + (old != new)
    db.conn.close()


def test_migration_on_an_empty_database_is_a_no_op(tmp_path):
    db = connect(tmp_path / "new.db")
    assert db.execute("SELECT count(*) FROM answer_history").fetchone()[0] == 0
    assert SCALES_MIGRATION in {r[0] for r in db.execute("SELECT name FROM _migrations")}
    db.conn.close()
