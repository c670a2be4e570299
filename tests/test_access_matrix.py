"""Access control matrix: every route of the URL map x every role gets the documented answer.

A route that is not listed in ACCESS fails the test, so a new route cannot be forgotten.
"""

from __future__ import annotations

import pytest

from survey.responding import save_provision
from survey.storage.responses import get_or_create_response

ROLES = ("anonymous", "ken", "fra", "analyst", "admin")
LOGIN = 302  # HTML pages send anonymous visitors to the login page

PUBLIC = dict.fromkeys(ROLES, 200)
RESPONDENT = {"anonymous": LOGIN, "ken": 200, "fra": 200, "analyst": 404, "admin": 404}
ANALYST = {"anonymous": LOGIN, "ken": 404, "fra": 404, "analyst": 200, "admin": 200}
ADMIN = {"anonymous": LOGIN, "ken": 404, "fra": 404, "analyst": 404, "admin": 200}
API = {"anonymous": 401, "ken": 404, "fra": 404, "analyst": 200, "admin": 200}

# endpoint -> (expected GET status per role or None if GET is not allowed,
#              expected status of a POST without CSRF token per role or None if POST is not allowed)
ACCESS = {
    "static": (PUBLIC, None),
    "auth.login": (PUBLIC, dict.fromkeys(ROLES, 400)),
    "auth.logout": (None, dict.fromkeys(ROLES, 400)),
    "auth.invite": (dict.fromkeys(ROLES, 404), dict.fromkeys(ROLES, 404)),
    "auth.home": (dict.fromkeys(ROLES, 302), None),
    "auth.healthz": (PUBLIC, None),
    # Without a CSRF token the language switch changes nothing and sends the visitor back.
    "i18n.choose_language": (None, dict.fromkeys(ROLES, 302)),
    "fill.overview": (RESPONDENT, None),
    "fill.prefill": (None, {**RESPONDENT, "ken": 400, "fra": 400}),
    "fill.chapter": (RESPONDENT, {**RESPONDENT, "anonymous": 401, "ken": 400, "fra": 400}),
    "fill.copy_related": (None, {**RESPONDENT, "ken": 400, "fra": 400}),
    "fill.csrf": (RESPONDENT, None),
    "fill.confirm_replay": (None, {**RESPONDENT, "ken": 400, "fra": 400}),
    "fill.undo": (None, {**RESPONDENT, "ken": 400, "fra": 400}),
    "fill.provision_history": (RESPONDENT, None),
    "fill.submit": (RESPONDENT, {**RESPONDENT, "ken": 400, "fra": 400}),
    "fill.profile": (RESPONDENT, None),
    "fill.print_view": (RESPONDENT, None),
    "review.responses": (ANALYST, None),
    "review.response": (ANALYST, {**ANALYST, "analyst": 400, "admin": 400}),
    "review.chapter": (ANALYST, None),
    "review.provision_history": (ANALYST, None),
    "review.profile": (ANALYST, None),
    "review.print_view": (ANALYST, None),
    "admin.users": (ADMIN, {**ADMIN, "admin": 200}),  # re-renders the form with the CSRF error
    "admin.user_action": (None, {**ADMIN, "admin": 400}),
    "admin.rounds": (ADMIN, {**ADMIN, "admin": 200}),
    "admin.round_action": (None, {**ADMIN, "admin": 400}),
    "admin.round_titles": (ADMIN, {**ADMIN, "admin": 200}),  # re-renders the form
    "reports.plotly_js": (PUBLIC, None),
    "reports.dashboard": (ANALYST, None),
    "reports.priorities": (ANALYST, None),
    "reports.heatmap_page": (ANALYST, None),
    "reports.compare": (ANALYST, None),
    "api.priorities": (API, None),
    "api.scores": (API, None),
    "exports.workbook": (ANALYST, None),
    "exports.build_status": (ANALYST, None),
    "exports.build_progress": (ANALYST, None),
    "exports.build_file": (ANALYST, None),
    "exports.offline_download": (RESPONDENT, None),
    # The URL names France: France's respondent and analysts see it, Kenya's gets "not found".
    "national.report": ({**ANALYST, "fra": 200}, None),
    "national.needs": (ANALYST, None),
    "coverage.page": (ANALYST, None),
    "api.coverage": (API, None),
    "api.national_priorities": (API, None),
    "exports.offline_upload": (
        RESPONDENT,
        {**RESPONDENT, "anonymous": LOGIN, "ken": 400, "fra": 400},
    ),
}


