"""Scoring: hand-computed expectations, and the SQL aggregation against the Python reference."""

from __future__ import annotations

import shutil
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from survey.questionnaire import check_directory, default_directory
from survey.responding import save_provision
from survey.scoring import (
    reference_priorities,
    regional_priorities,
    score_state,
    state_index,
    ta_demand,
)
from survey.storage import connect, transaction
from survey.storage.responses import change_status, get_or_create_response
from survey.storage.rounds import create_round
from survey.storage.states import load_states, region_expression

MINI = """
instrument: TIP
title: Trafficking in Persons Protocol
chapters:
  - id: one
    title: Chapter one
    provisions:
      - {id: TIP-5, article: 5, title: Criminalization, obligation: mandatory, summary: Make trafficking a crime in domestic law.}
      - {id: TIP-6, article: 6, title: Assistance, obligation: consider, summary: Consider measures to help and protect victims.}
  - id: two
    title: Chapter two
    provisions:
      - {id: TIP-7, article: 7, title: Status, obligation: optional, summary: The State may let victims stay on its territory.}
"""


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    target = tmp_path_factory.mktemp("mini")
    shutil.copy(default_directory() / "shared.yaml", target / "shared.yaml")
    (target / "omnibus.yaml").write_text(
        "id: mini\nversion: '1'\ntitle: Mini\nshared: shared.yaml\ninstruments: [tip.yaml]\n"
    )
    (target / "tip.yaml").write_text(textwrap.dedent(MINI))
    model, problems = check_directory(target)
    assert problems == []
    return model


@pytest.fixture
def mdb(tmp_path, mini):
    db = connect(tmp_path / "s.db")
    load_states(db)
    create_round(db, "R1", mini)
    yield db
    db.conn.close()


def answer(db, model, state, answers_by_provision, status="submitted", round_id="R1"):
    response = get_or_create_response(db, round_id, state)
    for pid, answers in answers_by_provision.items():
        save_provision(db, response["id"], pid, answers, user_id=None)
    if status != "draft":
        change_status(db, response["id"], "submitted", user_id=None)
        if status == "validated":
            change_status(db, response["id"], "validated", user_id=None)
    return response


# -- State index ---------------------------------------------------------------------------

INDEX_CASES = [
    # (answers, expected index, scored, applicable)
    # TIP-5 mandatory (w 1), TIP-6 consider (w 0.5), TIP-7 optional (w 0.25).
    ({"TIP-5": "fully", "TIP-6": "adopted", "TIP-7": "used"}, 100.0, 3, 3),
    ({"TIP-5": "not_yet", "TIP-6": "adopted", "TIP-7": "used"}, 100 * 0.75 / 1.75, 3, 3),
    # TIP-7 unanswered: left out
    ({"TIP-5": "partly", "TIP-6": "not_yet_considered"}, 100 * 0.5 / 1.5, 2, 3),
    # na left out; an option not used scores 1: (1 x 0.5 + 0.25 x 1) / (1 + 0.25)
    ({"TIP-5": "partly", "TIP-6": "na", "TIP-7": "not_used"}, 100 * 0.75 / 1.25, 2, 3),
    ({"TIP-6": "na"}, None, 0, 3),
]


@pytest.mark.parametrize("answers,expected,scored,applicable", INDEX_CASES)
def test_state_index_with_weights_na_and_unanswered(mini, answers, expected, scored, applicable):
    values = {pid: {"compliance": c} for pid, c in answers.items()}
    index = state_index(score_state(mini, values))
    assert index.scored == scored and index.applicable == applicable
    if expected is None:
        assert index.index is None
    else:
        assert index.index == pytest.approx(expected)
    assert index.coverage == pytest.approx(scored / applicable)


# -- regional aggregate ----------------------------------------------------------------------


