"""Saving answers when several officials of one State edit the same response.

Every entry path (chapter form, autosave, replay after a new login, copy from a related provision,
offline import) follows one conflict rule: a change another official made after you began is never
replaced unless you were shown both versions and chose. Saves never land on a read-only response,
and a cross-site post saves nothing, before or after a login.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest
from werkzeug.datastructures import MultiDict

from tests.conftest import PASSWORD

# -- a browser's view of a page: the fields each form would submit --------------------------------


@dataclass
class Form:
    id: str | None
    action: str | None
    fields: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        values = [v for n, v in self.fields if n == name]
        return values[-1] if values else None

    def changed(self, changes: dict) -> MultiDict:
        """The form as submitted after the user set `changes`: name -> value, a list of values
        (checkboxes), or None (a radio group left unticked)."""
        kept = [(n, v) for n, v in self.fields if n not in changes]
        for name, value in changes.items():
            if value is None:
                continue
            for item in value if isinstance(value, list) else [value]:
                kept.append((name, item))
        return MultiDict(kept)


class _FormReader(HTMLParser):
    """Collects, for every form of a page, what a browser submits: hidden and text inputs, ticked
    radios and checkboxes, textareas, selected options; controls outside a form join the form
    named by their `form` attribute. Buttons are left out (the caller says which was pressed)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._current: Form | None = None
        self._orphans: list[tuple[str, str, str]] = []  # (form id, name, value)
        self._textarea: tuple[Form | str | None, str] | None = None
        self._text: list[str] = []
        self._select: tuple[Form | str | None, str] | None = None
        self._options: list[tuple[str, bool]] = []
        self._option: dict | None = None

    def _owner(self, attrs):
        return attrs.get("form") or self._current

    def _add(self, owner, name, value):
        if owner is None or not name:
            return
        if isinstance(owner, str):
            self._orphans.append((owner, name, value))
        else:
            owner.fields.append((name, value))

    def handle_starttag(self, tag, attrs):
        attrs = {k: ("" if v is None else v) for k, v in attrs}
        if tag == "form":
            self._current = Form(attrs.get("id"), attrs.get("action"))
            self.forms.append(self._current)
        elif tag == "input" and "disabled" not in attrs:
            kind = attrs.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("radio", "checkbox") and "checked" not in attrs:
                return
            self._add(self._owner(attrs), attrs.get("name"), attrs.get("value", "on"))
        elif tag == "textarea" and "disabled" not in attrs:
            self._textarea = (self._owner(attrs), attrs.get("name"))
            self._text = []
        elif tag == "select" and "disabled" not in attrs:
            self._select = (self._owner(attrs), attrs.get("name"))
            self._options = []
        elif tag == "option" and self._select is not None:
            self._option = {
                "value": attrs.get("value"),
                "selected": "selected" in attrs,
                "text": [],
            }

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)
        if self._option is not None:
            self._option["text"].append(data)

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            self._add(*self._textarea, text[1:] if text.startswith("\n") else text)
            self._textarea = None
        elif tag == "option" and self._option is not None:
            value = self._option["value"]
            if value is None:
                value = "".join(self._option["text"]).strip()
            self._options.append((value, self._option["selected"]))
            self._option = None
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [
                v for v, _ in self._options[:1]
            ]
            for value in chosen:
                self._add(*self._select, value)
            self._select = None

    def close(self):
        super().close()
        by_id = {f.id: f for f in self.forms if f.id}
        for form_id, name, value in self._orphans:
            by_id[form_id].fields.append((name, value))


def page_form(html: str, *, form_id: str | None = None, action: str | None = None) -> Form:
    """The one form of the page with this id or action (the chapter form: 'chapter-form')."""
    reader = _FormReader()
    reader.feed(html)
    reader.close()
    found = [
        f
        for f in reader.forms
        if (form_id is None or f.id == form_id) and (action is None or f.action == action)
    ]
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert len(found) == 1, (
        f"expected one form {form_id or action}, found {len(found)} on the page"
        f" '{title.group(1).strip() if title else html[:200]}'"
    )
    return found[0]


def text_of(response) -> str:
    return response.get_data(as_text=True)


# -- the scene: two officials of Kenya with the same chapter open ---------------------------------

