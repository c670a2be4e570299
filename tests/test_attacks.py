"""Hostile users: cross-State access, forged or stale confirmations, stored XSS and malformed input.

Each test states one promise and fails if the protection behind it is removed.
"""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from survey.responding import answer_token, save_provision
from survey.storage.responses import (
    change_status,
    find_response,
    get_or_create_response,
    history,
    load_answers,
)
from survey.storage.rounds import set_round_status, set_state_instruments
from tests.conftest import PASSWORD
from tests.test_saving import page_form, text_of

TIP = "/fill/{r}/TIP/general_provisions"
SOM = "/fill/{r}/SOM/prevention_cooperation"
SECRET = "KEN-ONLY Penal Code s. 99 (confidential draft)"
XSS = "</textarea><script>alert(1)</script>\"'><img src=x onerror=alert(2)> \u202eevil"
XSS_RAW = ("<script>alert(1)", "<img src=x", "</textarea><script")
XSS_ESCAPED = "&lt;/textarea&gt;&lt;script&gt;alert(1)&lt;/script&gt;"


def stored(db, round_id, iso3, pid, question):
    response = find_response(db, round_id, iso3)
    if response is None:
        return None
    answer = load_answers(db, response["id"], [pid]).get(pid, {}).get(question)
    return answer.value if answer else None


def ken_response(db, round_id):
    return get_or_create_response(db, round_id, "KEN")


def assert_no_raw_xss(text: str) -> None:
    for raw in XSS_RAW:
        assert raw not in text, f"unescaped payload {raw!r} in page"
    assert "onerror=alert" not in text.replace("&lt;img src=x onerror=alert", "")


def expire_sessions(db, user_id):
    db.execute(
        "UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00Z' WHERE user_id = ?", [user_id]
    )


def kept_replay_token(login_as, db, people, round_id, data, email="ken@example.org", who="ken"):
    """A replay token kept for `who` from a post their (expired) session made."""
    helper = login_as(email)
    url = TIP.format(r=round_id)
    page = helper.client.get(url)
    form = page_form(text_of(page), form_id="chapter-form")
    expire_sessions(db, people[who]["id"])
    expired = helper.client.post(url, data=form.changed(data))
    assert expired.status_code == 401
    token = page_form(text_of(expired), action="/login").get("replay")
    assert token
    return helper, token


def copy_som12(helper, round_id, **extra):
    token = helper.csrf(SOM.format(r=round_id))
    return helper.client.post(
        f"/fill/{round_id}/copy/SOM-12", data={"csrf_token": token, "source": "TIP-12", **extra}
    )


# -- 1. one State never sees or writes another's data --------------------------------------------


def test_fra_cannot_undo_a_kenyan_copy_by_its_save_id(login_as, db, people, round_id):
    response = ken_response(db, round_id)
    save_provision(db, response["id"], "TIP-12", {"compliance": "partly"}, user_id=None)
    save_provision(db, response["id"], "SOM-12", {"compliance": "not_yet"}, user_id=None)
    ken = login_as("ken@example.org")
    done = copy_som12(ken, round_id, confirm="1")
    assert done.status_code == 302
    assert stored(db, round_id, "KEN", "SOM-12", "compliance") == "partly"
    save_id = next(
        row["save_id"]
        for row in history(db, response["id"], "SOM-12")
        if row["source"].startswith("copy:")
    )
    fra = login_as("fra@example.org")
    url = f"/fill/{round_id}/undo/{save_id}"
    token = fra.csrf(f"/fill/{round_id}/")
    assert fra.client.post(url, data={"csrf_token": token}).status_code == 404  # no FRA response
    fra.post(TIP.format(r=round_id), {"TIP-5.present": "1", "TIP-5.compliance": "fully"})
    assert find_response(db, round_id, "FRA") is not None
    assert fra.client.post(url, data={"csrf_token": token}).status_code == 404
    assert stored(db, round_id, "KEN", "SOM-12", "compliance") == "partly"
    # Kenya's own official can undo it: the 404s above are about the State, not the save id.
    ken2 = login_as("ken2@example.org")
    token = ken2.csrf(SOM.format(r=round_id))
    assert ken2.client.post(url, data={"csrf_token": token}).status_code == 302
    assert stored(db, round_id, "KEN", "SOM-12", "compliance") == "not_yet"