def test_region_priority_ranking_with_a_tie(mdb, mini):
    # Two African States (KEN, NGA), one Western (FRA).
    answer(
        mdb,
        mini,
        "KEN",
        {
            "TIP-5": {"compliance": "not_yet", "ta_needed": "yes", "ta_types": ["legal_advice"]},
            "TIP-6": {"compliance": "not_yet_considered", "ta_needed": "yes"},
            "TIP-7": {"compliance": "not_used", "ta_needed": "yes"},
        },
    )
    answer(
        mdb,
        mini,
        "NGA",
        {
            "TIP-5": {"compliance": "fully"},
            "TIP-6": {"compliance": "not_yet_considered", "ta_needed": "no"},
            "TIP-7": {"compliance": "used", "ta_needed": "yes"},
        },
    )
    answer(
        mdb,
        mini,
        "FRA",
        {"TIP-5": {"compliance": "partly", "ta_needed": "yes"}},
        status="validated",
    )
    rows = regional_priorities(mdb, mini, "R1", "un_regional_group")
    african = {r["provision_id"]: r for r in rows if r["region"] == "AFRICAN_GROUP"}
    # TIP-5: KEN g=1 x1.0; NGA g=0  -> priority 0.5, n_gap 1
    # TIP-6: KEN g=0.5 x1.0 = 0.5; NGA g=0.5 x0.5 = 0.25 -> 0.375, n_gap 2
    # TIP-7: an option used or not is never a gap: g=0 for both -> 0, n_gap 0, still ranked
    assert african["TIP-5"]["priority"] == pytest.approx(0.5)
    assert african["TIP-6"]["priority"] == pytest.approx(0.375)
    assert african["TIP-7"]["priority"] == pytest.approx(0.0)
    assert [african[p]["rank"] for p in ("TIP-5", "TIP-6", "TIP-7")] == [1, 2, 3]
    assert african["TIP-6"]["gap_share"] == 1.0 and african["TIP-6"]["ta_share"] == 0.5
    assert african["TIP-5"]["n_resp"] == 2 and african["TIP-5"]["n_gap"] == 1
    assert african["TIP-7"]["n_gap"] == 0 and african["TIP-7"]["ta_share"] == 1.0
    western = [r for r in rows if r["region"] == "WEOG"]
    assert [(r["provision_id"], r["priority"], r["rank"]) for r in western] == [("TIP-5", 0.5, 1)]


def test_tie_on_priority_is_broken_by_gaps_then_questionnaire_order(mdb, mini):
    # TIP-6 (consider) not_yet_considered+TA: 0.5 ; TIP-5 (mandatory) partly+TA: 0.5 -> same
    # priority, same n_gap.
    answer(
        mdb,
        mini,
        "KEN",
        {
            "TIP-5": {"compliance": "partly", "ta_needed": "yes"},
            "TIP-6": {"compliance": "not_yet_considered", "ta_needed": "yes"},
        },
    )
    rows = regional_priorities(mdb, mini, "R1", "global")
    assert [(r["provision_id"], r["rank"]) for r in rows] == [("TIP-5", 1), ("TIP-6", 2)]
    # A second State with a gap on TIP-6 only raises its n_gap; equal priority now -> TIP-6 first.
    answer(
        mdb,
        mini,
        "NGA",
        {
            "TIP-5": {"compliance": "partly", "ta_needed": "yes"},
            "TIP-6": {"compliance": "not_yet_considered", "ta_needed": "yes"},
        },
    )
    rows = regional_priorities(mdb, mini, "R1", "global")
    assert [r["rank"] for r in rows] == [1, 2]


def test_drafts_never_count(mdb, mini):
    answer(
        mdb, mini, "KEN", {"TIP-5": {"compliance": "not_yet", "ta_needed": "yes"}}, status="draft"
    )
    assert regional_priorities(mdb, mini, "R1", "global") == []
    assert ta_demand(mdb, mini, "R1", "global") == []


