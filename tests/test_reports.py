"""Report pages, charts, CSV downloads, the standalone HTML report and the JSON API."""

from __future__ import annotations

import pytest

from survey.responding import save_provision
from survey.storage.responses import change_status, get_or_create_response
from survey.storage.users import create_api_token

# UNCAC-15 (bribery of national public officials) is mandatory: fully / partly / not_yet / na.
COUNTED = {
    "KEN": {
        "UNCAC-15": {
            "compliance": "not_yet",
            "ta_needed": "yes",
            "ta_types": ["legal_advice"],
            "measures": '=HYPERLINK("http://x")',
        }
    },
    "NGA": {
        "UNCAC-15": {"compliance": "partly", "ta_needed": "no", "challenges": ["limited_resources"]}
    },
    "FRA": {"UNCAC-15": {"compliance": "fully"}},
}


@pytest.fixture
def answered(db, round_id):
    for state, answers in COUNTED.items():
        response = get_or_create_response(db, round_id, state)
        for pid, values in answers.items():
            save_provision(db, response["id"], pid, values, user_id=None)
        change_status(db, response["id"], "submitted", user_id=None)
    draft = get_or_create_response(db, round_id, "EGY")
    save_provision(db, draft["id"], "UNCAC-15", {"compliance": "not_yet"}, user_id=None)
    return round_id


@pytest.fixture
def analyst(login_as):
    return login_as("analyst@example.org")


def test_dashboard_counts_statuses_by_region(analyst, answered):
    page = analyst.client.get(f"/reports/{answered}/?grouping=un_regional_group")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "/reports/vendor/plotly.min.js" in text
    assert 'type="application/json"' in text and "Show the data as a table" in text
    csv = analyst.client.get(
        f"/reports/{answered}/?grouping=un_regional_group&format=csv"
    ).get_data(as_text=True)
    african = next(line for line in csv.splitlines() if line.startswith("African Group"))
    # not started, draft, returned, submitted, validated, states, rate
    assert african.split(",")[1:6] == ["51", "1", "0", "2", "0"]