def test_fra_copy_with_crafted_ids_reads_and_writes_only_france(login_as, db, people, round_id):
    response = ken_response(db, round_id)
    save_provision(
        db, response["id"], "TIP-12", {"compliance": "partly", "measures": SECRET}, user_id=None
    )
    fra = login_as("fra@example.org")
    # No FRA response yet: refused, nothing created from Kenya's answers.
    assert copy_som12(fra, round_id, confirm="1").status_code == 409
    fra.post(TIP.format(r=round_id), {"TIP-5.present": "1", "TIP-5.compliance": "fully"})
    done = copy_som12(fra, round_id, confirm="1")
    assert done.status_code == 302
    assert SECRET not in text_of(fra.client.get(done.headers["Location"]))
    assert stored(db, round_id, "FRA", "SOM-12", "measures") is None
    assert stored(db, round_id, "FRA", "SOM-12", "compliance") is None
    # Crafted ids: unrelated source, unknown target, ids with a State or path in them.
    token = fra.csrf(SOM.format(r=round_id))
    for target, source in [
        ("SOM-12", "TIP-5"),
        ("SOM-12", "KEN:TIP-12"),
        ("KEN/SOM-12", "TIP-12"),
        ("SOM-12", "../TIP-12"),
        ("TIP-12", "TIP-12"),
    ]:
        r = fra.client.post(
            f"/fill/{round_id}/copy/{target}",
            data={"csrf_token": token, "source": source, "confirm": "1"},
        )
        assert r.status_code == 404, (target, source, r.status_code)
    assert stored(db, round_id, "KEN", "SOM-12", "measures") is None
    assert stored(db, round_id, "KEN", "TIP-12", "measures") == SECRET


def test_a_replay_token_kept_for_ken_is_useless_to_ken2_and_fra(login_as, db, people, round_id):
    _, token = kept_replay_token(
        login_as,
        db,
        people,
        round_id,
        {"TIP-5.compliance": "not_yet", "TIP-5.measures": "from ken"},
    )
    for email in ("ken2@example.org", "fra@example.org"):
        other = login_as(email)
        # At login: the kept post is not shown to anyone else.
        login_token = other.csrf("/login")
        landed = other.client.post(
            "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": login_token, "replay": token},
        )
        assert landed.status_code == 302
        assert "from ken" not in text_of(other.client.get("/fill/"))
        # Posted to the confirmation endpoint directly: refused, nothing saved.
        r = other.client.post(
            f"/fill/{round_id}/replay",
            data={"csrf_token": other.csrf("/fill/"), "replay": token, "action": "save"},
        )
        assert r.status_code == 302
        assert "from ken" not in text_of(other.client.get(r.headers["Location"]))
    assert stored(db, round_id, "KEN", "TIP-5", "measures") is None
    assert (
        find_response(db, round_id, "FRA") is None
        or stored(db, round_id, "FRA", "TIP-5", "measures") is None
    )
    # The rightful author can still use it: the refusals above were about who, not the token.
    ken = login_as("ken@example.org")
    r = ken.client.post(
        f"/fill/{round_id}/replay",
        data={"csrf_token": ken.csrf("/fill/"), "replay": token, "action": "save"},
    )
    assert r.status_code == 302
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == "from ken"


def test_hidden_fields_naming_another_state_or_provision_write_nothing_there(
    login_as, db, people, round_id
):
    response = ken_response(db, round_id)
    save_provision(db, response["id"], "TIP-5", {"measures": SECRET}, user_id=None)
    set_state_instruments(db, round_id, "FRA", ["TIP"])
    fra = login_as("fra@example.org")
    r = fra.post(
        TIP.format(r=round_id),
        {
            "TIP-5.present": "1",
            "TIP-5.compliance": "fully",
            "SOM-12.present": "1",  # another chapter, an instrument FRA does not answer
            "SOM-12.compliance": "not_yet",
            "KEN.TIP-5.measures": "overwritten by FRA",
            "state_iso3": "KEN",
            "response_id": str(response["id"]),
            "round_id": "1999",
        },
    )
    assert r.status_code == 302
    assert stored(db, round_id, "FRA", "TIP-5", "compliance") == "fully"
    assert stored(db, round_id, "FRA", "SOM-12", "compliance") is None
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == SECRET
    assert stored(db, round_id, "KEN", "TIP-5", "compliance") is None
    assert SECRET not in text_of(fra.client.get(TIP.format(r=round_id)))


