"""The round comparison page and CSV: n per round, the panel/all switch, the columns, by hand."""

from __future__ import annotations

import csv
import io
import re

import pytest

from survey.responding import save_provision
from survey.storage.responses import change_status, get_or_create_response
from survey.storage.rounds import create_round


def _submit(db, round_id, iso3, answers):
    response = get_or_create_response(db, round_id, iso3)
    for pid, values in answers.items():
        save_provision(db, response["id"], pid, values, user_id=None)
    change_status(db, response["id"], "submitted", user_id=None)


@pytest.fixture
def two_rounds(db, round_id, questionnaire):
    """UNCAC-15 (mandatory). Before: KEN a gap with TA, NGA partly, FRA fully. Now (round
    'later'): KEN fully, NGA partly; FRA did not answer. Panel = KEN, NGA; all = +FRA before."""
    _submit(db, round_id, "KEN", {"UNCAC-15": {"compliance": "not_yet", "ta_needed": "yes"}})
    _submit(db, round_id, "NGA", {"UNCAC-15": {"compliance": "partly", "ta_needed": "no"}})
    _submit(db, round_id, "FRA", {"UNCAC-15": {"compliance": "fully"}})
    create_round(db, "later", questionnaire, previous_round=round_id)
    _submit(db, "later", "KEN", {"UNCAC-15": {"compliance": "fully"}})
    _submit(db, "later", "NGA", {"UNCAC-15": {"compliance": "partly", "ta_needed": "no"}})
    return round_id


def n_row(page, region):
    """(n before, n now) in the page's table of counted States, for one region."""
    found = re.search(
        rf"<td>{region}(?: <strong[^>]*>[^<]*</strong>)?</td>"
        r'<td class="num">(\d+)</td><td class="num">(\d+)</td>',
        page,
    )
    return found and found.groups()


def chart_labels(page) -> list[str]:
    """The bar labels of the page's chart of largest changes."""
    import json

    found = re.search(r'<script type="application/json" id="changes-data">(.*?)</script>', page)
    return json.loads(found.group(1))["data"][0]["y"] if found else []


@pytest.fixture
def analyst(login_as):
    return login_as("analyst@example.org")


def _csv(analyst, query):
    response = analyst.client.get(f"/reports/later/compare?{query}&format=csv")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_csv_columns_and_panel_figures(analyst, two_rounds):
    rows = _csv(analyst, "grouping=global")
    assert list(rows[0]) == [
        "population", "round_before", "round_now", "region",
        "n_states_before", "n_states_now", "provision_id", "title", "instrument", "reference",
        "n_resp_before", "n_resp_now", "n_gap_before", "n_gap_now",
        "gap_share_before", "gap_share_now", "change",
        "n_ta_before", "n_ta_now", "ta_share_before", "ta_share_now", "ta_change",
        "rank_before", "rank_now", "rank_change",
    ]  # fmt: skip
    (row,) = [r for r in rows if r["provision_id"] == "UNCAC-15"]
    # Panel: KEN and NGA, both gaps before (2/2), NGA only now (1/2); KEN's TA request is gone.
    assert row["population"] == "panel"
    assert (row["round_before"], row["round_now"]) == (two_rounds, "later")
    assert (row["n_states_before"], row["n_states_now"]) == ("2", "2")
    assert (row["n_gap_before"], row["n_resp_before"], row["n_gap_now"]) == ("2", "2", "1")
    assert float(row["change"]) == pytest.approx(-0.5)
    assert float(row["ta_share_before"]) == 0.5 and float(row["ta_change"]) == -0.5
    assert (row["rank_before"], row["rank_now"], row["rank_change"]) == ("1", "1", "0")


def test_all_states_counts_the_state_of_one_round_only(analyst, two_rounds):
    (row,) = [
        r
        for r in _csv(analyst, "grouping=global&population=all")
        if r["provision_id"] == "UNCAC-15"
    ]
    # FRA (no gap) counted before only: 2 gaps of 3 before, 1 of 2 now.
    assert row["population"] == "all"
    assert (row["n_states_before"], row["n_states_now"]) == ("3", "2")
    assert float(row["gap_share_before"]) == pytest.approx(2 / 3)
    assert float(row["change"]) == pytest.approx(0.5 - 2 / 3)
    assert float(row["ta_share_before"]) == pytest.approx(1 / 3)


