"""The web questionnaire: login, drafts, conflicts, history, submission workflow and State scoping."""

from __future__ import annotations

import re

import pytest

from survey.storage.responses import find_response, history, load_answers
from survey.storage.rounds import set_state_instruments

CHAPTER = "/fill/{round}/TIP/general_provisions"
TOKEN = re.compile(r'name="TIP-5\.(\w+)\.v" value="([^"]*)"')


def tip5(**answers):
    data = {"TIP-5.present": "1"}
    for question, value in answers.items():
        data[f"TIP-5.{question}"] = value
    return data


def tokens(page_text: str) -> dict:
    return {f"TIP-5.{q}.v": v for q, v in TOKEN.findall(page_text)}


@pytest.fixture
def ken(actions, people):
    response = actions.login("ken@example.org")
    assert response.status_code == 302
    return actions


def test_login_lands_on_the_questionnaire_and_logout_ends_the_session(client, actions, people):
    assert client.get("/fill/").status_code == 302
    response = actions.login("ken@example.org")
    assert response.headers["Location"] == "/"
    page = client.get("/fill/")
    assert page.status_code == 200
    assert "Kenya" in page.get_data(as_text=True)
    stolen = client.get_cookie("survey_session").value
    assert actions.logout().status_code == 302
    assert client.get("/fill/").status_code == 302
    # A copy of the old cookie is useless after logout: the server-side session is gone.
    client.set_cookie("survey_session", stolen)
    assert client.get("/fill/").status_code == 302


def test_wrong_password_and_unknown_user_get_the_same_answer(actions, people):
    wrong = actions.login("ken@example.org", "wrong password!!")
    unknown = actions.login("nobody@example.org", "wrong password!!")
    assert wrong.status_code == unknown.status_code == 400
    assert "Email or password is not correct." in wrong.get_data(as_text=True)
    assert "Email or password is not correct." in unknown.get_data(as_text=True)


def test_login_rotates_the_session(login_as, actions, people, client):
    actions.csrf("/login")
    before = client.get_cookie("survey_session").value
    actions.login("ken@example.org")
    assert client.get_cookie("survey_session").value != before


def test_respondent_saves_a_draft_with_any_subset_and_sees_it_after_reload(
    ken, client, round_id, db
):
    url = CHAPTER.format(round=round_id)
    response = ken.post(url, tip5(compliance="partly", measures="Penal Code s. 12 (2010)"))
    assert response.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert 'value="partly" checked' in page
    assert "Penal Code s. 12 (2010)" in page
    # Relevance: steps and TA questions are shown now that compliance is 'partly'.
    assert re.search(r'id="f-TIP-5\.steps" data-question="steps" data-field="TIP-5\.steps">', page)
    assert re.search(
        r'id="f-TIP-5\.ta_types" data-question="ta_types" data-field="TIP-5\.ta_types" hidden',
        page,
    )
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert stored["compliance"].value == "partly"


def test_invalid_choice_is_reported_next_to_the_field_and_the_rest_is_saved(
    ken, client, round_id, db
):
    url = CHAPTER.format(round=round_id)
    response = ken.post(url, tip5(compliance="maybe", measures="Law 5/2011"))
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Some answers were not saved" in text
    assert "&#39;maybe&#39; is not one of fully, partly, not_yet, na" in text
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert stored["measures"].value == "Law 5/2011"
    assert "compliance" not in stored


def test_post_without_csrf_token_is_rejected(ken, client, round_id, db):
    response = client.post(CHAPTER.format(round=round_id), data=tip5(compliance="fully"))
    assert response.status_code == 400
    assert find_response(db, round_id, "KEN") is None


def test_history_records_each_change(ken, client, round_id, db):
    url = CHAPTER.format(round=round_id)
    ken.post(url, tip5(compliance="not_yet"))
    ken.post(url, tip5(compliance="partly", measures="Draft bill"))
    rows = history(db, find_response(db, round_id, "KEN")["id"], "TIP-5")
    changes = [(r["question"], r["old_value"], r["new_value"], r["changed_by_email"]) for r in rows]
    assert ("compliance", None, "not_yet", "ken@example.org") in changes
    assert ("compliance", "not_yet", "partly", "ken@example.org") in changes
    assert ("measures", None, "Draft bill", "ken@example.org") in changes
    page = client.get(f"/fill/{round_id}/history/TIP-5").get_data(as_text=True)
    assert "Draft bill" in page and "Partly" in page