def test_csrf_endpoint_is_for_logged_in_respondents_only(login_as, client):
    anonymous = client.get("/fill/csrf")
    assert anonymous.status_code == 302 and "csrf_token" not in text_of(anonymous)
    for email in ("analyst@example.org", "boss@example.org"):
        r = login_as(email).client.get("/fill/csrf")
        assert (
            r.status_code == 404 and r.mimetype == "text/html" and r.get_json(silent=True) is None
        )
    ok = login_as("ken@example.org").client.get("/fill/csrf")
    assert ok.status_code == 200 and ok.get_json()["csrf_token"]


def test_json_sections_and_history_never_show_another_states_answers(
    login_as, db, people, round_id
):
    response = ken_response(db, round_id)
    save_provision(
        db,
        response["id"],
        "TIP-5",
        {"compliance": "not_yet", "measures": SECRET},
        user_id=people["ken"]["id"],
    )
    fra = login_as("fra@example.org")
    url = TIP.format(r=round_id)
    # An invalid choice and a stale token (Kenya's token for its 'not_yet'): sections are rendered.
    r = fra.post(
        url,
        {
            "TIP-5.present": "1",
            "TIP-5.compliance": "bogus",
            "TIP-5.measures": "fra text",
            "TIP-5.measures.v": answer_token(SECRET),
        },
        headers={"X-Autosave": "1", "X-Render": "sections"},
    )
    assert r.status_code in (409, 422), r.status_code
    body = r.get_data(as_text=True)
    assert "TIP-5" in r.get_json()["sections"]
    assert SECRET not in body and "ken@example.org" not in body
    hist = fra.client.get(f"/fill/{round_id}/history/TIP-5")
    assert hist.status_code == 200
    assert SECRET not in text_of(hist) and "ken@example.org" not in text_of(hist)
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == SECRET


# -- 2. only the author's own confirmed action writes ---------------------------------------------


def _confirm(helper, round_id, token, action="save"):
    return helper.client.post(
        f"/fill/{round_id}/replay",
        data={"csrf_token": helper.csrf("/fill/"), "replay": token, "action": action},
    )


def test_forged_or_tampered_replay_tokens_save_nothing(login_as, db, people, round_id, app):
    from itsdangerous import URLSafeTimedSerializer

    ken, token = kept_replay_token(login_as, db, people, round_id, {"TIP-5.measures": "kept"})
    ken = login_as("ken@example.org")
    middle = len(token) // 3
    tampered = [
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
        token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :],
        token.lstrip("."),  # the same payload claimed uncompressed
        "",
        "x" * 50_000,
        "not.a.token",
        "é\u202e<script>",
        URLSafeTimedSerializer("guessed-secret", salt="replay-v2").dumps(
            {
                "user": people["ken"]["id"],
                "endpoint": "fill.chapter",
                "args": {
                    "round_id": round_id,
                    "instrument": "TIP",
                    "chapter_id": "general_provisions",
                },
                "form": {"TIP-5.present": ["1"], "TIP-5.measures": ["forged"]},
            }
        ),
    ]
    for bad in tampered:
        r = _confirm(ken, round_id, bad)
        assert r.status_code == 302, (bad[:40], r.status_code)
    assert stored(db, round_id, "KEN", "TIP-5", "measures") is None
    assert _confirm(ken, round_id, token).status_code == 302
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == "kept"


def test_an_expired_replay_token_saves_nothing(login_as, db, people, round_id, monkeypatch):
    import survey.web.auth as auth

    _, token = kept_replay_token(login_as, db, people, round_id, {"TIP-5.measures": "late"})
    monkeypatch.setattr(auth, "REPLAY_MAX_AGE", -1)
    ken, landed = login_with_replay(login_as, token)
    assert "Changes kept from your expired session" not in text_of(landed)
    assert _confirm(ken, round_id, token).status_code == 302
    assert stored(db, round_id, "KEN", "TIP-5", "measures") is None
    monkeypatch.setattr(auth, "REPLAY_MAX_AGE", 30 * 60)
    assert _confirm(ken, round_id, token).status_code == 302
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == "late"


