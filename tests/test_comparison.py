"""Round comparison: a panel of the States counted in both rounds against all States, by hand."""

from __future__ import annotations

import pytest

from survey.reports import comparison
from survey.scoring import round_changes
from survey.storage import connect
from survey.storage.rounds import create_round
from survey.storage.states import load_states
from tests.test_scoring import answer, mini  # noqa: F401  (a fixture, used by its name)


@pytest.fixture
def two_rounds(tmp_path, mini):  # noqa: F811
    """R0 then R1, all three States African. KEN and NGA counted in both; GHA, without a gap,
    only in R0 (a draft in R1)."""
    db = connect(tmp_path / "c.db")
    load_states(db)
    create_round(db, "R0", mini)
    create_round(db, "R1", mini, previous_round="R0")
    # R0: KEN gap with TA, NGA gap, GHA gap. R1: KEN closed its gap, NGA still a gap.
    answer(
        db,
        mini,
        "KEN",
        {
            "TIP-5": {"compliance": "not_yet", "ta_needed": "yes"},
            "TIP-6": {"compliance": "adopted"},
        },
        round_id="R0",
    )
    answer(
        db,
        mini,
        "NGA",
        {
            "TIP-5": {"compliance": "partly"},
            "TIP-6": {"compliance": "not_yet_considered", "ta_needed": "yes"},
        },
        round_id="R0",
    )
    answer(db, mini, "GHA", {"TIP-5": {"compliance": "fully"}}, round_id="R0")
    answer(
        db,
        mini,
        "KEN",
        {"TIP-5": {"compliance": "fully"}, "TIP-6": {"compliance": "adopted"}},
        round_id="R1",
    )
    answer(
        db,
        mini,
        "NGA",
        {
            "TIP-5": {"compliance": "partly"},
            "TIP-6": {"compliance": "not_yet_considered", "ta_needed": "yes"},
        },
        round_id="R1",
    )
    answer(db, mini, "GHA", {"TIP-5": {"compliance": "fully"}}, round_id="R1", status="draft")
    yield db
    db.conn.close()


def by_provision(data):
    return {r["provision_id"]: r for r in data["changes"]}


def test_panel_counts_only_states_counted_in_both_rounds(two_rounds, mini):  # noqa: F811
    panel = comparison(two_rounds, mini, "R1", "R0", "un_regional_group")
    everyone = comparison(two_rounds, mini, "R1", "R0", "un_regional_group", population="all")
    assert panel["population"] == "panel" and everyone["population"] == "all"
    assert panel["totals"] == {"n_before": 2, "n_now": 2}
    # GHA answered (counted) only in R0: it is in all-States' R0 n, never in the panel.
    assert everyone["totals"] == {"n_before": 3, "n_now": 2}
    tip5_panel, tip5_all = by_provision(panel)["TIP-5"], by_provision(everyone)["TIP-5"]
    # Panel: KEN and NGA both had a gap, now only NGA: 2/2 -> 1/2.
    assert (tip5_panel["n_resp_before"], tip5_panel["n_resp_now"]) == (2, 2)
    assert tip5_panel["gap_share_before"] == 1.0 and tip5_panel["gap_share_now"] == 0.5
    assert tip5_panel["change"] == pytest.approx(-0.5)
    # All States: GHA, without a gap and counted in R0 only, lowers R0's share to 2/3 and so
    # the fall to 1/6 of a point; the panel's fall of half the States is what happened.
    assert (tip5_all["n_resp_before"], tip5_all["n_resp_now"]) == (3, 2)
    assert tip5_all["gap_share_before"] == pytest.approx(2 / 3)
    assert tip5_all["change"] == pytest.approx(0.5 - 2 / 3)
    # TA: KEN asked for TA on TIP-5 in R0, nobody in R1.
    assert tip5_panel["ta_share_before"] == 0.5 and tip5_panel["ta_share_now"] == 0.0
    assert tip5_panel["ta_change"] == pytest.approx(-0.5)
    assert tip5_all["ta_share_before"] == pytest.approx(1 / 3)
    assert [g["state_iso3"] for g in panel["closed"]] == ["KEN"]
    assert panel["opened"] == []
    assert panel["fell"][0]["provision_id"] == "TIP-5" and panel["rose"] == []