def test_concurrent_edit_is_a_conflict_that_loses_neither_answer(login_as, people, round_id, db):
    first, second = login_as("ken@example.org"), login_as("ken2@example.org")
    url = CHAPTER.format(round=round_id)
    first.post(url, tip5(compliance="not_yet"))
    page_first = first.client.get(url).get_data(as_text=True)
    page_second = second.client.get(url).get_data(as_text=True)
    # Both officials have the page open; the first saves 'fully', then the second saves 'partly'.
    assert first.post(url, {**tip5(compliance="fully"), **tokens(page_first)}).status_code == 302
    clash = second.post(url, {**tip5(compliance="partly", measures="Act 7"), **tokens(page_second)})
    assert clash.status_code == 409
    text = clash.get_data(as_text=True)
    assert "changed by ken@example.org" in text
    assert "Their version" in text and "Yes, fully" in text
    response_id = find_response(db, round_id, "KEN")["id"]
    stored = load_answers(db, response_id)["TIP-5"]
    assert stored["compliance"].value == "fully"  # the first save was not overwritten
    assert stored["measures"].value == "Act 7"  # the rest of the second save went through
    # The second official chooses their own version by saving again from the conflict page.
    resolved = second.post(url, {**tip5(compliance="partly", measures="Act 7"), **tokens(text)})
    assert resolved.status_code == 302
    assert load_answers(db, response_id)["TIP-5"]["compliance"].value == "partly"
    values = [
        r["new_value"] for r in history(db, response_id, "TIP-5") if r["question"] == "compliance"
    ]
    assert values == ["partly", "fully", "not_yet"]


def test_an_answer_saved_alongside_a_conflict_can_be_edited_again_from_the_conflict_page(
    login_as, people, round_id, db
):
    """The conflict page carries the new token of every answer the same save wrote."""
    from survey.responding import answer_token

    first, second = login_as("ken@example.org"), login_as("ken2@example.org")
    url = CHAPTER.format(round=round_id)
    page_second = second.client.get(url).get_data(as_text=True)
    assert first.post(url, tip5(compliance="fully")).status_code == 302
    clash = second.post(
        url, {**tip5(compliance="not_yet", measures="Act 7"), **tokens(page_second)}
    )
    assert clash.status_code == 409
    text = clash.get_data(as_text=True)
    assert tokens(text)["TIP-5.measures.v"] == answer_token("Act 7")
    # Without a script: edit the saved answer again and keep theirs for the conflicted one.
    again = second.post(
        url,
        {
            **tip5(compliance="not_yet", measures="Act 7, as amended"),
            **tokens(text),
            "keep_theirs": "TIP-5.compliance",
        },
    )
    assert again.status_code == 302
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert stored["measures"].value == "Act 7, as amended"
    assert stored["compliance"].value == "fully"


def test_save_on_an_untouched_page_creates_no_response(ken, round_id, db):
    assert ken.post(CHAPTER.format(round=round_id), {"TIP-5.present": "1"}).status_code == 302
    assert find_response(db, round_id, "KEN") is None


def test_an_untouched_field_never_overwrites_a_newer_answer(login_as, people, round_id, db):
    first, second = login_as("ken@example.org"), login_as("ken2@example.org")
    url = CHAPTER.format(round=round_id)
    page_second = second.client.get(url).get_data(as_text=True)
    first.post(url, tip5(compliance="fully"))
    # The second official only types a law; their (empty) compliance is not a change.
    response = second.post(url, {**tip5(measures="Act 9"), **tokens(page_second)})
    assert response.status_code == 302
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert stored["compliance"].value == "fully"
    assert stored["measures"].value == "Act 9"


def _expire_sessions(db):
    db.execute("UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00Z'")