def login_with_replay(login_as, token, email="ken@example.org"):
    from tests.conftest import Actions

    helper = login_as(email)  # any client; log in again on it with the replay field
    helper = Actions(helper.client.application.test_client())
    login_token = helper.csrf("/login")
    landed = helper.client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": login_token, "replay": token},
    )
    return helper, landed


@pytest.mark.parametrize("change", ["round closed", "response submitted"])
def test_a_replay_confirmed_after_the_response_became_read_only_saves_nothing(
    login_as, db, people, round_id, change
):
    _, token = kept_replay_token(login_as, db, people, round_id, {"TIP-5.measures": "too late"})
    helper, review = login_with_replay(login_as, token)
    assert "Changes kept from your expired session" in text_of(review)
    response = ken_response(db, round_id)
    if change == "round closed":
        set_round_status(db, round_id, "closed")
    else:
        change_status(db, response["id"], "submitted", user_id=people["ken"]["id"])
    r = _confirm(helper, round_id, token)
    assert r.status_code in (302, 409)
    assert stored(db, round_id, "KEN", "TIP-5", "measures") is None


def test_keep_theirs_naming_other_fields_writes_nothing_extra(login_as, db, people, round_id):
    response = ken_response(db, round_id)
    save_provision(db, response["id"], "SOM-12", {"compliance": "not_yet"}, user_id=None)
    save_provision(db, response["id"], "TIP-5", {"compliance": "not_yet"}, user_id=None)
    ken = login_as("ken@example.org")
    data = MultiDict(
        [
            ("TIP-5.present", "1"),
            ("TIP-5.measures", "mine"),
            ("keep_theirs", "SOM-12.compliance"),
            ("keep_theirs", "TIP-5.nonexistent"),
            ("keep_theirs", "../../KEN"),
            ("keep_theirs", "x" * 10_000),
            ("csrf_token", ken.csrf(TIP.format(r=round_id))),
        ]
    )
    r = ken.client.post(TIP.format(r=round_id), data=data)
    assert r.status_code == 302
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == "mine"
    assert stored(db, round_id, "KEN", "SOM-12", "compliance") == "not_yet"
    assert stored(db, round_id, "KEN", "TIP-5", "compliance") == "not_yet"
    assert [
        row["provision_id"] for row in history(db, response["id"]) if row["source"] == "web"
    ] == ["TIP-5"]


def test_provisions_of_an_instrument_the_state_does_not_answer_cannot_be_written(
    login_as, db, people, round_id
):
    response = ken_response(db, round_id)
    save_provision(db, response["id"], "TIP-12", {"compliance": "partly"}, user_id=None)
    ken = login_as("ken@example.org")
    # A replay kept while SOM was still answered, for the SOM chapter.
    som = SOM.format(r=round_id)
    page = page_form(text_of(ken.client.get(som)), form_id="chapter-form")
    expire_sessions(db, people["ken"]["id"])
    expired = ken.client.post(som, data=page.changed({"SOM-12.compliance": "fully"}))
    token = page_form(text_of(expired), action="/login").get("replay")
    assert token
    set_state_instruments(db, round_id, "KEN", ["TIP"])
    ken = login_as("ken@example.org")
    token_csrf = ken.csrf(TIP.format(r=round_id))
    r = ken.client.post(
        TIP.format(r=round_id),
        data={
            "csrf_token": token_csrf,
            "SOM-12.present": "1",
            "SOM-12.compliance": "fully",
            "_at": "SOM-12",
        },
    )
    assert r.status_code == 302
    assert ken.client.get(som).status_code == 404
    assert (
        ken.client.post(
            som,
            data={"csrf_token": token_csrf, "SOM-12.present": "1", "SOM-12.compliance": "fully"},
        ).status_code
        == 404
    )
    assert copy_som12(ken, round_id, confirm="1").status_code == 404
    assert _confirm(ken, round_id, token).status_code == 302
    assert stored(db, round_id, "KEN", "SOM-12", "compliance") is None