# Both mandatory: fully / partly / not_yet / na.
TARGET = "SOM-12"  # cross-referenced with TIP-12 (security and control of documents)
SOURCE = "TIP-12"
FIRST_LAW = "Travel Documents Act 2011, s. 4 (first official)"


@dataclass
class Scene:
    db: object
    model: object
    round_id: str
    response_id: int
    people: dict
    first: object  # tests.conftest.Actions, logged in as ken
    second: object  # logged in as ken2
    chapter_url: str
    first_page: str = ""
    second_page: str = ""
    second_file: bytes = b""

    def stored(self, question: str):
        from survey.storage.responses import load_answers

        answer = load_answers(self.db, self.response_id, [TARGET]).get(TARGET, {}).get(question)
        return answer.value if answer else None

    def changes(self, question: str) -> list[tuple[object, str, str]]:
        """(new value, who, source) of every change to TARGET's `question`, newest first."""
        from survey.storage.responses import history

        return [
            (row["new_value"], row["changed_by_email"], row["source"])
            for row in history(self.db, self.response_id, TARGET)
            if row["question"] == question
        ]


@pytest.fixture
def scene(db, people, round_id, questionnaire, login_as):
    """Kenya's response with TIP-12 answered (so SOM-12 offers a copy); both officials open the
    SOM-12 chapter and the second also downloads the offline file: the same starting state."""
    from survey.exports.offline import export_offline
    from survey.responding import save_provision
    from survey.storage.responses import get_or_create_response

    response = get_or_create_response(db, round_id, "KEN")
    save_provision(
        db, response["id"], SOURCE, {"compliance": "partly"}, user_id=people["ken"]["id"]
    )
    chapter = questionnaire.chapter_of(questionnaire.provisions[TARGET])
    s = Scene(
        db,
        questionnaire,
        round_id,
        response["id"],
        people,
        login_as("ken@example.org"),
        login_as("ken2@example.org"),
        f"/fill/{round_id}/SOM/{chapter.id}",
    )
    pages = [s.first.client.get(s.chapter_url), s.second.client.get(s.chapter_url)]
    assert [p.status_code for p in pages] == [200, 200], text_of(pages[0])[:300]
    s.first_page, s.second_page = (text_of(p) for p in pages)
    out = io.BytesIO()
    export_offline(db, questionnaire, round_id, "KEN", out)
    s.second_file = out.getvalue()
    return s


def first_official_saves(s: Scene, case: str) -> None:
    """The first official changes the same answer the second will (compliance), or another answer
    of the same provision (measures), and saves from the page they opened."""
    change = (
        {f"{TARGET}.compliance": "not_yet"}
        if case == "same answer"
        else {f"{TARGET}.measures": FIRST_LAW}
    )
    form = page_form(s.first_page, form_id="chapter-form")
    saved = s.first.client.post(s.chapter_url, data=form.changed(change))
    assert saved.status_code == 302, text_of(saved)[:500]


# -- the second official's paths: attempt, then (when shown both versions) choose their own -------


def _chapter_post(s: Scene, page: str, change: dict, **kwargs):
    form = page_form(page, form_id="chapter-form")
    return s.second.client.post(s.chapter_url, data=form.changed(change), **kwargs)


BOTH_VERSIONS = re.compile(
    r"<strong>Their version</strong> \(ken@example\.org, [^)]+\): Not yet</p>\s*"
    r"<p><strong>Your version</strong>: Partly</p>"
)


def _shows_both_versions(html: str) -> None:
    """The compliance question shows the first official's 'Not yet' (who, when) next to 'Partly'."""
    question = html[html.index(f'id="f-{TARGET}.compliance"') :]
    assert BOTH_VERSIONS.search(question[: question.index("</fieldset>")])


def _assert_both_versions_on_page(response) -> None:
    assert response.status_code == 409, text_of(response)[:500]
    text = text_of(response)
    assert "changed by ken@example.org" in text
    _shows_both_versions(text)


def _save_again_from(s: Scene, response):
    """The second official, shown both versions, presses Save: their version is kept."""
    again = _chapter_post(s, text_of(response), {})
    assert again.status_code == 302, text_of(again)[:500]
    return again


# form