def test_expired_session_keeps_the_post_and_saves_it_after_login_and_confirmation(
    ken, client, round_id, db
):
    url = CHAPTER.format(round=round_id)
    page = client.get(url).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    _expire_sessions(db)
    data = {**tip5(compliance="not_yet", measures="Typed before the time-out"), "csrf_token": csrf}
    data.update(tokens(page))
    response = client.post(url, data=data)
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "Your session has expired" in text
    replay = re.search(r'name="replay" type="hidden" value="([^"]+)"', text).group(1)
    login_csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text).group(1)
    shown = client.post(
        "/login",
        data={
            "email": "ken@example.org",
            "password": "correct horse battery",
            "csrf_token": login_csrf,
            "replay": replay,
            "next": url,
        },
    )
    # Nothing is saved until the user has seen the kept changes and confirmed them.
    assert shown.status_code == 200
    review = shown.get_data(as_text=True)
    assert "Typed before the time-out" in review
    assert find_response(db, round_id, "KEN") is None
    confirm_csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', review).group(1)
    saved = client.post(
        f"/fill/{round_id}/replay",
        data={"csrf_token": confirm_csrf, "replay": replay, "action": "save"},
    )
    assert saved.status_code == 302
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert stored["measures"].value == "Typed before the time-out"
    assert history(db, find_response(db, round_id, "KEN")["id"], "TIP-5")[0]["source"] == "replay"


def test_a_kept_post_can_be_discarded_and_is_never_saved_for_another_user(
    ken, client, app, round_id, db
):
    url = CHAPTER.format(round=round_id)
    page = client.get(url).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    _expire_sessions(db)
    response = client.post(url, data={**tip5(measures="Mine"), "csrf_token": csrf})
    text = response.get_data(as_text=True)
    replay = re.search(r'name="replay" type="hidden" value="([^"]+)"', text).group(1)
    login_csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text).group(1)
    # A colleague logs in on the same browser with the kept post: it is not theirs, so it is
    # neither shown nor saved.
    other = client.post(
        "/login",
        data={
            "email": "ken2@example.org",
            "password": "correct horse battery",
            "csrf_token": login_csrf,
            "replay": replay,
        },
    )
    assert other.status_code == 302
    assert find_response(db, round_id, "KEN") is None
    helper = __import__("tests.conftest", fromlist=["Actions"]).Actions(client)
    refused = helper.post(
        f"/fill/{round_id}/replay", {"replay": replay, "action": "save"}, form_url=url
    )
    assert refused.status_code == 302
    assert find_response(db, round_id, "KEN") is None or not load_answers(
        db, find_response(db, round_id, "KEN")["id"]
    )


def test_autosave_returns_json_and_new_tokens(ken, client, round_id):
    from survey.responding import answer_token

    url = CHAPTER.format(round=round_id)
    response = ken.post(url, tip5(compliance="fully"), headers={"X-Autosave": "1"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["saved"] == ["TIP-5.compliance"]
    assert body["tokens"]["TIP-5.compliance.v"] == answer_token("fully")


def test_autosave_after_session_expiry_asks_to_log_in(client, people, round_id):
    response = client.post(
        CHAPTER.format(round=round_id), data=tip5(compliance="fully"), headers={"X-Autosave": "1"}
    )
    assert response.status_code == 401
    assert response.get_json()["error"] == "login_required"


# The "fully implemented" code of each obligation level's scale.
COMPLIANT = {"mandatory": "fully", "consider": "adopted", "optional": "used"}


def fill_all_tip(actions, round_id, model):
    for chapter in model.instrument("TIP").chapters:
        data = {}
        for p in chapter.provisions:
            data.update(
                {
                    f"{p.id}.present": "1",
                    f"{p.id}.compliance": COMPLIANT[p.obligation],
                    f"{p.id}.measures": f"Law for {p.id}",
                    # Technical assistance is asked whatever the answer (but 'na').
                    f"{p.id}.ta_needed": "no",
                }
            )
        response = actions.post(f"/fill/{round_id}/TIP/{chapter.id}", data)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]


def test_submission_lists_missing_answers_then_submits_and_locks(
    ken, client, round_id, db, questionnaire
):
    set_state_instruments(db, round_id, "KEN", ["TIP"])
    ken.post(CHAPTER.format(round=round_id), tip5(compliance="not_yet"))
    response = ken.post(f"/fill/{round_id}/submit", {})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "required answers still missing" in text
    assert f'href="/fill/{round_id}/TIP/general_provisions#f-TIP-5.steps"' in text
    assert "TIP-6-1" in text
    fill_all_tip(ken, round_id, questionnaire)
    response = ken.post(f"/fill/{round_id}/submit", {})
    assert response.status_code == 302
    assert find_response(db, round_id, "KEN")["status"] == "submitted"
    locked = ken.post(CHAPTER.format(round=round_id), tip5(compliance="not_yet"))
    assert locked.status_code == 409
    assert (
        load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]["compliance"].value
        == "fully"
    )