@pytest.mark.parametrize(
    "base",
    [
        "zzzzzzzzzzzzzzzz",
        "0" * 16,
        "f" * 100_000,
        "",
        "é" * 16,
        "../" * 8,
        answer_token("partly")[:15],
    ],
    ids=["non-hex", "zeros", "very-long", "empty", "unicode", "path", "truncated"],
)
def test_garbage_base_tokens_never_overwrite_a_stored_answer(login_as, db, people, round_id, base):
    response = ken_response(db, round_id)
    save_provision(
        db,
        response["id"],
        "TIP-5",
        {"compliance": "not_yet", "measures": "theirs"},
        user_id=people["ken2"]["id"],
    )
    ken = login_as("ken@example.org")
    r = ken.post(
        TIP.format(r=round_id),
        {
            "TIP-5.present": "1",
            "TIP-5.compliance": "partly",
            "TIP-5.compliance.v": base,
            "TIP-5.measures": "mine",
            "TIP-5.measures.v": base,
        },
    )
    assert r.status_code == 409, r.status_code
    assert stored(db, round_id, "KEN", "TIP-5", "compliance") == "not_yet"
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == "theirs"


@pytest.mark.parametrize("base", ["zz", "f" * 100_000, "é", "0" * 16])
def test_garbage_copy_bases_copy_nothing_over_an_answer(login_as, db, people, round_id, base):
    response = ken_response(db, round_id)
    save_provision(db, response["id"], "TIP-12", {"compliance": "partly"}, user_id=None)
    save_provision(db, response["id"], "SOM-12", {"compliance": "not_yet"}, user_id=None)
    ken = login_as("ken@example.org")
    r = copy_som12(ken, round_id, confirm="1", **{"base.compliance": base})
    assert r.status_code == 302
    assert stored(db, round_id, "KEN", "SOM-12", "compliance") == "not_yet"


# -- 3. stored XSS ---------------------------------------------------------------------------------


def test_hostile_answers_are_escaped_on_every_page(login_as, db, people, round_id):
    response = ken_response(db, round_id)
    save_provision(
        db,
        response["id"],
        "TIP-5",
        {"compliance": "not_yet", "measures": XSS},
        user_id=people["ken2"]["id"],
    )
    save_provision(
        db, response["id"], "TIP-12", {"compliance": "partly", "measures": XSS}, user_id=None
    )
    save_provision(
        db, response["id"], "SOM-12", {"compliance": "not_yet", "measures": "older"}, user_id=None
    )
    ken = login_as("ken@example.org")
    url = TIP.format(r=round_id)
    pages = {}
    pages["chapter"] = ken.client.get(url)
    # The conflict box: their version is the payload; ours is the payload too, changed.
    pages["conflict"] = ken.post(
        url,
        {
            "TIP-5.present": "1",
            "TIP-5.measures": XSS + " (mine)",
            "TIP-5.measures.v": answer_token("started"),
        },
    )
    assert pages["conflict"].status_code == 409
    assert "Their version" in text_of(pages["conflict"])
    sections = ken.post(
        url,
        {
            "TIP-5.present": "1",
            "TIP-5.measures": XSS + " (mine)",
            "TIP-5.measures.v": answer_token("started"),
            "TIP-5.compliance": XSS,
        },
        headers={"X-Autosave": "1", "X-Render": "sections"},
    )
    data = sections.get_json()
    pages["sections"] = data["sections"]["TIP-5"]
    pages["history"] = ken.client.get(f"/fill/{round_id}/history/TIP-5")
    pages["copy-confirm"] = copy_som12(ken, round_id)
    assert "Replace my answers with the copy" in text_of(pages["copy-confirm"])
    done = copy_som12(ken, round_id, confirm="1")
    pages["undo-notice"] = ken.client.get(done.headers["Location"])
    assert "Undo the copy" in text_of(pages["undo-notice"])
    # The replay confirmation page.
    som = SOM.format(r=round_id)
    form = page_form(text_of(ken.client.get(som)), form_id="chapter-form")
    expire_sessions(db, people["ken"]["id"])
    expired = ken.client.post(som, data=form.changed({"SOM-12.examples": XSS}))
    pages["expired-login"] = expired
    token = page_form(text_of(expired), action="/login").get("replay")
    _, pages["replay"] = login_with_replay(login_as, token)
    assert "Changes kept from your expired session" in text_of(pages["replay"])
    for name, page in pages.items():
        text = page if isinstance(page, str) else text_of(page)
        assert_no_raw_xss(text)
        if name != "expired-login":
            assert "&lt;/textarea&gt;" in text or "\\u003c/textarea" in text, name