def form_attempt(s: Scene):
    return _chapter_post(s, s.second_page, {f"{TARGET}.compliance": "partly"})


def form_saved(s: Scene, result):
    assert result.status_code == 302, text_of(result)[:500]


def form_choose(s: Scene, result):
    _assert_both_versions_on_page(result)
    _save_again_from(s, result)


# autosave: fill.js posts the CSRF token, '_at' and every field of the edited provisions, with
# X-Autosave: 1; its Save button does the same with X-Render: sections and swaps in the returned
# sections (both versions, and the other person's token) while keeping what the user typed.

AUTOSAVE = {"X-Autosave": "1"}
SAVE_BUTTON = {"X-Autosave": "1", "X-Render": "sections"}


def _provision_fields(data: MultiDict) -> MultiDict:
    return MultiDict(
        [
            (n, v)
            for n, v in data.items(multi=True)
            if n in ("csrf_token", "_at") or n.startswith(f"{TARGET}.")
        ]
    )


def autosave_attempt(s: Scene):
    form = page_form(s.second_page, form_id="chapter-form")
    typed = form.changed({f"{TARGET}.compliance": "partly", "_at": TARGET})
    result = s.second.client.post(s.chapter_url, data=_provision_fields(typed), headers=AUTOSAVE)
    result.typed = typed  # the page as it stands in the browser
    return result


def autosave_saved(s: Scene, result):
    assert result.status_code == 200, result.get_json()
    assert f"{TARGET}.compliance" in result.get_json()["saved"]


def autosave_choose(s: Scene, result):
    assert result.status_code == 409, result.get_json()
    body = result.get_json()
    assert [(c["field"], c["theirs_by"]) for c in body["conflicts"]] == [
        (f"{TARGET}.compliance", "ken@example.org")
    ]
    assert f"{TARGET}.compliance.v" not in body["tokens"]  # the page keeps its starting point
    # "Press Save to see both versions and choose": the page applies the tokens it got and saves.
    typed = MultiDict(result.typed)
    for name, token in body["tokens"].items():
        typed.setlist(name, [token])
    shown = s.second.client.post(s.chapter_url, data=_provision_fields(typed), headers=SAVE_BUTTON)
    assert shown.status_code == 409, shown.get_json()
    section = shown.get_json()["sections"][TARGET]
    _shows_both_versions(section)
    assert s.stored("compliance") == "not_yet"
    # The section is swapped in (its tokens now say the user has seen their version); the user's
    # typed answers stay; Save again keeps the user's version.
    fresh = page_form(f'<form id="section">{section}</form>', form_id="section")
    for name, value in fresh.fields:
        if name.endswith(".v"):
            typed.setlist(name, [value])
    again = s.second.client.post(s.chapter_url, data=_provision_fields(typed), headers=SAVE_BUTTON)
    assert again.status_code == 200, again.get_json()
    assert f"{TARGET}.compliance" in again.get_json()["saved"]


# replay after a new login


def replay_attempt(s: Scene):
    s.db.execute(
        "UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00Z' WHERE user_id = ?",
        [s.people["ken2"]["id"]],
    )
    expired = _chapter_post(s, s.second_page, {f"{TARGET}.compliance": "partly"})
    assert expired.status_code == 401
    login = page_form(text_of(expired), action="/login")
    assert login.get("replay"), "the post of a real (expired) session is kept"
    review = s.second.client.post(
        "/login", data=login.changed({"email": "ken2@example.org", "password": PASSWORD})
    )
    assert review.status_code == 200
    text = text_of(review)
    assert "Changes kept from your expired session" in text
    row = re.search(rf"<tr><td>{TARGET}</td>.*?</tr>", text)
    assert row, "the kept change is listed"
    # Next to the change, what is saved now: the first official's answer where they overlap.
    now_saved = (
        "<td>Not yet</td>"
        if s.stored("compliance") == "not_yet"
        else '<span class="muted">—</span>'
    )
    assert now_saved in row.group(0) and "<td>Partly</td>" in row.group(0)
    assert s.stored("compliance") in (None, "not_yet")  # nothing saved before the confirmation
    confirm = page_form(text, action=f"/fill/{s.round_id}/replay")
    return s.second.client.post(
        f"/fill/{s.round_id}/replay", data=confirm.changed({"action": "save"})
    )