def test_region_with_no_respondents_has_no_ranked_provisions(mdb, mini):
    answer(mdb, mini, "KEN", {"TIP-5": {"compliance": "not_yet"}})
    assert regional_priorities(mdb, mini, "R1", "un_regional_group", region="GRULAC") == []


def test_one_region_is_ranked_as_in_the_whole_grouping(mdb, mini):
    """regional_priorities(region=X) scores only X's States; its rows are the whole grouping's
    rows of X, ranks included."""
    answer(mdb, mini, "KEN", {"TIP-5": {"compliance": "not_yet", "ta_needed": "yes"}})
    answer(mdb, mini, "EGY", {"TIP-5": {"compliance": "fully"}, "TIP-6": {"compliance": "partly"}})
    answer(mdb, mini, "FRA", {"TIP-6": {"compliance": "not_yet_considered", "ta_needed": "yes"}})
    whole = regional_priorities(mdb, mini, "R1", "un_regional_group")
    for region in {r["region"] for r in whole}:
        alone = regional_priorities(mdb, mini, "R1", "un_regional_group", region=region)
        assert alone == [r for r in whole if r["region"] == region]
        assert alone


def test_questionnaire_tables_follow_the_questionnaire_and_survive_a_rollback(mdb, mini):
    """The temp tables of provisions and codes are built once per connection and questionnaire:
    a questionnaire with other weights gets its own, and tables taken back by a rolled-back
    transaction are built again rather than trusted."""
    from dataclasses import replace

    answer(mdb, mini, "KEN", {"TIP-6": {"compliance": "not_yet_considered", "ta_needed": "yes"}})
    (row,) = regional_priorities(mdb, mini, "R1", "global")
    assert row["priority"] == pytest.approx(0.5)  # consider: w 0.5, s 0, TA factor 1
    weights = tuple((o, 0.8 if o == "consider" else w) for o, w in mini.scoring.weights)
    heavier = replace(mini, scoring=replace(mini.scoring, weights=weights))
    (row,) = regional_priorities(mdb, heavier, "R1", "global")
    assert row["priority"] == pytest.approx(0.8)
    with pytest.raises(RuntimeError), transaction(mdb):
        mdb.conn.execute("DROP TABLE temp.q_provisions")
        regional_priorities(mdb, mini, "R1", "global")  # built again, inside the transaction
        raise RuntimeError("rolled back")
    (row,) = regional_priorities(mdb, mini, "R1", "global")
    assert row["priority"] == pytest.approx(0.5)


def test_ta_demand_counts_states_and_selections(mdb, mini):
    answer(
        mdb,
        mini,
        "KEN",
        {
            "TIP-5": {
                "compliance": "not_yet",
                "ta_needed": "yes",
                "ta_types": ["legal_advice", "capacity_building"],
                "challenges": ["limited_resources"],
            },
            "TIP-6": {
                "compliance": "not_yet_considered",
                "ta_needed": "yes",
                "ta_types": ["legal_advice"],
            },
        },
    )
    answer(
        mdb,
        mini,
        "NGA",
        {
            "TIP-5": {
                "compliance": "partly",
                "ta_needed": "no",
                "ta_types": ["legal_advice"],
                "challenges": ["limited_resources"],
            }
        },
    )
    rows = {
        (r["kind"], r["code"]): (r["n_states"], r["n_selections"])
        for r in ta_demand(mdb, mini, "R1", "global")
    }
    # NGA's ta_types is not relevant (ta_needed = no) and does not count.
    assert rows[("ta_type", "legal_advice")] == (1, 2)
    assert rows[("ta_type", "capacity_building")] == (1, 1)
    assert rows[("challenge", "limited_resources")] == (2, 2)


# -- SQL equals the Python reference ---------------------------------------------------------

STATES = ["KEN", "NGA", "FRA", "DEU", "BRA", "IND"]
# Each provision's compliance codes are those of its level's scale (checked against the model in
# test_property_codes_are_the_provisions_scales).
SCALES = {
    "TIP-5": ["fully", "partly", "not_yet", "na"],
    "TIP-6": ["adopted", "partly_adopted", "declined", "not_yet_considered", "na"],
    "TIP-7": ["used", "not_used"],
}