def test_the_json_error_for_a_hostile_choice_is_plain_json_text(login_as, round_id):
    """The autosave reply echoes the invalid choice in its message: it must never be sniffed as
    HTML, and the page's script must only ever show messages as text."""
    from pathlib import Path

    import survey.web

    script = (Path(survey.web.__file__).parent / "static" / "fill.js").read_text()
    assert "data.message" in script
    for line in script.splitlines():
        if "innerHTML" in line or "insertAdjacentHTML" in line:
            assert "message" not in line and "errors" not in line, line
    ken = login_as("ken@example.org")
    r = ken.post(
        TIP.format(r=round_id),
        {"TIP-5.present": "1", "TIP-5.compliance": XSS},
        headers={"X-Autosave": "1"},
    )
    assert r.status_code == 422
    assert r.mimetype == "application/json"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert XSS in " ".join(r.get_json()["errors"].values())  # echoed, as JSON text only


@pytest.mark.parametrize(
    "pid",
    [
        "<script>alert(1)</script>",
        '"><svg onload=alert(1)>',
        "TIP-5%00",
        "..%2F..%2Fadmin",
        "\u202eTIP-5",
        "TIP-5'--",
    ],
)
def test_odd_provision_ids_in_urls_are_404_and_not_reflected(login_as, round_id, pid):
    ken = login_as("ken@example.org")
    token = ken.csrf(f"/fill/{round_id}/")
    responses = [
        ken.client.get(f"/fill/{round_id}/history/{pid}"),
        ken.client.post(f"/fill/{round_id}/copy/{pid}", data={"csrf_token": token, "source": pid}),
        ken.client.post(f"/fill/{round_id}/undo/{pid}", data={"csrf_token": token}),
        ken.client.get(f"/fill/{round_id}/TIP/{pid}"),
        ken.client.get(f"/fill/{pid}/"),
    ]
    notice = ken.client.get(TIP.format(r=round_id), query_string={"undo": pid})
    assert notice.status_code == 200 and "Undo the copy" not in text_of(notice)
    assert "<script>alert" not in text_of(notice) and "<svg onload" not in text_of(notice)
    for r in responses:
        assert r.status_code == 404, (pid, r.request.path, r.status_code)
        text = text_of(r)
        assert "<script>alert" not in text and "<svg onload" not in text
        assert "Traceback" not in text


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_40000_character_emoji_answer_is_saved_and_shown(login_as, db, round_id, encoding):
    answer = "😀" * 40_000
    ken = login_as("ken@example.org")
    url = TIP.format(r=round_id)
    data = {"TIP-5.present": "1", "TIP-5.measures": answer}
    if encoding == "multipart":
        data["csrf_token"] = ken.csrf(url)
        r = ken.client.post(url, data=data, content_type="multipart/form-data")
    else:
        r = ken.post(url, data)
    assert r.status_code == 302, r.status_code
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == answer
    assert answer in text_of(ken.client.get(url))


def test_a_long_answer_within_the_limit_typed_in_cyrillic_is_saved_without_javascript(
    login_as, db, round_id
):
    """MAX_TEXT is 100,000 characters; a plain (urlencoded) form post of 90,000 Cyrillic letters is
    inside it and must be saved, not refused as a whole with 413."""
    answer = "Ж" * 90_000
    ken = login_as("ken@example.org")
    r = ken.post(TIP.format(r=round_id), {"TIP-5.present": "1", "TIP-5.measures": answer})
    assert r.status_code == 302, r.status_code
    assert stored(db, round_id, "KEN", "TIP-5", "measures") == answer


# -- 4. bad input never gives 500 ------------------------------------------------------------------


def assert_no_trace(r):
    text = text_of(r)
    assert r.status_code < 500, (r.status_code, text[:300])
    assert "Traceback" not in text and 'File "' not in text