# copy from a related provision (TIP-12 says 'partly')


def copy_attempt(s: Scene):
    form = page_form(s.second_page, form_id=f"copy-{TARGET}-{SOURCE}")
    assert form.get("source") == SOURCE
    return s.second.client.post(form.action, data=form.changed({}))


def copy_choose(s: Scene, result):
    assert result.status_code == 200, text_of(result)[:500]
    text = text_of(result)
    assert "Replace my answers with the copy" in text
    row = re.search(r'<tr class="replaces">.*?</tr>', text).group(0)
    assert "<td>Not yet</td><td>Partly</td>" in row  # their answer now, and the copy
    confirm = page_form(text, action=f"/fill/{s.round_id}/copy/{TARGET}")
    done = s.second.client.post(confirm.action, data=confirm.changed({}))
    assert done.status_code == 302, text_of(done)[:500]


# offline file, downloaded before the first official's change


def _file_with_partly(s: Scene) -> tuple[bytes, str]:
    from openpyxl import load_workbook

    from survey.exports.offline import ANSWER_COL, KEY_COL, PROVISION_COL

    wb = load_workbook(io.BytesIO(s.second_file))
    ws = wb["SOM"]
    for row in range(2, ws.max_row + 1):
        if (
            ws.cell(row, PROVISION_COL).value == TARGET
            and ws.cell(row, KEY_COL).value == "compliance"
        ):
            ws.cell(row, ANSWER_COL).value = "Partly"
            out = io.BytesIO()
            wb.save(out)
            return out.getvalue(), f"SOM!F{row}"
    raise AssertionError("no SOM-12 compliance row in the offline file")


def _import(s: Scene, data: bytes, **kwargs):
    from survey.exports.offline import import_offline

    return import_offline(
        s.db,
        s.model,
        s.round_id,
        "KEN",
        io.BytesIO(data),
        user_id=s.people["ken2"]["id"],
        **kwargs,
    )


@dataclass
class OfflineAttempt:
    data: bytes
    cell: str
    result: object = None
    error: Exception | None = None


def offline_attempt(s: Scene):
    from survey.exports.offline import OfflineImportError

    data, cell = _file_with_partly(s)
    attempt = OfflineAttempt(data, cell)
    try:
        attempt.result = _import(s, data)
    except OfflineImportError as exc:
        attempt.error = exc
    return attempt


def offline_saved(s: Scene, attempt):
    assert attempt.error is None, attempt.error
    assert (TARGET, "compliance") in attempt.result.changes


def offline_choose(s: Scene, attempt):
    assert attempt.error is not None, "the import must not replace a newer web answer silently"
    [message] = attempt.error.messages
    assert message.startswith(f"{attempt.cell}: this answer was changed on the web by ken@")
    assert "it is now 'not_yet'; the file says 'partly'" in message
    result = _import(s, attempt.data, overwrite=True)  # "replace newer answers", chosen
    assert (TARGET, "compliance") in result.changes


@dataclass(frozen=True)
class EntryPath:
    name: str
    attempt: Callable
    saved: Callable  # asserts the attempt saved (no overlap)
    choose: Callable  # asserts both versions were shown, then chooses the second's version
    source: str  # history source of the second official's save without overlap
    chosen_source: str  # ... and of the save that follows their choice


PATHS = [
    EntryPath("form", form_attempt, form_saved, form_choose, "web", "web"),
    EntryPath(
        "autosave", autosave_attempt, autosave_saved, autosave_choose, "autosave", "autosave"
    ),
    EntryPath("replay", replay_attempt, form_saved, form_choose, "replay", "web"),
    EntryPath("copy", copy_attempt, form_saved, copy_choose, f"copy:{SOURCE}", f"copy:{SOURCE}"),
    EntryPath("offline", offline_attempt, offline_saved, offline_choose, "offline", "offline"),
]