def test_analyst_returns_with_comment_and_respondent_can_edit_and_resubmit(
    login_as, ken, client, round_id, db, questionnaire
):
    set_state_instruments(db, round_id, "KEN", ["TIP"])
    fill_all_tip(ken, round_id, questionnaire)
    assert ken.post(f"/fill/{round_id}/submit", {}).status_code == 302
    analyst = login_as("analyst@example.org")
    url = f"/responses/{round_id}/KEN/"
    no_comment = analyst.post(url, {"action": "return", "comment": ""})
    assert (
        "a comment is required" in analyst.client.get(url).get_data(as_text=True)
        or no_comment.status_code == 200
    )
    assert find_response(db, round_id, "KEN")["status"] == "submitted"
    analyst.post(url, {"action": "return", "comment": "Please cite the 2019 amendment for TIP-5."})
    assert find_response(db, round_id, "KEN")["status"] == "returned"
    overview = client.get(f"/fill/{round_id}/").get_data(as_text=True)
    assert "Please cite the 2019 amendment for TIP-5." in overview
    assert (
        ken.post(CHAPTER.format(round=round_id), tip5(measures="Law as amended 2019")).status_code
        == 302
    )
    assert ken.post(f"/fill/{round_id}/submit", {}).status_code == 302
    analyst.post(url, {"action": "validate", "comment": ""})
    assert find_response(db, round_id, "KEN")["status"] == "validated"


def test_cross_referenced_answer_can_be_copied_in(ken, client, round_id, db, questionnaire):
    # SOM-12 and TIP-12 (security and control of documents) are cross-referenced.
    target = next(p for p in questionnaire.provisions.values() if p.id.startswith("SOM-12"))
    source = next(p for p in questionnaire.related(target.id) if p.id.startswith("TIP-12"))
    chapter = questionnaire.chapter_of(source)
    ken.post(
        f"/fill/{round_id}/TIP/{chapter.id}",
        {
            f"{source.id}.present": "1",
            f"{source.id}.compliance": "partly",
            f"{source.id}.measures": "Passport Act",
        },
    )
    target_chapter = questionnaire.chapter_of(target)
    page_url = f"/fill/{round_id}/SOM/{target_chapter.id}"
    page = client.get(page_url).get_data(as_text=True)
    assert f'<option value="{source.id}">' in page
    response = ken.post(
        f"/fill/{round_id}/copy/{target.id}", {"source": source.id}, form_url=page_url
    )
    assert response.status_code == 302
    copied = load_answers(db, find_response(db, round_id, "KEN")["id"])[target.id]
    assert copied["measures"].value == "Passport Act"
    assert (
        history(db, find_response(db, round_id, "KEN")["id"], target.id)[0]["source"]
        == f"copy:{source.id}"
    )


def test_new_round_can_start_from_last_submitted_answers(ken, client, round_id, db, questionnaire):
    from survey.storage.responses import change_status
    from survey.storage.rounds import create_round

    set_state_instruments(db, round_id, "KEN", ["TIP"])
    fill_all_tip(ken, round_id, questionnaire)
    change_status(db, find_response(db, round_id, "KEN")["id"], "submitted", user_id=None)
    create_round(db, "next", questionnaire, previous_round=round_id, instruments=["TIP"])
    page = client.get("/fill/next/").get_data(as_text=True)
    assert f"Start from my answers of {round_id}" in page
    assert ken.post("/fill/next/prefill", {}, form_url="/fill/next/").status_code == 302
    answers = load_answers(db, find_response(db, "next", "KEN")["id"])
    assert answers["TIP-5"]["measures"].value == "Law for TIP-5"


def test_profile_and_print_show_the_states_answers(ken, client, round_id, db, questionnaire):
    ken.post(
        CHAPTER.format(round=round_id),
        tip5(compliance="not_yet", ta_needed="yes", ta_types="legal_advice"),
    )
    profile = client.get(f"/fill/{round_id}/profile").get_data(as_text=True)
    assert "TIP-5" in profile and "Legal advice" in profile
    printed = client.get(f"/fill/{round_id}/print").get_data(as_text=True)
    assert "print.css" in printed and "No" in printed