@pytest.mark.parametrize(
    "at",
    [
        "javascript:alert(1)",
        "//evil.example",
        "TIP-5\r\nSet-Cookie: x=1",
        "TIP-5#x",
        "\x00",
        "é" * 5000,
        "",
    ],
)
def test_hostile_at_values_never_leave_the_site_or_split_headers(login_as, round_id, at):
    ken = login_as("ken@example.org")
    url = TIP.format(r=round_id)
    r = ken.post(url, {"TIP-5.present": "1", "TIP-5.measures": "x", "_at": at})
    assert_no_trace(r)
    assert r.status_code == 302
    location = r.headers["Location"]
    assert location.startswith(url) and "\n" not in location and "\r" not in location
    assert "Set-Cookie: x" not in str(r.headers)
    assert location.endswith((url, url + "#TIP-5"))  # only a known provision id as anchor


def test_repeated_and_missing_fields_never_give_500(login_as, db, round_id):
    ken = login_as("ken@example.org")
    url = TIP.format(r=round_id)
    token = ken.csrf(url)
    forms = [
        MultiDict(
            [
                ("csrf_token", token),
                ("csrf_token", "bogus"),
                ("TIP-5.present", "1"),
                ("TIP-5.compliance", "not_yet"),
            ]
        ),
        MultiDict(
            [
                ("csrf_token", token),
                ("TIP-5.present", "1"),
                ("TIP-5.present", "1"),
                ("TIP-5.compliance", "not_yet"),
                ("TIP-5.compliance", "fully"),
                ("TIP-5.compliance", "<x>"),
                ("TIP-5.compliance.v", "a"),
                ("TIP-5.compliance.v", "b"),
                ("TIP-5.challenges", "zzz"),
                ("TIP-5.challenges", ""),
                ("TIP-5.measures", "a"),
                ("TIP-5.measures", "b"),
            ]
        ),
        MultiDict([("TIP-5.present", "1"), ("TIP-5.compliance", "not_yet")]),  # no CSRF token
        MultiDict([("csrf_token", "")]),
        MultiDict([("csrf_token", token), ("keep_theirs", ""), ("_at", "")]),
        MultiDict([("csrf_token", token)] + [(f"f{i}", "x") for i in range(20_000)]),
    ]
    for form in forms:
        for headers in ({}, {"X-Autosave": "1"}, {"X-Autosave": "1", "X-Render": "sections"}):
            assert_no_trace(ken.client.post(url, data=form, headers=headers))
    # Only the one form with a valid token saved anything.
    assert stored(db, round_id, "KEN", "TIP-5", "compliance") == "not_yet"


def test_replay_copy_undo_submit_with_hostile_fields_never_give_500(login_as, db, people, round_id):
    _, token = kept_replay_token(login_as, db, people, round_id, {"TIP-5.measures": "kept"})
    ken = login_as("ken@example.org")
    csrf = ken.csrf("/fill/")
    posts = [
        (f"/fill/{round_id}/replay", {"csrf_token": csrf, "replay": token, "action": "<script>"}),
        (
            f"/fill/{round_id}/replay",
            MultiDict(
                [
                    ("csrf_token", csrf),
                    ("replay", token),
                    ("replay", "x"),
                    ("action", "save"),
                    ("action", "discard"),
                ]
            ),
        ),
        (f"/fill/{round_id}/replay", {"replay": token, "action": "save"}),
        (f"/fill/{round_id}/copy/SOM-12", {"csrf_token": csrf}),
        (
            f"/fill/{round_id}/copy/SOM-12",
            {"csrf_token": csrf, "source": "TIP-12", "confirm": "1", "base.compliance": "\x00"},
        ),
        (f"/fill/{round_id}/undo/{'a' * 5000}", {"csrf_token": csrf}),
        (f"/fill/{round_id}/undo/x", {}),
        (f"/fill/{round_id}/submit", {}),
        (f"/fill/{round_id}/prefill", {"csrf_token": csrf}),
        ("/fill/9999/replay", {"csrf_token": csrf, "replay": token, "action": "save"}),
    ]
    for url, data in posts:
        assert_no_trace(ken.client.post(url, data=data))
    # Only the well-formed ones could save; the last (another round in the URL) saves the kept
    # change into the round it was made in, never into round 9999.
    assert find_response(db, "9999", "KEN") is None