@pytest.mark.parametrize("case", ["same answer", "different answers"])
@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_two_officials_never_replace_each_others_answers_silently(scene, path, case):
    s = scene
    first_official_saves(s, case)
    result = path.attempt(s)
    if case == "different answers":
        # Both changes are kept: the second official's answer and the first's law.
        path.saved(s, result)
        assert s.stored("compliance") == "partly"
        assert s.stored("measures") == FIRST_LAW
        assert s.changes("compliance") == [("partly", "ken2@example.org", path.source)]
        assert s.changes("measures") == [(FIRST_LAW, "ken@example.org", "web")]
        return
    # The same answer: the first official's value stays until the second has seen both and chosen.
    assert s.stored("compliance") == "not_yet", f"{path.name} replaced a newer answer silently"
    assert s.changes("compliance") == [("not_yet", "ken@example.org", "web")]
    path.choose(s, result)
    assert s.stored("compliance") == "partly"
    assert s.changes("compliance") == [
        ("partly", "ken2@example.org", path.chosen_source),
        ("not_yet", "ken@example.org", "web"),
    ]


def test_keeping_their_version_after_a_conflict_keeps_it_and_saves_the_rest(scene):
    s = scene
    first_official_saves(s, "same answer")
    clash = _chapter_post(
        s, s.second_page, {f"{TARGET}.compliance": "partly", f"{TARGET}.measures": "Act 3"}
    )
    _assert_both_versions_on_page(clash)
    assert s.stored("measures") == "Act 3"  # everything else on the page was saved
    kept = _chapter_post(s, text_of(clash), {"keep_theirs": f"{TARGET}.compliance"})
    assert kept.status_code == 302
    assert s.stored("compliance") == "not_yet"
    assert s.changes("compliance") == [("not_yet", "ken@example.org", "web")]


def test_a_copy_confirmed_after_a_newer_change_copies_nothing(scene):
    s = scene
    first_official_saves(s, "same answer")
    shown = copy_attempt(s)
    confirm = page_form(text_of(shown), action=f"/fill/{s.round_id}/copy/{TARGET}")
    # While the second official reads the confirmation page, the first changes the answer again.
    page = text_of(s.first.client.get(s.chapter_url))
    form = page_form(page, form_id="chapter-form")
    assert s.first.client.post(
        s.chapter_url, data=form.changed({f"{TARGET}.compliance": "fully"})
    ).status_code == (302)
    done = s.second.client.post(confirm.action, data=confirm.changed({}), follow_redirects=True)
    assert "Not copied" in text_of(done)
    assert s.stored("compliance") == "fully"
    assert [c[0] for c in s.changes("compliance")] == ["fully", "not_yet"]


# -- saves racing a status change -----------------------------------------------------------------


RACE_PROVISION = "TIP-5"


def _instrument_status_changes(db) -> None:
    """Record, inside each status change's own transaction, the last answer_history id: every
    history row with a larger id was committed after the status change (ids grow in commit order
    because writes are serialized; changed_at has only one-second resolution)."""
    db.execute(
        "CREATE TABLE race_marks (event_id INTEGER PRIMARY KEY, last_history_id INTEGER NOT NULL)"
    )
    db.execute(
        "CREATE TRIGGER race_mark AFTER INSERT ON response_events BEGIN"
        " INSERT INTO race_marks VALUES"
        " (NEW.id, (SELECT coalesce(max(id), 0) FROM answer_history)); END"
    )


def _saver(db_path, response_id, worker, stop, started, outcome):
    from survey.responding import Edit, SaveRefused, save_answers
    from survey.storage import connect

    db = connect(db_path, migrate=False)
    try:
        for i in range(100_000):
            if stop.is_set():
                break
            edit = Edit(RACE_PROVISION, "measures", f"worker {worker} save {i}", None)
            try:
                save_answers(db, response_id, [edit], user_id=None, source="race", overwrite=True)
                outcome["saved"] += 1
            except SaveRefused as exc:
                assert exc.code == "read_only", exc.message
                outcome["refused"] += 1
            started.set()
    except BaseException as exc:  # reported by the test, not lost in the thread
        outcome["error"] = exc
    finally:
        db.conn.close()


