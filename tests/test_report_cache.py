"""The report cache: one computation per round, filters and version of the counted responses."""

from __future__ import annotations

import pytest

from survey import scoring
from survey.reports import comparison
from survey.reports.cache import (
    REPORT_CACHE,
    ReportCache,
    counted_version,
    regional_priorities,
    ta_demand,
)
from survey.responding import save_provision
from survey.storage import connect
from survey.storage.responses import change_status, get_or_create_response
from survey.storage.rounds import create_round, set_round_status
from survey.storage.states import load_states
from tests.test_scoring import KNOWN, answer, mini  # noqa: F401  (a fixture, used by its name)


@pytest.fixture
def cache():
    REPORT_CACHE.clear()
    hits, misses = REPORT_CACHE.hits, REPORT_CACHE.misses
    yield lambda: (REPORT_CACHE.hits - hits, REPORT_CACHE.misses - misses)
    REPORT_CACHE.clear()


@pytest.fixture
def rounds(tmp_path, mini):  # noqa: F811
    db = connect(tmp_path / "cache.db")
    load_states(db)
    create_round(db, "R0", mini)
    create_round(db, "R1", mini, previous_round="R0")
    responses = {}
    for state, answers in KNOWN.items():
        answer(db, mini, state, answers, round_id="R0")
        responses[state] = answer(db, mini, state, answers, round_id="R1")
    yield db, responses
    db.conn.close()


def test_second_call_is_served_from_the_cache_as_a_fresh_copy(rounds, mini, cache):  # noqa: F811
    db, _ = rounds
    first = regional_priorities(db, mini, "R1", "global")
    first[0]["priority"] = "changed by a caller"
    second = regional_priorities(db, mini, "R1", "global")
    assert cache() == (1, 1)
    assert second[0]["priority"] != "changed by a caller"
    assert second == scoring.regional_priorities(db, mini, "R1", "global")


def test_filters_are_part_of_the_key(rounds, mini, cache):  # noqa: F811
    db, _ = rounds
    world = ta_demand(db, mini, "R1", "global")
    africa = ta_demand(db, mini, "R1", "un_regional_group", region="AFRICAN_GROUP")
    only_tip = ta_demand(db, mini, "R1", "global", instrument="TIP")
    none = ta_demand(db, mini, "R1", "global", instrument="UNCAC")
    assert cache() == (0, 4)
    assert none == [] and only_tip == world
    assert {r["region"] for r in africa} == {"AFRICAN_GROUP"}


def test_a_return_leaves_the_counted_set_and_recomputes(rounds, mini, cache):  # noqa: F811
    db, responses = rounds
    before = regional_priorities(db, mini, "R1", "global")
    change_status(db, responses["KEN"]["id"], "returned", user_id=None, comment="Check art. 5")
    after = regional_priorities(db, mini, "R1", "global")
    assert cache() == (0, 2)
    assert {r["provision_id"]: r["n_resp"] for r in after}["TIP-5"] == 2  # NGA, FRA
    assert {r["provision_id"]: r["n_resp"] for r in before}["TIP-5"] == 3


def test_editing_a_returned_response_is_not_counted_until_resubmitted(rounds, mini, cache):  # noqa: F811
    db, responses = rounds
    ken = responses["KEN"]["id"]
    change_status(db, ken, "returned", user_id=None, comment="Check art. 5")
    returned = regional_priorities(db, mini, "R1", "global")
    save_provision(db, ken, "TIP-5", {"compliance": "fully"}, user_id=None)
    assert regional_priorities(db, mini, "R1", "global") == returned
    assert cache() == (1, 1)  # a draft-like edit outside the counted set: no recompute
    change_status(db, ken, "submitted", user_id=None)
    resubmitted = {r["provision_id"]: r for r in regional_priorities(db, mini, "R1", "global")}
    assert resubmitted["TIP-5"]["n_resp"] == 3 and resubmitted["TIP-5"]["n_gap"] == 1
    assert cache() == (1, 2)


def test_validation_changes_the_version_without_changing_the_figures(rounds, mini, cache):  # noqa: F811
    db, responses = rounds
    version = counted_version(db, "R1")
    before = regional_priorities(db, mini, "R1", "global")
    change_status(db, responses["NGA"]["id"], "validated", user_id=None)
    assert counted_version(db, "R1") != version
    assert regional_priorities(db, mini, "R1", "global") == before
    # Only validated responses: NGA alone now.
    only = regional_priorities(db, mini, "R1", "global", statuses=("validated",))
    assert {r["provision_id"] for r in only} == {"TIP-5"}


