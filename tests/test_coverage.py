"""Unmet TA demand and coordination: requested, received, uncovered, providers (survey.reports.coverage)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from survey.exports.excel import write_workbook
from survey.reports.coverage import provider_key, ta_coverage
from survey.responding import save_provision
from survey.storage.responses import change_status, get_or_create_response

FORMULA = '=HYPERLINK("http://x","UNODC")'
SCRIPT = "<script>alert(1)</script>"
ARABIC = "مكتب الأمم المتحدة المعني بالمخدرات والجريمة"


def _ta(compliance, types=None, received=None, provider=None):
    answers = {"compliance": compliance}
    if types is not None:
        answers.update(ta_needed="yes", ta_types=types)
    if received is not None:
        answers["ta_received"] = received
    if provider is not None:
        answers["ta_provider"] = provider
    return answers


# African Group: KEN, NGA, EGY and SEN counted, GHA a draft; WEOG: FRA.
COVERAGE = {
    "KEN": {
        "UNTOC-5": _ta("not_yet", ["legal_advice", "legislative_drafting"], "yes", "UNODC"),
        "UNCAC-15": _ta("partly", ["legal_advice"], "no"),
        "UNTOC-23": _ta("not_yet", ["legal_advice"], "yes", "  European   Union "),
        # Received, no provider named: covered all the same.
        "UNTOC-8-1": _ta("partly", ["legal_advice"], "yes"),
    },
    "NGA": {
        "UNTOC-5": _ta("partly", ["legal_advice"], "no"),
        "UNCAC-15": _ta("not_yet", ["capacity_building"], "yes", " UNODC"),
        # TA received without a request: a provider, no demand.
        "UNTOC-23": {
            "compliance": "fully",
            "ta_needed": "no",
            "ta_received": "yes",
            "ta_provider": FORMULA,
        },
        "UNTOC-8-1": _ta("not_yet", ["legal_advice"], "no"),
    },
    "EGY": {
        "UNTOC-5": _ta("not_yet", ["legal_advice", "capacity_building"], "yes", "unodc\t"),
        "UNCAC-15": _ta("not_yet", ["legal_advice"], "no"),
        "UNTOC-23": _ta("partly", ["legal_advice"], "yes", "european union"),
        "UNTOC-8-1": _ta("partly", ["legal_advice"], "no"),
    },
    # 'na': the form hides the TA request (never counted) but still asks whether TA is received.
    "SEN": {
        "UNTOC-5": {
            "compliance": "na",
            "reason": "n/a",
            "ta_needed": "yes",
            "ta_types": ["legal_advice"],
            "ta_received": "yes",
            "ta_provider": ARABIC,
        }
    },
    "FRA": {"UNTOC-5": _ta("not_yet", ["legal_advice"], "yes", SCRIPT)},
}


def _answer(db, round_id, iso3, answers, status="submitted"):
    response = get_or_create_response(db, round_id, iso3)
    for pid, values in answers.items():
        save_provision(db, response["id"], pid, values, user_id=None)
    if status != "draft":
        change_status(db, response["id"], "submitted", user_id=None)


@pytest.fixture
def coverage_round(db, round_id, questionnaire):
    # The regional priorities that break the tie below assume these levels (weight 1).
    assert {questionnaire.provisions[p].obligation for p in COVERAGE["KEN"]} == {"mandatory"}
    for iso3, answers in COVERAGE.items():
        _answer(db, round_id, iso3, answers)
    # A draft never counts, however much help it asks for and does not get.
    _answer(db, round_id, "GHA", {"UNTOC-5": _ta("not_yet", ["legal_advice"], "no")}, "draft")
    return round_id


def _provision(report, region, pid):
    return next(p for p in report.provisions if (p.region, p.provision_id) == (region, pid))


def _types(provision):
    return {
        t.code: (t.requested, t.received, t.uncovered) for t in provision.by_type if t.requested
    }


def test_provider_key_trims_case_folds_and_collapses_whitespace():
    assert (
        provider_key("  European \t  UNION\n") == provider_key("european union") == "european union"
    )
    assert provider_key("UN ODC") != provider_key("UNODC")


def test_requested_received_uncovered_and_providers_by_hand(db, questionnaire, coverage_round):
    report = ta_coverage(db, questionnaire, coverage_round, "un_regional_group")
    assert report.states == {"AFRICAN_GROUP": 4, "WEOG": 1}  # GHA is a draft
    untoc5 = _provision(report, "AFRICAN_GROUP", "UNTOC-5")
    # KEN, NGA, EGY request (SEN's 'na' hides its request; GHA is a draft); KEN and EGY receive.
    assert (untoc5.requested, untoc5.received, untoc5.uncovered) == (3, 2, 1)
    assert untoc5.uncovered_states == ("NGA",)
    assert _types(untoc5) == {
        "legal_advice": (3, 2, 1),
        "legislative_drafting": (1, 1, 0),
        "capacity_building": (1, 1, 0),
    }
    uncac15 = _provision(report, "AFRICAN_GROUP", "UNCAC-15")
    assert (uncac15.requested, uncac15.received, uncac15.uncovered_states) == (3, 1, ("EGY", "KEN"))
    assert _types(uncac15) == {"legal_advice": (2, 0, 2), "capacity_building": (1, 1, 0)}
    untoc23 = _provision(report, "AFRICAN_GROUP", "UNTOC-23")
    assert (untoc23.requested, untoc23.received, untoc23.uncovered, untoc23.rank) == (2, 2, 0, None)
    untoc81 = _provision(report, "AFRICAN_GROUP", "UNTOC-8-1")
    assert (untoc81.requested, untoc81.received, untoc81.uncovered_states) == (3, 1, ("EGY", "NGA"))
    # Ranked: UNCAC-15 and UNTOC-8-1 both leave 2 States uncovered; UNCAC-15's regional priority
    # is higher ((0.5 + 1 + 1) / 3 = 0.833 against (0.5 + 1 + 0.5) / 3 = 0.667), so it comes
    # first although UNTOC comes first in the questionnaire. UNTOC-5 leaves one State.
    ranked = report.uncovered("AFRICAN_GROUP")
    assert [(p.rank, p.provision_id, p.uncovered) for p in ranked] == [
        (1, "UNCAC-15", 2),
        (2, "UNTOC-8-1", 2),
        (3, "UNTOC-5", 1),
    ]
    assert ranked[0].priority == pytest.approx(2.5 / 3)
    assert ranked[1].priority == pytest.approx(2 / 3)
    assert [(t.code, t.uncovered) for t in ranked[0].uncovered_types] == [("legal_advice", 2)]
    weog = _provision(report, "WEOG", "UNTOC-5")
    assert (weog.requested, weog.received, weog.uncovered, weog.rank) == (1, 1, 0, None)
    # Providers: one name however it is spelt, shown as most States wrote it.
    providers = [
        (p.name, p.spellings, p.states, p.provisions, p.mentions)
        for p in report.region_providers("AFRICAN_GROUP")
    ]
    assert providers == [
        ("UNODC", ("UNODC", "unodc"), ("EGY", "KEN", "NGA"), ("UNTOC-5", "UNCAC-15"), 3),
        ("European Union", ("European Union", "european union"), ("EGY", "KEN"), ("UNTOC-23",), 2),
        (FORMULA, (FORMULA,), ("NGA",), ("UNTOC-23",), 1),
        (ARABIC, (ARABIC,), ("SEN",), ("UNTOC-5",), 1),
    ]
    assert [p.name for p in report.region_providers("WEOG")] == [SCRIPT]


def test_filters_region_instrument_and_grouping(db, questionnaire, coverage_round):
    uncac = ta_coverage(db, questionnaire, coverage_round, "un_regional_group", instrument="UNCAC")
    assert [p.provision_id for p in uncac.provisions] == ["UNCAC-15"]
    assert [(p.name, p.states) for p in uncac.providers] == [("UNODC", ("NGA",))]
    weog = ta_coverage(db, questionnaire, coverage_round, "un_regional_group", region="WEOG")
    assert {p.region for p in weog.provisions} == {"WEOG"} and weog.states == {"WEOG": 1}
    world = ta_coverage(db, questionnaire, coverage_round, "global")
    untoc5 = _provision(world, "World", "UNTOC-5")
    assert (untoc5.requested, untoc5.received, untoc5.uncovered) == (4, 3, 1)
    assert [p.provision_id for p in world.uncovered("World")] == [
        "UNCAC-15",
        "UNTOC-8-1",
        "UNTOC-5",
    ]


def _csv(response):
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_page_csv_api_and_workbook_sheet_agree(
    db, questionnaire, login_as, coverage_round, tmp_path
):
    analyst = login_as("analyst@example.org").client
    base = f"/reports/{coverage_round}/coverage"
    page = analyst.get(f"{base}?region=AFRICAN_GROUP")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert SCRIPT not in html and "&lt;script&gt;" not in html  # WEOG's provider is not shown here
    assert ARABIC in html and "UNODC" in html and "European Union" in html
    assert "EGY KEN" in html and "4 counted States" in html
    weog_html = analyst.get(f"{base}?region=WEOG").get_data(as_text=True)
    assert SCRIPT not in weog_html and "&lt;script&gt;alert(1)&lt;/script&gt;" in weog_html

    uncovered = _csv(analyst.get(f"{base}?region=AFRICAN_GROUP&format=csv&table=uncovered"))
    assert [
        (r["rank"], r["provision_id"], r["uncovered"], r["uncovered_states"]) for r in uncovered
    ] == [
        ("1", "UNCAC-15", "2", "EGY KEN"),
        ("2", "UNTOC-8-1", "2", "EGY NGA"),
        ("3", "UNTOC-5", "1", "NGA"),
    ]
    assert uncovered[0]["uncovered_legal_advice"] == "2"
    demand = _csv(analyst.get(f"{base}?region=AFRICAN_GROUP&format=csv&table=demand"))
    row = next(
        r for r in demand if (r["provision_id"], r["ta_type"]) == ("UNTOC-5", "legal_advice")
    )
    assert (row["requested"], row["received"], row["uncovered"]) == ("3", "2", "1")
    assert len(demand) == 3 + 2 + 1 + 1  # UNTOC-5: 3 types, UNCAC-15: 2, UNTOC-23 and 8-1: 1
    providers = _csv(analyst.get(f"{base}?region=AFRICAN_GROUP&format=csv&table=providers"))
    # A formula-like name is inert in the CSV; the spellings are kept.
    assert [r["provider"] for r in providers] == ["UNODC", "European Union", "'" + FORMULA, ARABIC]
    assert providers[0]["spellings"] == "UNODC | unodc" and providers[0]["n_states"] == "3"

    api = analyst.get(f"/api/v1/rounds/{coverage_round}/coverage?grouping=un_regional_group")
    assert api.status_code == 200
    data = api.get_json()
    assert data["counted_states"] == {"AFRICAN_GROUP": 4, "WEOG": 1}
    assert [(u["region"], u["rank"], u["provision_id"]) for u in data["uncovered"]] == [
        ("AFRICAN_GROUP", 1, "UNCAC-15"),
        ("AFRICAN_GROUP", 2, "UNTOC-8-1"),
        ("AFRICAN_GROUP", 3, "UNTOC-5"),
    ]
    api5 = next(
        p
        for p in data["provisions"]
        if (p["region"], p["provision_id"]) == ("AFRICAN_GROUP", "UNTOC-5")
    )
    assert (api5["requested"], api5["received"], api5["uncovered"]) == (3, 2, 1)
    assert {t["code"]: t["uncovered"] for t in api5["ta_types"]} == {
        "legal_advice": 1,
        "legislative_drafting": 0,
        "capacity_building": 0,
    }
    assert [p["name"] for p in data["providers"]] == [
        "UNODC",
        "European Union",
        FORMULA,
        ARABIC,
        SCRIPT,
    ]
    only = analyst.get(f"/api/v1/rounds/{coverage_round}/coverage?region=WEOG").get_json()
    assert [p["region"] for p in only["provisions"]] == ["WEOG"] and only["uncovered"] == []

    path = tmp_path / "w.xlsx"
    counts = write_workbook(db, questionnaire, coverage_round, path, grouping="un_regional_group")
    assert counts["Uncovered TA needs"] == 3
    sheet = load_workbook(path)["Uncovered TA needs"]
    header = [c.value for c in sheet[1]]
    cells = [
        dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(min_row=2)
    ]
    assert [(c["grouping"], c["rank"], c["provision_id"], c["uncovered"]) for c in cells] == [
        ("un_regional_group", 1, "UNCAC-15", 2),
        ("un_regional_group", 2, "UNTOC-8-1", 2),
        ("un_regional_group", 3, "UNTOC-5", 1),
    ]
    assert header == ["grouping", *uncovered[0].keys()]  # the sheet is the CSV per grouping
    assert [c["uncovered_states"] for c in cells] == [r["uncovered_states"] for r in uncovered]
    assert cells[0]["regional_priority"] == pytest.approx(2.5 / 3)


def test_bad_filters_are_refused_and_respondents_see_nothing(login_as, coverage_round):
    analyst = login_as("analyst@example.org").client
    base = f"/reports/{coverage_round}/coverage"
    assert analyst.get(f"{base}?grouping=nope").status_code == 400
    assert analyst.get(f"{base}?region=Atlantis").status_code == 404
    assert analyst.get(f"{base}?instrument=XYZ").status_code == 404
    assert analyst.get(f"{base}?format=csv&table=nope").status_code == 400
    assert analyst.get(f"/api/v1/rounds/{coverage_round}/coverage?grouping=nope").status_code == 400
    ken = login_as("ken@example.org").client
    assert ken.get(base).status_code == 404
    assert ken.get(f"/api/v1/rounds/{coverage_round}/coverage").status_code == 404


# -- on the demo data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, questionnaire):
    from tests.test_demo import _build

    built = _build(tmp_path_factory, questionnaire)
    yield built.db, built.summary["rounds"]["current"]
    built.db.conn.close()


def test_coverage_on_demo_data_is_sane(demo, questionnaire):
    from survey.scoring import ta_demand

    db, round_id = demo
    report = ta_coverage(db, questionnaire, round_id, "un_regional_group")
    assert len(report.states) == 5 and report.provisions and report.providers
    for p in report.provisions:
        assert p.provision_id in questionnaire.provisions
        assert 0 < p.requested <= report.states[p.region]
        assert 0 <= p.received <= p.requested and p.uncovered == p.requested - p.received
        assert all(0 <= t.received <= t.requested <= p.requested for t in p.by_type)
        assert max(t.requested for t in p.by_type) >= 1
        assert (p.rank is None) == (p.uncovered == 0)
    # Some needs are covered and some are not.
    assert (
        0 < sum(p.received for p in report.provisions) < sum(p.requested for p in report.provisions)
    )
    for region in report.states:
        ranked = report.uncovered(region)
        assert [p.rank for p in ranked] == list(range(1, len(ranked) + 1))
        assert all(a.uncovered >= b.uncovered for a, b in zip(ranked, ranked[1:], strict=False))
    # The same selections as ta_demand counts: requests per region and TA type agree.
    demand = {
        (r["region"], r["code"]): r["n_selections"]
        for r in ta_demand(db, questionnaire, round_id, "un_regional_group")
        if r["kind"] == "ta_type"
    }
    requests: dict = {}
    for p in report.provisions:
        for t in p.by_type:
            if t.requested:
                requests[(p.region, t.code)] = requests.get((p.region, t.code), 0) + t.requested
    assert requests == demand
    # Providers are grouped: no two in a region share a normalised name.
    keys = [(p.region, provider_key(p.name)) for p in report.providers]
    assert len(keys) == len(set(keys))