def test_panel_and_all_states_give_different_shares_and_ranks(two_rounds, mini):  # noqa: F811
    data_panel = round_changes(two_rounds, mini, "R1", "R0", "global")
    data_all = round_changes(two_rounds, mini, "R1", "R0", "global", population="all")
    panel_rows = {r["provision_id"]: r for r in data_panel["provisions"]}
    all_rows = {r["provision_id"]: r for r in data_all["provisions"]}
    # R0 priorities (docs/scoring.md): panel TIP-5 = (KEN 1.0 x 1.0 + NGA 0.5 x 0.5) / 2 = 0.625,
    # TIP-6 = (KEN 0 + NGA 0.5 x 1.0) / 2 = 0.25; with GHA (no gap), TIP-5 = (1 + 0.25 + 0) / 3.
    assert panel_rows["TIP-5"]["priority_before"] == pytest.approx(0.625)
    assert all_rows["TIP-5"]["priority_before"] == pytest.approx(1.25 / 3)
    assert panel_rows["TIP-6"]["priority_before"] == pytest.approx(0.25)
    # R1: TIP-5 = NGA 0.25 / 2 = 0.125, TIP-6 = 0.25: TIP-6 moves from rank 2 to rank 1.
    assert (panel_rows["TIP-5"]["rank_before"], panel_rows["TIP-5"]["rank_now"]) == (1, 2)
    assert (panel_rows["TIP-6"]["rank_before"], panel_rows["TIP-6"]["rank_now"]) == (2, 1)
    assert data_panel["states"] == [{"region": "World", "n_before": 2, "n_now": 2}]
    assert data_all["states"] == [{"region": "World", "n_before": 3, "n_now": 2}]
    assert [g["state_iso3"] for g in data_panel["gaps"]] == ["KEN"]


def test_comparison_rank_change_is_positive_when_a_provision_moves_up(two_rounds, mini):  # noqa: F811
    rows = by_provision(comparison(two_rounds, mini, "R1", "R0", "global"))
    assert rows["TIP-6"]["rank_change"] == 1 and rows["TIP-5"]["rank_change"] == -1
    assert rows["TIP-6"]["title"] == mini.provisions["TIP-6"].title


def test_comparison_rejects_an_unknown_population(two_rounds, mini):  # noqa: F811
    with pytest.raises(ValueError, match="population"):
        round_changes(two_rounds, mini, "R1", "R0", "global", population="everyone")


def test_a_round_with_no_counted_state_compares_to_nothing(two_rounds, mini):  # noqa: F811
    create_round(two_rounds, "R2", mini)
    data = comparison(two_rounds, mini, "R2", "R0", "global", population="all")
    assert data["changes"] == [] and data["totals"] == {"n_before": 3, "n_now": 0}


@pytest.fixture(scope="module")
def demo(tmp_path_factory, questionnaire):
    from tests.test_demo import _build

    built = _build(tmp_path_factory, questionnaire)
    yield built
    built.db.conn.close()


def test_comparison_on_the_demo_data(demo, questionnaire):
    rounds = demo.summary["rounds"]
    now, before = rounds["current"], rounds["previous"]
    panel = comparison(demo.db, questionnaire, now, before, "un_regional_group")
    everyone = comparison(
        demo.db, questionnaire, now, before, "un_regional_group", population="all"
    )
    # The demo has States counted in one round only, so the two populations differ.
    assert everyone["totals"] != panel["totals"]
    for data in (panel, everyone):
        for row in data["changes"]:
            assert row["n_resp_before"] <= next(
                s["n_before"] for s in data["states"] if s["region"] == row["region"]
            )
    assert panel["totals"]["n_before"] == panel["totals"]["n_now"]
    assert everyone["totals"]["n_before"] >= panel["totals"]["n_before"]
    assert everyone["totals"]["n_now"] >= panel["totals"]["n_now"]
    # Every closed gap is a panel State's: the same in both populations.
    assert panel["closed"] == everyone["closed"] and panel["closed"]


@pytest.mark.parametrize("population", ["panel", "all"])
def test_one_region_is_compared_as_in_the_whole_grouping(two_rounds, mini, population):  # noqa: F811
    """round_changes(region=X) gives the whole grouping's rows of X: n, shares, ranks and gaps
    (it failed on its own SQL before any region could be chosen on the page)."""
    answer(two_rounds, mini, "FRA", {"TIP-5": {"compliance": "fully"}}, round_id="R0")
    answer(two_rounds, mini, "FRA", {"TIP-5": {"compliance": "not_yet"}}, round_id="R1")
    whole = round_changes(two_rounds, mini, "R1", "R0", "un_regional_group", population=population)
    assert {s["region"] for s in whole["states"]} == {"AFRICAN_GROUP", "WEOG"}
    assert [(g["state_iso3"], g["closed"]) for g in whole["gaps"]] == [
        ("KEN", True),
        ("FRA", False),
    ]
    for region in ("AFRICAN_GROUP", "WEOG"):
        alone = round_changes(
            two_rounds, mini, "R1", "R0", "un_regional_group", region=region, population=population
        )
        for part in ("states", "provisions", "gaps"):
            assert alone[part] == [r for r in whole[part] if r["region"] == region], part
            assert alone[part], part