def test_priority_report_ranks_and_links(analyst, answered):
    page = analyst.client.get(
        f"/reports/{answered}/priorities?grouping=un_regional_group&region=AFRICAN_GROUP"
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "2 of 54 States" in text
    assert "UNCAC-15" in text and "Legal advice (1)" in text
    csv = analyst.client.get(
        f"/reports/{answered}/priorities?grouping=un_regional_group&region=AFRICAN_GROUP&format=csv"
    ).get_data(as_text=True)
    row = csv.splitlines()[1].split(",")
    assert row[:2] == ["1", "UNCAC-15"]
    assert row[4:9] == [
        "2",
        "2",
        "1.0",
        "0.5",
        "0.625",
    ]  # KEN g=1 x 1.0; NGA g=0.5 x 0.5 -> (1.0 + 0.25) / 2


def test_region_with_no_respondents_says_so(analyst, answered):
    page = analyst.client.get(
        f"/reports/{answered}/priorities?grouping=un_regional_group&region=GRULAC"
    )
    assert page.status_code == 200
    assert "nothing is ranked" in page.get_data(as_text=True)


def test_heatmap_and_comparison_render(analyst, answered, db, questionnaire):
    assert analyst.client.get(f"/reports/{answered}/heatmap?grouping=m49_region").status_code == 200
    csv = analyst.client.get(
        f"/reports/{answered}/heatmap?grouping=m49_region&format=csv"
    ).get_data(as_text=True)
    assert csv.startswith("\ufeffregion,")
    from survey.storage.rounds import create_round

    create_round(db, "later", questionnaire, previous_round=answered)
    response = get_or_create_response(db, "later", "KEN")
    save_provision(db, response["id"], "UNCAC-15", {"compliance": "fully"}, user_id=None)
    change_status(db, response["id"], "submitted", user_id=None)
    page = analyst.client.get("/reports/later/compare?grouping=global").get_data(as_text=True)
    assert "States that closed gaps" in page
    assert "KEN" in page


def test_standalone_html_report_opens_offline(analyst, answered):
    response = analyst.client.get(
        f"/reports/{answered}/priorities?grouping=global&region=World&format=html"
    )
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    html = response.get_data(as_text=True)
    assert "Plotly.newPlot" in html and 'src="http' not in html
    assert "<script src=" not in html  # everything inline
    assert "UNCAC-15" in html


def test_plotly_js_is_served_by_the_app(client):
    with client.get("/reports/vendor/plotly.min.js") as response:
        assert response.status_code == 200
        assert response.mimetype == "text/javascript"
        assert b"plotly" in response.get_data()[:2000].lower()


def test_api_priorities_with_session_and_token(analyst, answered, db, people, client):
    data = analyst.client.get(f"/api/v1/rounds/{answered}/priorities?grouping=global").get_json()
    row = data["priorities"][0]
    assert set(row) >= {
        "region",
        "provision_id",
        "n_resp",
        "n_gap",
        "gap_share",
        "ta_share",
        "priority",
        "rank",
    }
    assert row["n_resp"] == 3 and row["n_gap"] == 2
    token = create_api_token(db, people["analyst"]["id"], "script")
    scores = client.get(
        f"/api/v1/rounds/{answered}/states/KEN/scores", headers={"Authorization": f"Bearer {token}"}
    )
    assert scores.status_code == 200
    body = scores.get_json()
    assert body["status"] == "submitted"
    uncac15 = next(p for p in body["provisions"] if p["provision_id"] == "UNCAC-15")
    assert (
        uncac15["score"] == 0.0
        and uncac15["ta_needed"] is True
        and uncac15["ta_types"] == ["legal_advice"]
    )
    assert (
        client.get(
            f"/api/v1/rounds/{answered}/priorities", headers={"Authorization": "Bearer wrong"}
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    "url",
    [
        "/reports/",
        "/reports/{r}/priorities",
        "/reports/{r}/heatmap",
        "/reports/{r}/compare",
        "/api/v1/rounds/{r}/priorities",
        "/api/v1/rounds/{r}/states/KEN/scores",
    ],
)
def test_respondent_gets_404_on_every_report_and_endpoint(login_as, answered, url):
    ken = login_as("ken@example.org")
    assert ken.client.get(url.format(r=answered)).status_code == 404


def test_report_cli_writes_json_and_html(db_path, answered, tmp_path):
    from click.testing import CliRunner

    from survey.cli import main

    runner = CliRunner()
    out = tmp_path / "r.json"
    result = runner.invoke(
        main,
        [
            "report",
            "--db",
            str(db_path),
            "--round",
            answered,
            "--grouping",
            "global",
            "--format",
            "json",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"provision_id": "UNCAC-15"' in out.read_text()
    html = tmp_path / "r.html"
    result = runner.invoke(
        main,
        [
            "report",
            "--db",
            str(db_path),
            "--round",
            answered,
            "--grouping",
            "global",
            "--region",
            "World",
            "--format",
            "html",
            "-o",
            str(html),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Plotly.newPlot" in html.read_text()
    bad = runner.invoke(
        main,
        ["report", "--db", str(db_path), "--round", "nope", "--grouping", "global", "-o", str(out)],
    )
    assert bad.exit_code == 1 and "no round 'nope'" in bad.output


def test_ta_demand_shows_share_of_counted_states_and_selections(
    analyst, answered, db, questionnaire
):
    from survey.reports import priority_report
    from survey.scoring import ta_demand

    data = priority_report(db, questionnaire, answered, "un_regional_group", "AFRICAN_GROUP")
    (legal,) = data["ta_demand"]
    # KEN asked for legal advice on one provision; KEN and NGA are the two counted States.
    assert (legal.code, legal.n_states, legal.share_states, legal.n_selections) == (
        "legal_advice",
        1,
        0.5,
        1,
    )
    assert [(c.code, c.n_states, c.n_selections) for c in data["challenges"]] == [
        ("limited_resources", 1, 1)
    ]
    # The same counts as the SQL aggregate of docs/scoring.md.
    want = {
        (r["kind"], r["code"]): (r["n_states"], r["n_selections"])
        for r in ta_demand(db, questionnaire, answered, "un_regional_group", region="AFRICAN_GROUP")
    }
    got = {
        (r.kind, r.code): (r.n_states, r.n_selections)
        for r in data["ta_demand"] + data["challenges"]
    }
    assert got == want
    by_chapter = data["ta_by_chapter"]
    assert by_chapter.chapters == [
        ("UNCAC/criminalization", "UNCAC III. Criminalization and law enforcement")
    ]
    assert by_chapter.selections == {("UNCAC/criminalization", "legal_advice"): 1}
    csv = analyst.client.get(
        f"/reports/{answered}/priorities?grouping=un_regional_group&region=AFRICAN_GROUP"
        "&format=csv&table=ta_demand"
    ).get_data(as_text=True)
    assert "ta_type,legal_advice,Legal advice,1,2,0.5,1" in csv


def test_filters_narrow_every_report_and_its_exports(analyst, answered):
    base = f"/reports/{answered}/priorities?grouping=un_regional_group&region=AFRICAN_GROUP"
    other = analyst.client.get(base + "&instrument=UNTOC")
    text = other.get_data(as_text=True)
    assert "nothing is ranked" in text and "Provisions covered:" in text
    response = analyst.client.get(base + "&chapter=UNCAC/criminalization&format=csv")
    assert (
        "priorities-2026-AFRICAN_GROUP-UNCAC-criminalization.csv"
        in response.headers["Content-Disposition"]
    )
    assert response.get_data(as_text=True).splitlines()[1].split(",")[:2] == ["1", "UNCAC-15"]
    assert "UNCAC-15" not in analyst.client.get(base + "&instrument=TIP&format=csv").get_data(
        as_text=True
    )
    bad = analyst.client.get(base + "&instrument=NOPE")
    assert bad.status_code == 400 and "UNCAC" in bad.get_data(as_text=True)
    heat = analyst.client.get(
        f"/reports/{answered}/heatmap?grouping=un_regional_group&instrument=UNCAC&format=csv"
    ).get_data(as_text=True)
    assert "UNTOC" not in heat and "UNCAC III. Criminalization" in heat
    html = analyst.client.get(base + "&instrument=UNCAC&format=html").get_data(as_text=True)
    assert "Generated on" in html and "United Nations Convention against Corruption" in html
    heat_page = analyst.client.get(f"/reports/{answered}/heatmap?instrument=UNCAC")
    assert 'option value="UNCAC" selected' in heat_page.get_data(as_text=True)


def test_heatmap_gives_n_per_cell_and_marks_small_regions(analyst, answered):
    csv = analyst.client.get(
        f"/reports/{answered}/heatmap?grouping=un_regional_group&format=csv"
    ).get_data(as_text=True)
    rows = [line.split(",") for line in csv.splitlines()]
    assert rows[0][0].endswith("region") and rows[0][1:] == [
        "chapter",
        "counted_states",
        "small_region",
        "n_answers",
        "n_gaps",
        "gap_share",
    ]
    cells = {(r[0], r[1]): r[2:] for r in rows[1:]}
    # African Group: KEN not_yet and NGA partly on UNCAC-15, pooled; 2 counted States: small.
    assert cells["African Group", "UNCAC III. Criminalization and law enforcement"] == [
        "2",
        "True",
        "2",
        "2",
        "1.0",
    ]
    assert cells[
        "Western European and other States Group", "UNCAC III. Criminalization and law enforcement"
    ] == [
        "1",
        "True",
        "1",
        "0",
        "0.0",
    ]
    page = analyst.client.get(f"/reports/{answered}/heatmap?grouping=un_regional_group")
    text = page.get_data(as_text=True)
    assert "pooled by chapter" in text and "(2/2)" in text and "Regions marked ⚠" in text


def test_priority_ranking_is_paged_and_the_page_is_clamped():
    from survey.reports.build import paging

    pages = paging(271, 3)
    assert (pages.pages, pages.first, pages.last) == (6, 101, 150)
    assert paging(271, 99).number == 6 and paging(271, 99).last == 271
    assert paging(0, 2).first == 0 and paging(0, 2).pages == 1
    assert pages.rows(list(range(271))) == list(range(100, 150))