def provision_answers(pid):
    return st.fixed_dictionaries(
        {
            "compliance": st.sampled_from([*SCALES[pid], None]),
            "ta_needed": st.sampled_from(["yes", "no", None]),
        }
    )


state_response = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["draft", "submitted", "validated"]),
        "answers": st.fixed_dictionaries({pid: provision_answers(pid) for pid in SCALES}),
    }
)


def test_property_codes_are_the_provisions_scales(mini):
    for pid, codes in SCALES.items():
        compliance = next(q for q in mini.provisions[pid].questions if q.name == "compliance")
        assert list(compliance.choices.codes) == codes


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    responses=st.lists(state_response, min_size=len(STATES), max_size=len(STATES)),
    grouping=st.sampled_from(["global", "un_regional_group", "m49_region"]),
)
def test_sql_aggregation_equals_python_reference(tmp_path_factory, mini, responses, grouping):
    db = connect(tmp_path_factory.mktemp("prop") / "p.db")
    load_states(db)
    create_round(db, "R1", mini)
    regions = {
        row[0]: row[1]
        for row in db.execute(f"SELECT iso3, {region_expression(grouping)} FROM states")
    }
    reference_input = []
    with transaction(db):
        for state, response in zip(STATES, responses, strict=True):
            answers = {
                pid: {q: v for q, v in a.items() if v is not None}
                for pid, a in response["answers"].items()
            }
            answer(db, mini, state, answers, status=response["status"])
            reference_input.append(
                {
                    "region": regions[state],
                    "state": state,
                    "status": response["status"],
                    "answers": answers,
                }
            )
    expected = reference_priorities(mini, reference_input)
    actual = regional_priorities(db, mini, "R1", grouping)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert (got["region"], got["provision_id"], got["rank"], got["n_resp"], got["n_gap"]) == (
            want["region"],
            want["provision_id"],
            want["rank"],
            want["n_resp"],
            want["n_gap"],
        )
        assert got["gap_share"] == pytest.approx(want["gap_share"])
        assert got["ta_share"] == pytest.approx(want["ta_share"])
        assert got["priority"] == pytest.approx(want["priority"])
    db.conn.close()


def test_all_groupings_in_one_pass_equal_each_grouping_alone(mdb, mini):
    from survey.scoring import all_priorities

    answer(
        mdb,
        mini,
        "KEN",
        {
            "TIP-5": {"compliance": "not_yet", "ta_needed": "yes"},
            "TIP-6": {"compliance": "partly_adopted"},
        },
    )
    answer(
        mdb,
        mini,
        "FRA",
        {
            "TIP-5": {"compliance": "partly"},
            "TIP-7": {"compliance": "not_used", "ta_needed": "yes"},
        },
    )
    combined = all_priorities(mdb, mini, "R1")
    for grouping in ("un_regional_group", "m49_region", "m49_subregion", "global"):
        alone = regional_priorities(mdb, mini, "R1", grouping)
        assert [
            {k: v for k, v in r.items() if k != "grouping"}
            for r in combined
            if r["grouping"] == grouping
        ] == alone


def test_ta_demand_can_be_limited_to_one_instrument(mdb, mini):
    answer(
        mdb,
        mini,
        "KEN",
        {"TIP-5": {"compliance": "not_yet", "ta_needed": "yes", "ta_types": ["legal_advice"]}},
    )
    both = {(r["kind"], r["code"]) for r in ta_demand(mdb, mini, "R1", "global")}
    assert ("ta_type", "legal_advice") in both
    assert ta_demand(mdb, mini, "R1", "global", instrument="TIP")[0]["n_selections"] == 1
    assert ta_demand(mdb, mini, "R1", "global", instrument="UNCAC") == []