@pytest.fixture
def clients(app, login_as, db, round_id, people):
    # Both States have a response with an answer, so pages that need one exist for each.
    for iso3 in ("KEN", "FRA"):
        response = get_or_create_response(db, round_id, iso3)
        save_provision(
            db,
            response["id"],
            "TIP-5",
            {"compliance": "partly", "measures": f"{iso3} law"},
            user_id=None,
        )
    out = {"anonymous": app.test_client()}
    for role, email in [
        ("ken", "ken@example.org"),
        ("fra", "fra@example.org"),
        ("analyst", "analyst@example.org"),
        ("admin", "boss@example.org"),
    ]:
        out[role] = login_as(email).client
    return out


def _url(app, rule, round_id, people, key=""):
    values = {
        "key": key,
        "round_id": round_id,
        "instrument": "TIP",
        "chapter_id": "general_provisions",
        "iso3": "FRA",
        "provision_id": "TIP-5",
        "token": "not-a-valid-token",
        "user_id": people["ken"]["id"],
        "action": "close" if rule.endpoint == "admin.round_action" else "invite",
        "filename": "style.css",
        "save_id": "0123456789abcdef",
    }
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{k: values[k] for k in rule.arguments})


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(ACCESS) == set(), (
        "add the new route(s) to ACCESS with their documented answers"
    )
    assert set(ACCESS) - endpoints == set(), "ACCESS lists routes that no longer exist"


def test_access_matrix(app, clients, round_id, people, db, questionnaire):
    from survey.exports import jobs

    # A built workbook, so the build routes have a real key (the test app builds in the request).
    with clients["analyst"].get(f"/exports/{round_id}/workbook.xlsx") as built:
        assert built.status_code == 200
    key = jobs.build_key(db, questionnaire, "workbook", round_id, jobs.clean_params())
    assert jobs.get_build(db, key).ready
    failures = []
    for rule in app.url_map.iter_rules():
        get_expected, post_expected = ACCESS[rule.endpoint]
        url = _url(app, rule, round_id, people, key)
        for role in ROLES:
            client = clients[role]
            if get_expected is not None and "GET" in rule.methods:
                with client.get(url) as response:
                    if response.status_code != get_expected[role]:
                        failures.append(
                            f"GET {url} as {role}: {response.status_code}, expected {get_expected[role]}"
                        )
            if post_expected is not None and "POST" in rule.methods:
                with client.post(
                    url, data={"TIP-5.present": "1", "TIP-5.compliance": "fully"}
                ) as response:
                    if response.status_code != post_expected[role]:
                        failures.append(
                            f"POST {url} as {role}: {response.status_code}, expected {post_expected[role]}"
                        )
    assert failures == []


def test_respondent_of_a_cannot_reach_b_through_ids_in_urls(clients, round_id):
    # Every analyst-side URL naming France answers 404 to Kenya, and nothing of France leaks.
    for url in [
        f"/responses/{round_id}/FRA/",
        f"/responses/{round_id}/FRA/TIP/general_provisions",
        f"/responses/{round_id}/FRA/history/TIP-5",
        f"/api/v1/rounds/{round_id}/states/FRA/scores",
        f"/exports/{round_id}/workbook.xlsx",
    ]:
        response = clients["ken"].get(url)
        assert response.status_code == 404, url
        assert "FRA law" not in response.get_data(as_text=True)