def test_invalid_utf8_never_gives_500(login_as, db, round_id):
    ken = login_as("ken@example.org")
    url = TIP.format(r=round_id)
    token = ken.csrf(url)
    body = (
        b"csrf_token="
        + token.encode()
        + b"&TIP-5.present=1&TIP-5.measures=%FF%FEok\xc3\x28&TIP-5.compliance=\xff"
    )
    for headers in ({}, {"X-Autosave": "1"}):
        r = ken.client.post(
            url, data=body, content_type="application/x-www-form-urlencoded", headers=headers
        )
        assert_no_trace(r)
    raw_path = ken.client.get(f"/fill/{round_id}/history/%FF%FE")
    assert_no_trace(raw_path)


def test_huge_posts_are_refused_cleanly(login_as, round_id):
    ken = login_as("ken@example.org")
    url = TIP.format(r=round_id)
    token = ken.csrf(url)
    big = "a" * (11 * 1024 * 1024)
    r = ken.client.post(
        url, data={"csrf_token": token, "TIP-5.present": "1", "TIP-5.measures": big}
    )
    assert_no_trace(r)
    assert r.status_code == 413
    r = ken.client.post(
        url,
        data={"csrf_token": token, "TIP-5.present": "1", "TIP-5.measures": "a" * 200_000},
        content_type="multipart/form-data",
    )
    assert_no_trace(r)
    assert r.status_code == 422 and "the limit is 100,000" in text_of(r)


def test_a_too_long_arabic_answer_gets_the_named_message_and_the_rest_is_saved(
    login_as, db, round_id
):
    """docs/saving.md: an answer too long is not saved, the message names the question, and the
    rest of the chapter is saved, also for a plain (no-JavaScript, urlencoded) form post."""
    ken = login_as("ken@example.org")
    url = TIP.format(r=round_id)
    r = ken.post(
        url,
        {"TIP-5.present": "1", "TIP-5.compliance": "partly", "TIP-5.measures": "ع" * 100_001},
    )
    assert r.status_code == 422, r.status_code
    assert "the limit is 100,000" in text_of(r)
    assert stored(db, round_id, "KEN", "TIP-5", "compliance") == "partly"


def test_a_too_long_chinese_answer_in_an_autosave_gets_the_named_message_and_the_rest_is_saved(
    login_as, db, round_id
):
    """The page's autosave posts multipart FormData. A 170,000-character Chinese answer is too
    long (MAX_TEXT 100,000): the reply must name the question (422) and save the rest of the
    chapter, as for any other too-long answer, rather than refuse the whole post."""
    ken = login_as("ken@example.org")
    url = TIP.format(r=round_id)
    data = {
        "csrf_token": ken.csrf(url),
        "TIP-5.present": "1",
        "TIP-5.compliance": "partly",
        "TIP-5.measures": "中" * 170_000,
    }
    r = ken.client.post(
        url, data=data, content_type="multipart/form-data", headers={"X-Autosave": "1"}
    )
    assert r.status_code == 422, r.status_code
    assert "TIP-5.measures" in r.get_json()["errors"]
    assert stored(db, round_id, "KEN", "TIP-5", "compliance") == "partly"


@pytest.mark.parametrize("path", ["replay", "copy/SOM-12", "undo/abc", "prefill"])
def test_get_on_post_only_routes_is_405_without_a_trace(login_as, round_id, path):
    ken = login_as("ken@example.org")
    r = ken.client.get(f"/fill/{round_id}/{path}")
    assert r.status_code in (404, 405)  # copy/undo GETs fall through to the chapter route
    assert_no_trace(r)


def test_only_a_copy_can_be_undone_not_a_colleagues_ordinary_save(login_as, db, people, round_id):
    ken, ken2 = login_as("ken@example.org"), login_as("ken2@example.org")
    url = SOM.format(r=round_id)
    assert ken.post(url, {"SOM-12.present": "1", "SOM-12.measures": "Ken's law"}).status_code == 302
    save_id = db.execute(
        "SELECT save_id FROM answer_history WHERE source = 'web' ORDER BY id DESC LIMIT 1"
    ).fetchone()[0]
    token = ken2.csrf(url)
    undone = ken2.client.post(f"/fill/{round_id}/undo/{save_id}", data={"csrf_token": token})
    assert undone.status_code == 404
    response_id = find_response(db, round_id, "KEN")["id"]
    assert load_answers(db, response_id)["SOM-12"]["measures"].value == "Ken's law"