# -- one counting rule: provisions of the current questionnaire only ---------------------------

# Ids no provision of MINI has, among them ones that a prefix test, a LIKE pattern, a case-
# insensitive or trimmed comparison, or SQL built from strings would take for TIP's provisions.
HOSTILE_IDS = [
    "TIP-99",
    "TIP-",
    "TIP-%",
    "TIP-_",
    "tip-5",
    "TIP-5 ",
    " TIP-5",
    "TIP-5\x00",
    "TIP-5' OR '1'='1",
    'TIP-5"); DROP TABLE answers; --',
    "UNTOC-5",
    "",
    "=SUM(A1)",
    "مادة-٥",
    "条款五",
    "🧨" * 200,
]

unknown_provision_id = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.text(min_size=0, max_size=30).filter(lambda pid: pid not in SCALES),
)
unknown_answers = st.fixed_dictionaries(
    {
        "compliance": st.sampled_from(["not_yet", "partly", "not_yet_considered", "fully", "na"]),
        "ta_needed": st.sampled_from(["yes", "no"]),
        "ta_types": st.lists(
            st.sampled_from(["legal_advice", "capacity_building", "equipment"]),
            min_size=1,
            max_size=3,
            unique=True,
        ),
        "challenges": st.lists(
            st.sampled_from(["limited_resources", "inter_agency_coordination"]),
            min_size=1,
            max_size=2,
            unique=True,
        ),
    }
)

KNOWN = {
    "KEN": {
        "TIP-5": {
            "compliance": "not_yet",
            "ta_needed": "yes",
            "ta_types": ["legal_advice", "capacity_building"],
            "challenges": ["limited_resources"],
        },
        "TIP-6": {
            "compliance": "not_yet_considered",
            "ta_needed": "yes",
            "ta_types": ["equipment"],
        },
    },
    "NGA": {"TIP-5": {"compliance": "partly", "challenges": ["limited_resources"]}},
    "FRA": {
        "TIP-5": {"compliance": "fully"},
        "TIP-7": {"compliance": "not_used", "ta_needed": "yes", "ta_types": ["legal_advice"]},
    },
}


def every_aggregate(db, model) -> dict:
    """Every aggregate a report, CSV, API or workbook sheet shows, computed without the cache."""
    from survey.exports.excel import _priority_rows, _scores_rows, _ta_demand_rows
    from survey.exports.rows import Filters
    from survey.reports import comparison, dashboard, heatmap, priority_report
    from survey.reports.cache import REPORT_CACHE
    from survey.scoring import all_priorities, round_changes, scores_rows

    REPORT_CACHE.enabled = False
    try:
        out = {"all": all_priorities(db, model, "R1"), "scores": list(scores_rows(db, model, "R1"))}
        for grouping in ("global", "un_regional_group", "m49_region"):
            out[f"priorities {grouping}"] = regional_priorities(db, model, "R1", grouping)
            out[f"ta {grouping}"] = ta_demand(db, model, "R1", grouping)
            out[f"heatmap {grouping}"] = heatmap(db, model, "R1", grouping)
            out[f"dashboard {grouping}"] = dashboard(db, "R1", grouping)
        out["ta TIP"] = ta_demand(db, model, "R1", "global", instrument="TIP")
        out["report"] = priority_report(db, model, "R1", "un_regional_group", "AFRICAN_GROUP")
        for population in ("panel", "all"):
            out[f"changes {population}"] = round_changes(
                db, model, "R1", "R0", "un_regional_group", population=population
            )
            out[f"comparison {population}"] = comparison(
                db, model, "R1", "R0", "un_regional_group", population=population
            )
        for filters in (Filters(), Filters(instrument="TIP"), Filters(grouping="global")):
            out[f"sheets {filters}"] = (
                list(_scores_rows(db, model, "R1", filters, "en")),
                list(_priority_rows(db, model, "R1", filters)),
                list(_ta_demand_rows(db, model, "R1", filters, "en")),
            )
        # The moment a report was made is not an aggregate: it differs between two calls.
        for value in out.values():
            if isinstance(value, dict):
                value.pop("generated_at", None)
        return out
    finally:
        REPORT_CACHE.enabled = True


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    extra=st.lists(
        st.tuples(st.sampled_from(["KEN", "NGA", "FRA"]), unknown_provision_id, unknown_answers),
        min_size=1,
        max_size=6,
    )
)
def test_answers_for_a_provision_not_in_the_questionnaire_move_no_aggregate(
    tmp_path_factory, mini, extra
):
    db = connect(tmp_path_factory.mktemp("unknown") / "u.db")
    load_states(db)
    create_round(db, "R0", mini)
    create_round(db, "R1", mini, previous_round="R0")
    responses = {}
    for state, answers in KNOWN.items():
        answer(db, mini, state, answers, round_id="R0")
        responses[state] = answer(db, mini, state, answers, round_id="R1")
    before = every_aggregate(db, mini)
    assert before["ta global"] and before["scores"]  # the hand-made answers do count
    for state, pid, answers in extra:
        # Stored as an older questionnaire's answers would be: in a counted response.
        save_provision(db, responses[state]["id"], pid, answers, user_id=None)
    stored = {r[0] for r in db.execute("SELECT DISTINCT provision_id FROM answers")}
    assert {pid for _s, pid, _a in extra} <= stored
    assert every_aggregate(db, mini) == before
    db.conn.close()


