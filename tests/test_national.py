"""The national TA priority report of a State, and the TA needs by article table."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from survey.exports.excel import write_workbook
from survey.reports.national import national_report, report_json
from survey.reports.needs import needs_by_article
from survey.responding import save_provision
from survey.scoring import reference_priorities
from survey.storage.responses import change_status, get_or_create_response
from survey.storage.users import set_language

HOSTILE_PROVIDER = '=HYPERLINK("http://x") <script>alert(1)</script> UNODC'

# Kenya's answers, one line per case of docs/scoring.md (w: mandatory 1, consider 0.5, optional
# 0.25; s: fully 1, partly 0.5, not_yet 0, not_yet_considered 0, not_used 1; TA factor 1 / 0.5).
KENYA = {
    # g = 1.0 x (1 - 0) = 1.0, TA requested: priority 1.0 x 1.0 = 1.0
    "UNTOC-5": {
        "compliance": "not_yet",
        "ta_needed": "yes",
        "ta_types": ["legal_advice", "legislative_drafting"],
        "challenges": ["limited_resources"],
        "ta_received": "yes",
        "ta_provider": HOSTILE_PROVIDER,
    },
    # g = 1.0 x (1 - 0.5) = 0.5, TA requested: priority 0.5
    "UNCAC-15": {"compliance": "partly", "ta_needed": "yes", "ta_types": ["legal_advice"]},
    # g = 1.0 x 0.5 = 0.5, no TA: priority 0.25; ties with UNCAC-20 and comes first (order)
    "UNTOC-23": {"compliance": "partly", "ta_needed": "no", "challenges": ["competing_priorities"]},
    # g = 0.5 x (1 - 0) = 0.5, no TA: priority 0.25
    "UNCAC-20": {"compliance": "not_yet_considered", "ta_needed": "no"},
    # an option not used is no gap; the TA request is demand beyond the gaps
    "UNTOC-13-7": {"compliance": "not_used", "ta_needed": "yes", "ta_types": ["good_practices"]},
    # met: in no list
    "UNTOC-8-1": {"compliance": "fully", "ta_received": "yes", "ta_provider": "unodc "},
    # not applicable: no score, in no denominator
    "UNTOC-6-1": {"compliance": "na", "reason": "not relevant"},
}


def _answer(db, round_id, iso3, answers, status="submitted"):
    response = get_or_create_response(db, round_id, iso3)
    for pid, values in answers.items():
        save_provision(db, response["id"], pid, values, user_id=None)
    if status != "draft":
        change_status(db, response["id"], "submitted", user_id=None)
    return response


@pytest.fixture
def kenya(db, round_id, questionnaire):
    # Preconditions of the hand computation: the levels the expected values assume.
    levels = {pid: questionnaire.provisions[pid].obligation for pid in KENYA}
    assert levels == {
        "UNTOC-5": "mandatory",
        "UNCAC-15": "mandatory",
        "UNTOC-23": "mandatory",
        "UNCAC-20": "consider",
        "UNTOC-13-7": "optional",
        "UNTOC-8-1": "mandatory",
        "UNTOC-6-1": "mandatory",
    }
    return _answer(db, round_id, "KEN", KENYA)


def test_national_ranking_follows_the_scoring_method_by_hand(db, questionnaire, round_id, kenya):
    report = national_report(db, questionnaire, round_id, "KEN")
    got = [(p.rank, p.provision_id, p.severity, p.priority) for p in report.gaps]
    assert got == [
        (1, "UNTOC-5", 1.0, 1.0),
        (2, "UNCAC-15", 0.5, 0.5),
        (3, "UNTOC-23", 0.5, 0.25),
        (4, "UNCAC-20", 0.5, 0.25),
    ]
    assert questionnaire.provisions["UNTOC-23"].order < questionnaire.provisions["UNCAC-20"].order
    assert [(p.provision_id, p.rank, p.priority) for p in report.ta_without_gap] == [
        ("UNTOC-13-7", None, 0.0)
    ]
    # index = 100 x sum(w s) / sum(w) = 100 x (0 + 0.5 + 0.5 + 0 + 0.25 + 1) / (1 + 1 + 1 + 0.5
    # + 0.25 + 1) = 100 x 2.25 / 4.75
    assert report.index.index == pytest.approx(100 * 2.25 / 4.75)
    assert report.index.gaps == 4
    assert report.status == "submitted" and report.counted
    # The same order as the regional reference implementation given this State alone.
    alone = reference_priorities(
        questionnaire,
        [{"region": "KEN", "state": "KEN", "status": "submitted", "answers": KENYA}],
    )
    ranked_gaps = [r["provision_id"] for r in alone if r["n_gap"]]
    assert ranked_gaps == [p.provision_id for p in report.gaps]


def test_national_report_lists_ta_received_providers_challenges_and_regional_instruments(
    db, questionnaire, round_id, kenya
):
    report = national_report(db, questionnaire, round_id, "KEN")
    first = report.gaps[0]
    assert [t.code for t in first.ta_types] == ["legal_advice", "legislative_drafting"]
    assert first.ta_received and first.ta_provider == HOSTILE_PROVIDER
    assert [c.code for c in first.challenges] == ["limited_resources"]
    # UNTOC-5 is cross-referenced with no regional instrument; TIP-5 and UNCAC-15 are.
    assert first.regional == ()
    uncac15 = report.gaps[1]
    expected = [
        (r.instrument, r.article)
        for r in questionnaire.provisions["UNCAC-15"].cross_references
        if not r.is_un
    ]
    assert [(r.instrument, r.article) for r in uncac15.regional] == expected
    assert {(t.code, t.provisions) for t in report.ta_requested} == {
        ("legal_advice", 2),
        ("legislative_drafting", 1),
        ("good_practices", 1),
    }
    assert {(c.code, c.provisions) for c in report.challenges} == {
        ("limited_resources", 1),
        ("competing_priorities", 1),
    }
    # TA received on a met provision counts too; 'unodc ' and 'UNODC' would be one provider.
    assert report.ta_received == 2
    assert sorted(p.name for p in report.providers) == sorted([HOSTILE_PROVIDER, "unodc"])
    assert [p.provision_id for p in report.uncovered] == ["UNCAC-15"]


def test_national_report_ignores_answers_the_relevance_rules_hide(db, questionnaire, round_id):
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(
        db,
        response["id"],
        "UNTOC-5",
        {"compliance": "not_yet", "ta_needed": "yes", "ta_types": ["legal_advice"]},
        user_id=None,
    )
    # TA no longer needed: the stored types stay in the database but are not asked any more.
    save_provision(db, response["id"], "UNTOC-5", {"ta_needed": "no"}, user_id=None)
    report = national_report(db, questionnaire, round_id, "KEN")
    assert [(p.provision_id, p.ta_requested, p.ta_types) for p in report.gaps] == [
        ("UNTOC-5", False, ())
    ]
    assert report.gaps[0].priority == 0.5  # g = 1, no TA: factor 0.5
    assert report.ta_requested == ()
    assert report.status == "draft" and not report.counted


@pytest.fixture
def both_states(db, round_id, kenya):
    _answer(db, round_id, "FRA", {"UNTOC-5": {"compliance": "partly", "ta_needed": "no"}})
    return round_id


def test_respondent_sees_own_national_report_and_never_another_states(
    login_as, both_states, people
):
    ken = login_as("ken@example.org").client
    own = ken.get(f"/national/{both_states}/KEN")
    assert own.status_code == 200
    text = own.get_data(as_text=True)
    assert "UNTOC-5" in text and "National technical assistance priorities" in text
    for url in (
        f"/national/{both_states}/FRA",
        f"/national/{both_states}/fra",
        f"/national/{both_states}/FRA?format=csv",
        f"/national/{both_states}/XXX",
    ):
        response = ken.get(url)
        assert response.status_code == 404, url
        assert "UNTOC-5" not in response.get_data(as_text=True)
    # The API is for analysts only, whatever the State.
    assert ken.get(f"/api/v1/rounds/{both_states}/states/KEN/priorities").status_code == 404
    fra = login_as("fra@example.org").client
    assert fra.get(f"/national/{both_states}/KEN").status_code == 404
    assert fra.get(f"/national/{both_states}/FRA").status_code == 200
    assert login_as("ken@example.org").client.get("/").status_code in (200, 302)


def test_analyst_opens_any_states_report_csv_and_api(login_as, both_states):
    analyst = login_as("analyst@example.org").client
    for iso3 in ("KEN", "FRA", "ken", "EGY"):  # EGY has not started: an empty report
        assert analyst.get(f"/national/{both_states}/{iso3}").status_code == 200, iso3
    text = analyst.get(f"/national/{both_states}/EGY").get_data(as_text=True)
    assert "has not started" in text
    body = analyst.get(f"/national/{both_states}/KEN?format=csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    assert [r["provision_id"] for r in rows] == [
        "UNTOC-5",
        "UNCAC-15",
        "UNTOC-23",
        "UNCAC-20",
        "UNTOC-13-7",
    ]
    assert rows[0]["ta_provider"] == "'" + HOSTILE_PROVIDER  # never a formula in a spreadsheet
    assert [r["priority"] for r in rows] == ["1.0", "0.5", "0.25", "0.25", "0.0"]
    api = analyst.get(f"/api/v1/rounds/{both_states}/states/KEN/priorities?lang=fr").get_json()
    assert [g["provision_id"] for g in api["gaps"]] == [r["provision_id"] for r in rows[:4]]
    assert api["gaps"][0]["compliance_label"] == "Pas encore"
    assert api["index"]["gaps"] == 4
    assert (
        analyst.get(f"/api/v1/rounds/{both_states}/states/KEN/priorities?lang=xx").status_code
        == 400
    )


def test_national_page_escapes_provider_text_and_prints(login_as, both_states):
    text = (
        login_as("ken@example.org")
        .client.get(f"/national/{both_states}/KEN")
        .get_data(as_text=True)
    )
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "print.css" in text and "data-print" in text


def test_national_report_in_arabic(db, login_as, both_states, people):
    set_language(db, people["ken"]["id"], "ar")
    text = (
        login_as("ken@example.org")
        .client.get(f"/national/{both_states}/KEN")
        .get_data(as_text=True)
    )
    assert 'dir="rtl"' in text and 'lang="ar"' in text
    assert "أولويات المساعدة التقنية الوطنية" in text  # the page title, translated
    assert "ليس بعد" in text  # the compliance answer's label from the questionnaire
    assert "Art. " not in text and "art. " not in text and "المادة " in text  # citations
    assert "AUCPCC، المادة" in text  # a regional reference, its instrument named in Arabic:
    assert 'title="اتفاقية الاتحاد الأفريقي لمنع الفساد ومكافحته (2003)"' in text


# -- TA needs by article --------------------------------------------------------------------------

# Article 8 of UNTOC has three provisions in the questionnaire (paragraphs 1, 2 and 3).
NEEDS = {
    "KEN": {
        "UNTOC-8-1": {"compliance": "not_yet", "ta_needed": "yes", "ta_types": ["legal_advice"]},
        "UNTOC-8-3": {
            "compliance": "partly",
            "ta_needed": "yes",
            "ta_types": ["legal_advice", "legislative_drafting"],
        },
        "UNTOC-5": {
            "compliance": "not_yet",
            "ta_needed": "yes",
            "ta_types": ["action_plan", "legal_advice"],
        },
    },
    "NGA": {
        "UNTOC-8-1": {"compliance": "partly", "ta_needed": "no"},
        "UNTOC-8-3": {"compliance": "na", "reason": "n/a"},
    },
    "EGY": {  # help wanted without a gap counts as a need
        "UNTOC-8-3": {"compliance": "fully", "ta_needed": "yes", "ta_types": ["capacity_building"]}
    },
    "SEN": {"UNTOC-8-3": {"compliance": "na", "reason": "n/a"}},  # not in n: nothing scored
    "FRA": {"UNTOC-8-1": {"compliance": "fully", "ta_needed": "no"}},
}


@pytest.fixture
def needs_round(db, round_id, questionnaire):
    assert [
        p.id for p in questionnaire.provisions.values() if (p.instrument, p.article) == ("UNTOC", 8)
    ] == ["UNTOC-8-1", "UNTOC-8-2", "UNTOC-8-3"]
    for iso3, answers in NEEDS.items():
        _answer(db, round_id, iso3, answers)
    # A draft never counts, however much help it asks for.
    _answer(db, round_id, "GHA", {"UNTOC-8-1": dict(NEEDS["KEN"]["UNTOC-8-1"])}, status="draft")
    return round_id


def _row(table, region, instrument, article):
    return next(
        r
        for r in table.rows
        if (r.region, r.instrument, r.article) == (region, instrument, article)
    )


def test_needs_by_article_on_a_hand_made_case(db, questionnaire, needs_round):
    table = needs_by_article(db, questionnaire, needs_round, "un_regional_group")
    codes = [code for code, _label in table.ta_types]
    art8 = _row(table, "AFRICAN_GROUP", "UNTOC", 8)
    assert art8.provisions == ("UNTOC-8-1", "UNTOC-8-2", "UNTOC-8-3")
    # n: KEN, NGA, EGY scored a provision of article 8 (SEN only 'na', GHA a draft).
    assert (art8.n, art8.n_any) == (3, 2)  # KEN and EGY
    assert art8.share_any == pytest.approx(2 / 3)
    shares = dict(zip(codes, art8.shares, strict=True))
    counts = dict(zip(codes, art8.by_type, strict=True))
    # KEN chose legal advice twice in article 8: one State.
    assert counts == {
        **dict.fromkeys(codes, 0),
        "legal_advice": 1,
        "legislative_drafting": 1,
        "capacity_building": 1,
    }
    assert shares["legal_advice"] == pytest.approx(1 / 3)
    assert not art8.small
    art5 = _row(table, "AFRICAN_GROUP", "UNTOC", 5)
    assert (art5.n, art5.n_any, art5.share_any) == (1, 1, 1.0) and art5.small
    assert dict(zip(codes, art5.shares, strict=True))["action_plan"] == 1.0
    weog = _row(table, "WEOG", "UNTOC", 8)
    assert (weog.n, weog.n_any, weog.share_any) == (1, 0, 0.0)
    assert table.respondents == {"AFRICAN_GROUP": 3, "WEOG": 1}
    assert [(r.region, r.article) for r in table.rows] == [
        ("AFRICAN_GROUP", 5),
        ("AFRICAN_GROUP", 8),
        ("WEOG", 8),
    ]
    only_tip = needs_by_article(db, questionnaire, needs_round, "global", instrument="TIP")
    assert only_tip.rows == ()
    world = _row(needs_by_article(db, questionnaire, needs_round, "global"), "World", "UNTOC", 8)
    assert (world.n, world.n_any) == (4, 2)


def test_needs_page_csv_and_workbook_sheet(db, questionnaire, login_as, needs_round, tmp_path):
    analyst = login_as("analyst@example.org").client
    page = analyst.get(f"/reports/{needs_round}/needs?region=AFRICAN_GROUP")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "67%" in text and "3 responding States" in text and 'title="2/3"' in text
    assert "small n" in text  # article 5: one State
    body = analyst.get(f"/reports/{needs_round}/needs?format=csv").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff"))))
    row = next(r for r in rows if (r["region"], r["article"]) == ("AFRICAN_GROUP", "8"))
    assert (row["n"], row["n_ta_need"], row["n_legal_advice"]) == ("3", "2", "1")
    assert float(row["share_ta_need"]) == pytest.approx(2 / 3)
    assert row["provisions"] == "UNTOC-8-1 UNTOC-8-2 UNTOC-8-3"
    attachment = analyst.get(f"/reports/{needs_round}/needs?format=csv").headers[
        "Content-Disposition"
    ]
    assert attachment.startswith("attachment;") and ".csv" in attachment
    assert analyst.get(f"/reports/{needs_round}/needs?grouping=nope").status_code == 400
    assert analyst.get(f"/reports/{needs_round}/needs?instrument=XYZ").status_code == 404
    assert analyst.get(f"/reports/{needs_round}/needs?region=Atlantis").status_code == 404
    assert (
        login_as("ken@example.org").client.get(f"/reports/{needs_round}/needs").status_code == 404
    )
    path = tmp_path / "w.xlsx"
    counts = write_workbook(db, questionnaire, needs_round, path, grouping="un_regional_group")
    assert counts["TA needs by article"] == 3
    sheet = load_workbook(path)["TA needs by article"]
    header = [c.value for c in sheet[1]]
    cells = [
        dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(min_row=2)
    ]
    art8 = next(r for r in cells if (r["region"], r["article"]) == ("AFRICAN_GROUP", 8))
    assert (art8["grouping"], art8["n"], art8["n_ta_need"]) == ("un_regional_group", 3, 2)
    assert art8["share_ta_need"] == pytest.approx(2 / 3)
    assert sheet.cell(2, header.index("share_ta_need") + 1).number_format == "0.0%"


# -- on the demo data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory, questionnaire):
    from tests.test_demo import _build

    built = _build(tmp_path_factory, questionnaire)
    yield built.db, built.summary["rounds"]["current"]
    built.db.conn.close()


def test_needs_by_article_on_demo_data_is_sane(demo, questionnaire):
    db, round_id = demo
    table = needs_by_article(db, questionnaire, round_id, "un_regional_group")
    assert len(table.regions) == 5 and table.rows
    articles = {(p.instrument, p.article) for p in questionnaire.provisions.values()}
    for row in table.rows:
        assert (row.instrument, row.article) in articles
        assert 1 <= row.n <= table.respondents[row.region]
        assert 0 <= row.share_any <= 1
        assert all(0 <= share <= row.share_any for share in row.shares)
        assert all(count <= row.n_any for count in row.by_type)
    # Somebody needs help somewhere, and not everybody everywhere.
    assert 0 < sum(r.n_any for r in table.rows) < sum(r.n for r in table.rows)
    world = needs_by_article(db, questionnaire, round_id, "global")
    counted = db.execute(
        "SELECT count(*) FROM responses WHERE round_id = ? AND status IN ('submitted', 'validated')",
        [round_id],
    ).fetchone()[0]
    assert table.respondents and sum(table.respondents.values()) == counted
    assert world.respondents == {"World": counted}


def test_national_report_on_demo_data_ranks_like_the_reference(demo, questionnaire):
    from survey.storage.responses import answer_values, find_response, load_answers

    db, round_id = demo
    iso3 = db.execute(
        "SELECT state_iso3 FROM responses WHERE round_id = ? AND status = 'validated' LIMIT 1",
        [round_id],
    ).fetchone()[0]
    report = national_report(db, questionnaire, round_id, iso3)
    response = find_response(db, round_id, iso3)
    answers = {pid: answer_values(a) for pid, a in load_answers(db, response["id"]).items()}
    answers = {pid: v for pid, v in answers.items() if pid in questionnaire.provisions}
    reference = reference_priorities(
        questionnaire, [{"region": iso3, "state": iso3, "status": "validated", "answers": answers}]
    )
    gaps = [r for r in reference if r["n_gap"]]
    assert [p.provision_id for p in report.gaps] == [r["provision_id"] for r in gaps]
    assert [p.priority for p in report.gaps] == pytest.approx([r["priority"] for r in gaps])
    assert report.gaps and all(
        a.priority >= b.priority for a, b in zip(report.gaps, report.gaps[1:], strict=False)
    )


# -- the State's region in the regional priorities --------------------------------------------

NEIGHBOURS = ("EGY", "NGA", "ZAF", "GHA")  # African Group, like Kenya


def test_national_report_places_each_gap_in_the_regional_priorities(
    db, questionnaire, round_id, kenya
):
    """Kenya's gaps with the African Group's figures: counted States, n with a gap, share, and
    the regional rank, which is the rank of survey.scoring.regional_priorities."""
    from survey.scoring import regional_priorities

    _answer(db, round_id, "EGY", {"UNTOC-5": {"compliance": "fully"}})
    _answer(db, round_id, "NGA", {"UNTOC-5": {"compliance": "not_yet", "ta_needed": "no"}})
    _answer(db, round_id, "ZAF", {"UNCAC-15": {"compliance": "fully"}}, status="draft")
    _answer(db, round_id, "FRA", {"UNTOC-5": {"compliance": "not_yet"}})  # another group
    report = national_report(db, questionnaire, round_id, "KEN")
    region = report.region
    assert region.region == "AFRICAN_GROUP" and region.counted_states == 3  # the draft: no
    assert region.small is False
    five = region.of("UNTOC-5")
    assert (five.n_resp, five.n_gap) == (3, 2) and five.gap_share == pytest.approx(2 / 3)
    fifteen = region.of("UNCAC-15")
    assert (fifteen.n_resp, fifteen.n_gap) == (1, 1)
    ranks = {
        r["provision_id"]: r["rank"]
        for r in regional_priorities(db, questionnaire, round_id, "un_regional_group")
        if r["region"] == "AFRICAN_GROUP"
    }
    assert {p.provision_id: region.of(p.provision_id).rank for p in report.gaps} == {
        p.provision_id: ranks[p.provision_id] for p in report.gaps
    }
    assert region.ranked == len(ranks)
    data = report_json(report)
    assert data["region"]["counted_states"] == 3 and data["region"]["region"] == "AFRICAN_GROUP"
    first = next(p for p in data["gaps"] if p["provision_id"] == "UNTOC-5")
    assert first["in_region"] == {"rank": five.rank, "n_resp": 3, "n_gap": 2, "gap_share": 2 / 3}
    assert region.shared_top(report.gaps) == sum(
        1 for p in report.gaps if ranks[p.provision_id] <= 20
    )


def test_officials_see_regional_figures_only_when_enough_states_count(
    db, login_as, round_id, kenya
):
    """With fewer than five counted States in the group, a share would disclose a neighbour's
    answers: the State's officials do not see it (page and CSV); analysts do, marked small."""
    _answer(db, round_id, "EGY", {"UNTOC-5": {"compliance": "fully"}})
    ken = login_as("ken@example.org").client
    analyst = login_as("analyst@example.org").client
    page = ken.get(f"/national/{round_id}/KEN").get_data(as_text=True)
    assert "In the regional picture" not in page
    rows = list(csv.DictReader(io.StringIO(ken.get(f"/national/{round_id}/KEN?format=csv").text)))
    assert rows and all(r["region_rank"] == "" and r["region_gap_share"] == "" for r in rows)
    seen = analyst.get(f"/national/{round_id}/KEN").get_data(as_text=True)
    assert "In the regional picture" in seen and "Small region" in seen  # 2 States, marked
    for iso3 in NEIGHBOURS[1:]:
        _answer(db, round_id, iso3, {"UNTOC-5": {"compliance": "partly", "ta_needed": "no"}})
    page = ken.get(f"/national/{round_id}/KEN").get_data(as_text=True)
    assert "In the regional picture" in page and "5 States of the group" in page
    rows = list(csv.DictReader(io.StringIO(ken.get(f"/national/{round_id}/KEN?format=csv").text)))
    five = next(r for r in rows if r["provision_id"] == "UNTOC-5")
    # Kenya not_yet, Egypt fully, three partly: four of five with a gap.
    assert float(five["region_gap_share"]) == pytest.approx(0.8)
    assert five["region_states_scored"] == "5" and int(five["region_rank"]) >= 1


def test_the_regional_table_cites_provisions_in_the_page_language(
    db, login_as, questionnaire, round_id, kenya
):
    """The table placing each gap in the region cites it as the rest of the page does, in the
    reader's language ('art. 5' in French), not in the English of the CSV."""
    _answer(db, round_id, "EGY", {"UNTOC-5": {"compliance": "fully"}})
    db.execute("UPDATE users SET language = 'fr' WHERE email = 'analyst@example.org'")
    page = login_as("analyst@example.org").client.get(f"/national/{round_id}/KEN").text
    table = page[page.index('class="data national-region"') :]
    table = table[: table.index("</table>")]
    french = questionnaire.provisions["UNTOC-5"].citation("fr")
    assert french != questionnaire.provisions["UNTOC-5"].reference
    assert f"UNTOC {french}" in table
    assert questionnaire.provisions["UNTOC-5"].reference not in table