def test_saves_racing_submit_validate_and_return_never_land_on_a_read_only_response(
    db_path, db, round_id
):
    from survey.storage.responses import change_status, get_or_create_response

    _instrument_status_changes(db)
    response_id = get_or_create_response(db, round_id, "KEN")["id"]
    trials = 20
    for trial in range(trials):
        stop = threading.Event()
        workers = []
        for worker in range(3):
            started = threading.Event()
            outcome = {"saved": 0, "refused": 0, "error": None}
            thread = threading.Thread(
                target=_saver, args=(db_path, response_id, worker, stop, started, outcome)
            )
            workers.append((thread, started, outcome))
            thread.start()
        try:
            for _thread, started, _outcome in workers:
                assert started.wait(10), "a saver did not start"
            # Saves are landing; now the State submits, the secretariat validates, then returns.
            change_status(db, response_id, "submitted", user_id=None)
            change_status(db, response_id, "validated", user_id=None)
            change_status(db, response_id, "returned", user_id=None, comment=f"trial {trial}")
        finally:
            stop.set()
            for thread, _started, _outcome in workers:
                thread.join(30)
        for thread, _started, outcome in workers:
            assert not thread.is_alive()
            assert outcome["error"] is None, repr(outcome["error"])
    # Every answer change was committed while the response was editable: never between a change
    # into 'submitted' or 'validated' and the next change back into 'returned'.
    timeline = db.execute(
        "SELECT e.to_status, m.last_history_id FROM response_events e"
        " JOIN race_marks m ON m.event_id = e.id WHERE e.response_id = ? ORDER BY e.id",
        [response_id],
    ).fetchall()
    assert len(timeline) == 3 * trials
    changes = [
        row[0]
        for row in db.execute(
            "SELECT id FROM answer_history WHERE response_id = ? ORDER BY id", [response_id]
        )
    ]
    assert changes, "no save landed at all: the race never happened"
    read_only = []
    for (to_status, mark), following in zip(timeline, timeline[1:] + [(None, None)], strict=True):
        if to_status in ("submitted", "validated"):
            end = following[1] if following[1] is not None else float("inf")
            read_only += [i for i in changes if mark < i <= end]
    assert read_only == [], f"{len(read_only)} answer change(s) saved into a read-only response"
    # The saves did race each submission: in every trial some landed just before it.
    opened = 0
    for to_status, mark in timeline:
        if to_status == "submitted":
            assert any(opened < i <= mark for i in changes), "no save raced this submission"
        if to_status == "returned":
            opened = mark


# -- cross-site posts ------------------------------------------------------------------------------

CHAPTER = "/fill/{round}/TIP/general_provisions"
FORGED = {
    "TIP-5.present": "1",
    "TIP-5.compliance": "not_yet",
    "TIP-5.measures": "Forged by another site",
}
KEPT = "Changes kept from your expired session"


def _nothing_saved(db, round_id):
    from survey.storage.responses import find_response, load_answers

    for iso3 in ("KEN", "FRA"):
        response = find_response(db, round_id, iso3)
        assert response is None or load_answers(db, response["id"]) == {}, iso3


def _log_in_from(browser, page: str, email: str):
    """Submit the login form of `page` as the browser shows it (hidden fields included)."""
    login = page_form(page, action="/login")
    return browser.post(
        "/login",
        data=login.changed({"email": email, "password": PASSWORD}),
        follow_redirects=True,
    )


@pytest.mark.parametrize(
    "who",
    ["ken@example.org", "ken2@example.org", "fra@example.org"],
    ids=["same", "colleague", "other-state"],
)
@pytest.mark.parametrize(
    "extra",
    [{}, {"replay": "forged.token", "next": "/fill/"}],
    ids=["plain", "with-forged-replay"],
)
def test_a_cross_site_post_saves_nothing_before_or_after_a_login(
    app, people, db, round_id, who, extra
):
    browser = app.test_client()  # a cross-site auto-submitted form arrives without any cookie
    url = CHAPTER.format(round=round_id)
    forged = browser.post(url, data={**FORGED, **extra})
    assert forged.status_code == 401
    page = text_of(forged)
    assert "could not be kept on the server" in page
    assert "The changes you were saving are held in this page" not in page
    landed = _log_in_from(browser, page, who)
    assert landed.status_code == 200
    assert KEPT not in text_of(landed)
    assert "Forged by another site" not in text_of(landed)
    assert "Forged by another site" not in text_of(browser.get(url))
    _nothing_saved(db, round_id)