def test_an_answer_written_into_a_counted_response_changes_the_version(rounds, mini, cache):  # noqa: F811
    db, responses = rounds
    regional_priorities(db, mini, "R1", "global")
    version = counted_version(db, "R1")
    # Not possible through the form (a submitted response is read-only), but scripts and
    # migrations write with require_editable=False: the cache must see it.
    save_provision(db, responses["FRA"]["id"], "TIP-5", {"compliance": "not_yet"}, user_id=None)
    assert counted_version(db, "R1") != version
    rows = {r["provision_id"]: r for r in regional_priorities(db, mini, "R1", "global")}
    assert rows["TIP-5"]["n_gap"] == 3
    assert cache() == (0, 2)


def test_a_closed_round_is_not_recomputed_when_another_round_changes(rounds, mini, cache):  # noqa: F811
    db, _ = rounds
    set_round_status(db, "R0", "closed")
    version = counted_version(db, "R0")
    closed = regional_priorities(db, mini, "R0", "global")
    create_round(db, "R2", mini)
    answer(db, mini, "GHA", {"TIP-5": {"compliance": "not_yet"}}, round_id="R1")
    draft = get_or_create_response(db, "R0", "BRA")
    save_provision(db, draft["id"], "TIP-5", {"compliance": "not_yet"}, user_id=None)
    assert counted_version(db, "R0") == version
    assert regional_priorities(db, mini, "R0", "global") == closed
    assert cache() == (1, 1)


def test_comparison_is_cached_on_both_rounds(rounds, mini, cache):  # noqa: F811
    db, responses = rounds
    first = comparison(db, mini, "R1", "R0", "global")
    assert comparison(db, mini, "R1", "R0", "global") == first
    assert cache() == (1, 1)
    change_status(db, responses["FRA"]["id"], "returned", user_id=None, comment="Why?")
    assert comparison(db, mini, "R1", "R0", "global")["totals"] == {"n_before": 2, "n_now": 2}
    assert cache() == (1, 2)


def test_databases_never_share_entries(tmp_path, rounds, mini, cache):  # noqa: F811
    db, _ = rounds
    other = connect(tmp_path / "other.db")
    load_states(other)
    create_round(other, "R1", mini)
    answer(other, mini, "KEN", {"TIP-5": {"compliance": "fully"}}, round_id="R1")
    mine = regional_priorities(db, mini, "R1", "global")
    theirs = regional_priorities(other, mini, "R1", "global")
    assert mine != theirs and theirs[0]["n_gap"] == 0
    other.conn.close()


def test_the_cache_keeps_within_its_byte_budget(rounds, mini):  # noqa: F811
    db, _ = rounds
    small = ReportCache(max_bytes=2_000)
    for grouping in ("global", "un_regional_group", "m49_region", "m49_subregion"):
        small.get_or_compute(
            "p",
            db,
            mini,
            ("R1",),
            {"g": grouping},
            lambda g=grouping: [f"{g} {i}" for i in range(40)],
        )
    assert 0 < len(small) < 4
    assert small._bytes <= 2_000
    # A result larger than the whole budget is returned, never stored.
    big = small.get_or_compute("big", db, mini, ("R1",), {}, lambda: ["x" * 5_000])
    assert big == ["x" * 5_000] and small._bytes <= 2_000


def test_a_disabled_cache_always_computes(rounds, mini):  # noqa: F811
    db, _ = rounds
    off = ReportCache()
    off.enabled = False
    calls = []
    for _ in range(2):
        off.get_or_compute("p", db, mini, ("R1",), {}, lambda: calls.append(1) or len(calls))
    assert calls == [1, 1] and len(off) == 0


def test_the_priorities_page_and_the_needs_table_are_cached_and_follow_a_return(
    rounds,
    mini,  # noqa: F811
    cache,
):
    from survey.reports import priority_report
    from survey.reports.needs import needs_by_article

    db, responses = rounds
    page = priority_report(db, mini, "R1", "un_regional_group", "AFRICAN_GROUP")
    again = priority_report(db, mini, "R1", "un_regional_group", "AFRICAN_GROUP")
    needs = needs_by_article(db, mini, "R1", "global")
    assert needs_by_article(db, mini, "R1", "global") == needs
    hits, _misses = cache()
    assert hits >= 2 and again == page
    change_status(db, responses["KEN"]["id"], "returned", user_id=None, comment="Check")
    after = priority_report(db, mini, "R1", "un_regional_group", "AFRICAN_GROUP")
    assert after["respondents"] == page["respondents"] - 1  # KEN no longer counted
    assert needs_by_article(db, mini, "R1", "global") != needs