ANALYST_URLS = [
    "/responses/{round}/",
    "/responses/{round}/FRA/",
    "/responses/{round}/FRA/TIP/general_provisions",
    "/responses/{round}/FRA/history/TIP-5",
    "/responses/{round}/FRA/profile",
    "/responses/{round}/FRA/print",
]


@pytest.mark.parametrize("template", ANALYST_URLS)
def test_respondent_cannot_open_another_states_response(login_as, people, round_id, db, template):
    fra = login_as("fra@example.org")
    fra.post(
        CHAPTER.format(round=round_id), tip5(compliance="not_yet", measures="Secret French draft")
    )
    ken = login_as("ken@example.org")
    response = ken.client.get(template.format(round=round_id))
    assert response.status_code == 404
    assert "Secret French draft" not in response.get_data(as_text=True)


def test_respondent_pages_only_ever_show_their_own_state(login_as, people, round_id):
    fra = login_as("fra@example.org")
    fra.post(
        CHAPTER.format(round=round_id), tip5(compliance="not_yet", measures="Secret French draft")
    )
    ken = login_as("ken@example.org")
    for url in [
        CHAPTER,
        "/fill/{round}/history/TIP-5",
        "/fill/{round}/print",
        "/fill/{round}/submit",
        "/fill/{round}/",
    ]:
        text = ken.client.get(url.format(round=round_id) + "?state=FRA&state_iso3=FRA").get_data(
            as_text=True
        )
        assert "Secret French draft" not in text
    # A forged form field naming another State changes nothing for that State.
    ken.post(
        CHAPTER.format(round=round_id),
        {**tip5(compliance="fully"), "state": "FRA", "state_iso3": "FRA"},
    )
    text = fra.client.get(CHAPTER.format(round=round_id)).get_data(as_text=True)
    assert 'value="not_yet" checked' in text


def test_invitation_link_sets_the_password_once(client, db, actions):
    from survey.storage.users import create_invitation, create_user

    user = create_user(db, "new@example.org", "respondent", state_iso3="PER")
    token = create_invitation(db, user["id"])
    url = f"/invite/{token}"
    response = actions.post(
        url, {"password": "a new long password", "confirm": "a new long password"}
    )
    assert response.status_code == 302
    assert client.get("/fill/").status_code == 200
    assert client.get(url).status_code == 404  # used once


def test_admin_adds_a_user_and_gets_an_invitation_link(login_as, people):
    admin = login_as("boss@example.org")
    response = admin.post(
        "/admin/users",
        {"email": "focal@example.org", "role": "respondent", "state": "KEN", "name": "Focal"},
    )
    text = response.get_data(as_text=True)
    assert "One-time invitation link" in text
    assert re.search(r"http://localhost/invite/[\w-]+", text)


@pytest.mark.real_hashing
def test_passwords_are_stored_as_scrypt_hashes(db):
    from survey.storage.users import create_user

    user = create_user(db, "hash@example.org", "analyst", password="a long enough password")
    assert user["password_hash"].startswith("scrypt:")
    assert "a long enough password" not in user["password_hash"]


def test_idle_sessions_expire_on_the_server_and_are_pruned(login_as, db, app):
    from datetime import timedelta

    first = login_as("ken@example.org")
    assert first.client.get("/fill/").status_code == 200
    # Nine hours of inactivity (the lifetime is eight): the server no longer accepts the session.
    db.execute("UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00Z'")
    assert first.client.get("/fill/").status_code == 302
    login_as("fra@example.org")  # a new login prunes sessions idle beyond the lifetime
    assert (
        db.execute("SELECT count(*) FROM sessions WHERE last_seen_at < '2001-01-01'").fetchone()[0]
        == 0
    )
    assert app.permanent_session_lifetime == timedelta(hours=8)