def test_page_shows_n_per_round_and_switches_population(analyst, two_rounds):
    panel = analyst.client.get("/reports/later/compare?grouping=global").get_data(as_text=True)
    everyone = analyst.client.get("/reports/later/compare?grouping=global&population=all").get_data(
        as_text=True
    )
    assert "Counted in both rounds (panel)" in panel
    assert '<option value="panel" selected>' in panel
    assert '<option value="all" selected>' in everyone
    # The n table: World, then n of the previous round and of this one.
    assert n_row(panel, "World") == ("2", "2")
    assert n_row(everyone, "World") == ("3", "2")
    # The change of UNCAC-15 in points: -50 in the panel, -17 with every State.
    assert '<span dir="ltr">-50</span>' in panel and '<span dir="ltr">-17</span>' in everyone
    # The chart of the largest changes and the closed gap (KEN).
    assert 'id="changes-data"' in panel and "KEN" in panel


def test_regions_show_n_per_round_and_a_small_region_warning(analyst, two_rounds):
    page = analyst.client.get(
        "/reports/later/compare?grouping=un_regional_group&population=all"
    ).get_data(as_text=True)
    assert '<td>African Group <strong class="small-region">' in page
    assert n_row(page, "African Group") == ("2", "2")
    assert n_row(page, "Western European and other States Group") == ("1", "0")
    rows = _csv(analyst, "grouping=un_regional_group")
    assert {(r["region"], r["n_states_before"], r["n_states_now"]) for r in rows} == {
        ("African Group", "2", "2")
    }


def test_an_unknown_population_is_refused(analyst, two_rounds):
    response = analyst.client.get("/reports/later/compare?grouping=global&population=everyone")
    assert response.status_code == 400
    assert "panel, all" in response.get_data(as_text=True)


def test_the_instrument_filter_keeps_n_and_drops_other_provisions(analyst, two_rounds):
    assert _csv(analyst, "grouping=global&instrument=UNTOC") == []
    page = analyst.client.get("/reports/later/compare?grouping=global&instrument=UNTOC").get_data(
        as_text=True
    )
    assert n_row(page, "World") == ("2", "2")
    assert "nothing to compare" in page


def test_the_cached_page_follows_a_new_submission(analyst, two_rounds, db):
    url = "/reports/later/compare?grouping=global&population=all"
    assert n_row(analyst.client.get(url).get_data(as_text=True), "World") == ("3", "2")
    assert n_row(analyst.client.get(url).get_data(as_text=True), "World") == ("3", "2")
    _submit(db, "later", "FRA", {"UNCAC-15": {"compliance": "not_yet"}})
    page = analyst.client.get(url).get_data(as_text=True)
    assert n_row(page, "World") == ("3", "3")
    # FRA had no gap before and has one now: one gap opened, and UNCAC-15 went from 2/3 to 2/3.
    assert 'States that opened gaps <span class="muted">(1)</span>' in page


def test_one_region_can_be_chosen(analyst, two_rounds):
    """The page's region menu: only that region's counts and rows (a 500 before)."""
    for population in ("panel", "all"):
        response = analyst.client.get(
            "/reports/later/compare?grouping=un_regional_group&region=AFRICAN_GROUP"
            f"&population={population}"
        )
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert n_row(page, "African Group") == ("2", "2")
        assert n_row(page, "Western European and other States Group") is None
        assert '<option value="AFRICAN_GROUP" selected>' in page
        # The chart's bars name the provision only: the region is the one chosen.
        assert chart_labels(page) and not [y for y in chart_labels(page) if "African" in y]
    every = analyst.client.get("/reports/later/compare?grouping=un_regional_group").get_data(
        as_text=True
    )
    assert all(y.startswith("<b>African Group</b><br>") for y in chart_labels(every))
    rows = _csv(analyst, "grouping=un_regional_group&region=WEOG&population=all")
    assert rows == []  # FRA answered in the earlier round only: nothing scored in both
