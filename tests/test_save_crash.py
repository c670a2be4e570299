"""A server killed in the middle of many chapter saves leaves every save whole or absent.

The real production server (`survey serve`: gunicorn, several workers and threads) takes 16
concurrent saves of a large chapter, each changing every answer it posts; the whole process group
is then killed with SIGKILL. Opening the database afterwards must find it intact, every
acknowledged save complete, and no save half-written.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest

from tests.conftest import ANSWER_TOKEN, CSRF, PASSWORD
from tests.live import running_server

WORKERS = 16
CHAPTER = "UNTOC/international_cooperation"  # the largest chapter of UNTOC: 37 provisions
SAVES_PER_WORKER = 200  # an upper bound; the server is killed long before
DEADLINE = 40  # seconds for the whole test, well inside a minute


class Browser:
    """One official's browser: its own connection, source address and session cookie.

    Each browser connects from its own loopback address (127.0.0.x), as offices behind different
    addresses would, so the login rate limit (per address) sees 16 different people.
    """

    def __init__(self, port: int, number: int):
        self.port = port
        self.source = f"127.0.0.{10 + number}"
        self.cookies: dict[str, str] = {}
        self.conn = None

    def request(self, method: str, path: str, form: list | None = None):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=15, source_address=(self.source, 0)
            )
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        for cookie in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, text

    def login(self, email: str) -> None:
        status, page = self.request("GET", "/login")
        assert status == 200, status
        csrf = CSRF.search(page).group(1)
        status, _ = self.request(
            "POST", "/login", [("email", email), ("password", PASSWORD), ("csrf_token", csrf)]
        )
        assert status == 302, f"login of {email} answered {status}"

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@dataclass
class Worker:
    number: int
    email: str
    acknowledged: list[int] = field(default_factory=list)  # saves answered with 302
    posting: bool = False  # a save was sent and not yet answered
    error: BaseException | None = None
    done: bool = False


def marker(worker: int, save: int) -> str:
    return f"w{worker} s{save} "


# Two codes of each obligation level's scale, so every save changes every compliance answer.
ALTERNATING = {
    "mandatory": ("fully", "not_yet"),
    "consider": ("adopted", "not_yet_considered"),
    "optional": ("used", "not_used"),
}


def chapter_post(page: str, provisions, worker: int, save: int) -> list[tuple[str, str]]:
    """The whole chapter as a browser posts it, with every answer changed by this save."""
    csrf = CSRF.search(page).group(1)
    tokens = dict(ANSWER_TOKEN.findall(page))
    form = [("csrf_token", csrf), ("_at", "")]
    for provision in provisions:
        form += [
            (f"{provision.id}.present", "1"),
            (f"{provision.id}.compliance", ALTERNATING[provision.obligation][save % 2]),
            (f"{provision.id}.compliance.v", tokens[f"{provision.id}.compliance"]),
            (f"{provision.id}.measures", f"{marker(worker, save)}{provision.id}"),
            (f"{provision.id}.measures.v", tokens[f"{provision.id}.measures"]),
        ]
    return form


def run_worker(worker: Worker, port: int, url: str, provisions, stop: threading.Event):
    browser = Browser(port, worker.number)
    try:
        browser.login(worker.email)
        for save in range(SAVES_PER_WORKER):
            if stop.is_set():
                break
            status, page = browser.request("GET", url)
            assert status == 200, f"chapter page answered {status}"
            form = chapter_post(page, provisions, worker.number, save)
            worker.posting = True
            status, text = browser.request("POST", url, form)
            worker.posting = False
            assert status == 302, f"save answered {status}: {text[:300]}"
            worker.acknowledged.append(save)
    except (OSError, http.client.HTTPException) as exc:
        if not stop.is_set():  # before the kill, a broken connection is a failure
            worker.error = exc
    except BaseException as exc:
        worker.error = exc
    finally:
        worker.done = True
        browser.close()


@dataclass
class Served:
    path: object
    port: int
    server: subprocess.Popen
    emails: list[str]
    log: object

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def served(tmp_path):
    """A prepared database with one respondent in each of 16 States, served by `survey serve`."""
    from survey.setup import prepare
    from survey.storage.users import create_user

    path = tmp_path / "survey.db"
    db, _message = prepare(path)
    states = [row[0] for row in db.execute("SELECT iso3 FROM states ORDER BY iso3 LIMIT ?", [16])]
    emails = []
    for number, iso3 in enumerate(states):
        email = f"official{number}@{iso3.lower()}.example.org"
        create_user(db, email, "respondent", state_iso3=iso3, password=PASSWORD)
        emails.append(email)
    db.conn.close()
    # Threaded workers: 16 saves truly in flight at once when the server is killed.
    with running_server(path, tmp_path, worker_class="gthread") as (port, server, log):
        yield Served(path, port, server, emails, log)


def test_killing_the_server_mid_save_leaves_every_chapter_save_whole_or_absent(
    served, questionnaire
):
    started = time.monotonic()
    path, port, server, emails = served.path, served.port, served.server, served.emails
    chapter = questionnaire.chapters[CHAPTER]
    provisions = chapter.provisions
    assert len(provisions) >= 30
    with closing(sqlite3.connect(path)) as conn:
        [(round_id,)] = conn.execute("SELECT id FROM rounds").fetchall()
    url = f"/fill/{round_id}/UNTOC/{chapter.id}"
    stop = threading.Event()
    workers = [Worker(number, email) for number, email in enumerate(emails)]
    threads = [
        threading.Thread(target=run_worker, args=(w, port, url, provisions, stop)) for w in workers
    ]
    for thread in threads:
        thread.start()
    try:
        # Let every official get at least one save through, then kill while saves are in flight.
        while time.monotonic() - started < DEADLINE - 15:
            errors = [w.error for w in workers if w.error is not None]
            assert not errors, f"{errors[0]!r}\n{served.log_tail()}"
            if all(w.acknowledged for w in workers) and sum(w.posting for w in workers) >= 4:
                break
            time.sleep(0.02)
        in_flight = sum(w.posting for w in workers)
        stop.set()
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(20)
    assert not any(t.is_alive() for t in threads)
    errors = [w.error for w in workers if w.error is not None]
    assert not errors, f"{errors[0]!r}\n{served.log_tail()}"
    assert all(w.acknowledged for w in workers), "some official never saved before the kill"
    assert in_flight >= 1, "the server was not killed in the middle of a save"

    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        posted = 2 * len(provisions)  # compliance and measures of every provision
        per_save = conn.execute(
            "SELECT save_id, count(*) FROM answer_history GROUP BY save_id"
        ).fetchall()
        half = [(save_id, n) for save_id, n in per_save if n != posted]
        assert half == [], f"{len(half)} half-saved chapter(s) of {len(per_save)}"
        for worker in workers:
            saves = {}
            for (value,) in conn.execute(
                "SELECT new_value FROM answer_history WHERE new_value LIKE ?",
                [f'"w{worker.number} s%'],
            ):
                save = int(re.match(r'"w\d+ s(\d+) ', value).group(1))
                saves[save] = saves.get(save, 0) + 1
            assert set(saves.values()) == {len(provisions)}, (worker.number, saves)
            # Every acknowledged save is there; at most the one in flight is there unacknowledged.
            assert set(worker.acknowledged) <= set(saves), (worker.number, worker.acknowledged)
            assert len(set(saves) - set(worker.acknowledged)) <= 1
        # The answers themselves: each State's chapter is the whole of one save.
        for (response_id,) in conn.execute("SELECT id FROM responses"):
            measures = [
                value
                for (value,) in conn.execute(
                    "SELECT value FROM answers WHERE response_id = ? AND question = 'measures'",
                    [response_id],
                )
            ]
            assert len(measures) == len(provisions)
            assert len({re.match(r'"(w\d+ s\d+) ', v).group(1) for v in measures}) == 1
    finally:
        conn.close()
    assert time.monotonic() - started < DEADLINE