@pytest.mark.parametrize(
    "error", ["database or disk is full", "attempt to write a readonly database"]
)
def test_unwritable_database_says_not_saved_and_keeps_the_text(
    ken, client, round_id, db, monkeypatch, error
):
    import sqlite3

    import survey.responding.save as save

    def refuse(*args, **kwargs):
        raise sqlite3.OperationalError(error)

    url = CHAPTER.format(round=round_id)
    client.get(url)
    monkeypatch.setattr(save, "write_answers", refuse)
    typed = "Text typed <b>while</b> the disk was full"
    autosave = ken.post(url, tip5(measures=typed), headers={"X-Autosave": "1"})
    assert autosave.status_code == 503
    assert autosave.get_json()["error"] == "storage"
    assert "Not saved" in autosave.get_json()["message"]
    page = ken.post(url, tip5(measures=typed))
    assert page.status_code == 503
    text = page.get_data(as_text=True)
    assert "Not saved" in text and "Text typed &lt;b&gt;while&lt;/b&gt; the disk was full" in text
    response = find_response(db, round_id, "KEN")
    assert response is None or "TIP-5" not in load_answers(db, response["id"])


def test_stale_form_without_script_comes_back_with_the_typed_text(ken, client, round_id, db):
    url = CHAPTER.format(round=round_id)
    client.get(url)
    response = client.post(url, data={**tip5(measures="Typed in a stale tab"), "csrf_token": "x"})
    assert response.status_code == 400
    text = response.get_data(as_text=True)
    assert "this page had expired" in text
    assert "Typed in a stale tab</textarea>" in text
    resaved = ken.post(url, tip5(measures="Typed in a stale tab"))
    assert resaved.status_code == 302
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert stored["measures"].value == "Typed in a stale tab"


def test_copy_asks_before_replacing_an_answer_and_can_be_undone(
    ken, client, round_id, db, questionnaire
):
    target = next(p for p in questionnaire.provisions.values() if p.id.startswith("SOM-12"))
    source = next(p for p in questionnaire.related(target.id) if p.id.startswith("TIP-12"))
    source_url = f"/fill/{round_id}/TIP/{questionnaire.chapter_of(source).id}"
    target_url = f"/fill/{round_id}/SOM/{questionnaire.chapter_of(target).id}"
    ken.post(
        source_url,
        {f"{source.id}.present": "1", f"{source.id}.measures": "Passport Act"},
    )
    ken.post(target_url, {f"{target.id}.present": "1", f"{target.id}.measures": "Mine"})
    response_id = find_response(db, round_id, "KEN")["id"]
    asked = ken.post(
        f"/fill/{round_id}/copy/{target.id}", {"source": source.id}, form_url=target_url
    )
    assert asked.status_code == 200
    text = asked.get_data(as_text=True)
    assert "Mine" in text and "Passport Act" in text
    assert load_answers(db, response_id)[target.id]["measures"].value == "Mine"
    base = re.search(r'name="base\.measures" value="([^"]+)"', text).group(1)
    copied = ken.post(
        f"/fill/{round_id}/copy/{target.id}",
        {"source": source.id, "confirm": "1", "base.measures": base},
        form_url=target_url,
    )
    assert copied.status_code == 302
    assert load_answers(db, response_id)[target.id]["measures"].value == "Passport Act"
    page = client.get(copied.headers["Location"]).get_data(as_text=True)
    undo_url = re.search(r'action="(/fill/[^"]+/undo/[0-9a-f]+)"', page).group(1)
    undone = ken.post(undo_url, {}, form_url=target_url)
    assert undone.status_code == 302
    assert load_answers(db, response_id)[target.id]["measures"].value == "Mine"


def test_related_offers_are_grouped_by_article(ken, client, round_id, db, questionnaire):
    """One offer (a choice of paragraphs and one button) per related article, not per pair."""
    many = max(questionnaire.provisions.values(), key=lambda p: len(questionnaire.related(p.id)))
    related = questionnaire.related(many.id)
    response = __import__("survey.storage.responses", fromlist=["x"]).get_or_create_response(
        db, round_id, "KEN"
    )
    from survey.responding import save_provision

    for r in related:
        save_provision(
            db, response["id"], r.id, {"compliance": COMPLIANT[r.obligation]}, user_id=None
        )
    page = client.get(
        f"/fill/{round_id}/{many.instrument}/{questionnaire.chapter_of(many).id}"
    ).get_data(as_text=True)
    section = page.split(f'id="{many.id}" data-provision=')[1].split("</section>")[0]
    articles = {"-".join(r.id.split("-")[:2]) for r in related}
    assert section.count("copy-button") == len(articles) < len(related)