def test_reference_priorities_leaves_out_unknown_provisions(mini):
    response = {
        "region": "World",
        "state": "KEN",
        "status": "submitted",
        "answers": {"TIP-5": {"compliance": "not_yet"}, "TIP-99": {"compliance": "not_yet"}},
    }
    assert [r["provision_id"] for r in reference_priorities(mini, [response])] == ["TIP-5"]


def test_ta_demand_of_an_instrument_is_not_a_prefix_match(mdb, mini):
    # Before the one rule, 'TIP-99' (removed) matched the instrument filter LIKE 'TIP-%'.
    response = answer(mdb, mini, "KEN", KNOWN["KEN"])
    save_provision(
        mdb,
        response["id"],
        "TIP-99",
        {"compliance": "not_yet", "ta_needed": "yes", "ta_types": ["legal_advice"]},
        user_id=None,
    )
    rows = {
        (r["kind"], r["code"]): r["n_selections"]
        for r in ta_demand(mdb, mini, "R1", "global", instrument="TIP")
    }
    assert rows[("ta_type", "legal_advice")] == 1


def test_ta_demand_plan_reads_answers_only_through_the_rounds_responses(mdb, mini):
    """The plan looks answers up by response (index seeks), never scans them: it does not grow
    with the rounds stored (EXPLAIN QUERY PLAN; a plan, not a timing)."""
    answer(mdb, mini, "KEN", KNOWN["KEN"])
    create_round(mdb, "R0", mini)
    answer(mdb, mini, "NGA", KNOWN["NGA"], round_id="R0")
    mdb.execute("ANALYZE")
    captured = []
    execute = mdb.execute

    def spy(sql, params=None):
        captured.append((sql, params))
        return execute(sql, params)

    mdb.execute = spy
    try:
        ta_demand(mdb, mini, "R1", "un_regional_group", instrument="TIP")
    finally:
        del mdb.execute
    sql, params = captured[-1]
    plan = [row[3] for row in mdb.execute("EXPLAIN QUERY PLAN " + sql, params)]
    # A Bloom filter step only speeds up the look-ups that follow it.
    on_answers = [
        step
        for step in plan
        if (" a " in f" {step} " or " t " in f" {step} ") and not step.startswith("BLOOM")
    ]
    assert on_answers and all(
        step.startswith("SEARCH") and "response_id=?" in step for step in on_answers
    ), plan
    assert not any(step.startswith("SCAN answers") for step in plan), plan