def test_the_login_page_after_a_cross_site_post_takes_no_hidden_field_from_that_post(
    app, people, round_id
):
    # PRODUCT BUG (reported): login_page_for_expired_post builds LoginForm(next=request.path,
    # replay=token), but Flask-WTF fills the form from the posted data first, so a forged post's
    # own 'replay' and 'next' fields end up in the login form. The signature check at login still
    # refuses another user's token, so nothing is saved; the page should still carry only what
    # the server decided (no token, and the chapter as the place to return to).
    browser = app.test_client()
    url = CHAPTER.format(round=round_id)
    forged = browser.post(url, data={**FORGED, "replay": "forged.token", "next": "/fill/"})
    login = page_form(text_of(forged), action="/login")
    assert (login.get("replay"), login.get("next")) == ("", url)


@pytest.mark.parametrize("autosave", [False, True], ids=["form", "autosave"])
def test_a_post_with_a_live_session_and_a_wrong_csrf_token_saves_nothing(
    login_as, db, round_id, autosave
):
    ken = login_as("ken@example.org")
    url = CHAPTER.format(round=round_id)
    headers = {"X-Autosave": "1"} if autosave else {}
    refused = ken.client.post(url, data={**FORGED, "csrf_token": "wrong"}, headers=headers)
    assert refused.status_code == 400
    _nothing_saved(db, round_id)
    assert KEPT not in text_of(ken.client.get("/", follow_redirects=True))


def test_a_post_with_an_expired_session_and_a_wrong_csrf_token_is_not_kept(login_as, db, round_id):
    ken = login_as("ken@example.org")
    url = CHAPTER.format(round=round_id)
    db.execute("UPDATE sessions SET last_seen_at = '2000-01-01T00:00:00Z'")
    refused = ken.client.post(url, data={**FORGED, "csrf_token": "wrong"})
    assert refused.status_code == 401
    page = text_of(refused)
    assert not page_form(page, action="/login").get("replay")
    landed = _log_in_from(ken.client, page, "ken@example.org")
    assert landed.status_code == 200 and KEPT not in text_of(landed)
    _nothing_saved(db, round_id)


def test_tokens_of_the_earlier_16_hex_length_still_match_after_the_upgrade(db, round_id):
    """Pages and offline files made before tokens were shortened carry 16 hex characters; an
    answer saved from one is a change when it differs, and never a conflict for that reason."""
    import hashlib
    import json

    from survey.responding import Edit, save_answers, save_provision
    from survey.responding.tokens import TOKEN_LENGTH, answer_token, matches
    from survey.storage.responses import get_or_create_response, load_answers

    def old_token(value) -> str:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    assert TOKEN_LENGTH == 12 and len(answer_token("x")) == 12
    assert matches(old_token("Act 1"), "Act 1") and not matches(old_token("Act 1"), "Act 2")
    assert not matches(None, None)
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "TIP-5", {"measures": "Act 1"}, user_id=None)
    outcome = save_answers(
        db,
        response["id"],
        [Edit("TIP-5", "measures", "Act 2", old_token("Act 1"))],
        user_id=None,
        source="form",
    )
    assert not outcome.conflicts and outcome.changed == [("TIP-5", "measures")]
    # A stale old token (the answer changed since) is still a conflict, as before.
    outcome = save_answers(
        db,
        response["id"],
        [Edit("TIP-5", "measures", "Act 3", old_token("Act 1"))],
        user_id=None,
        source="form",
    )
    assert (
        outcome.conflicts and load_answers(db, response["id"])["TIP-5"]["measures"].value == "Act 2"
    )


@pytest.mark.parametrize(
    "value",
    [
        "fully",
        'quote " inside',
        "back\\slash",
        "tab\there",
        "line\nbreak",
        "\u2028",
        "x\x00y",
        "",
        "é中ع",
        '"',
        "\\",
        ["a", "b"],
        [],
        3,
        0.5,
        True,
        None,
        {"k": "v"},
    ],
)
def test_a_stored_value_decodes_to_what_was_encoded(value):
    """decode() skips the JSON parser for plain strings: it must agree with it on every value."""
    import json

    from survey.storage.responses import decode, encode

    text = encode(value)
    assert decode(text) == json.loads(text) == value
