"""`survey serve` under 20 simulated users, once per gunicorn worker class: which default is faster.

Usage: python benchmarks/serve_load.py [--mix focal|mixed] [--seconds 20] [--rounds 2]
       [--users 20] [--workers N]

One demo database (193 States, two rounds) is built once; each run serves a fresh copy of it with
a real `survey serve` (same worker count for both classes, the default threads for gthread).
Runs are interleaved A B B A ... so that a change in the machine's load (it is shared) falls on
both classes alike. Each simulated user logs in once, from its own loopback address (the login
limit is per address), then loops with no think time:

- respondents, each for its own State: the round overview, one chapter page (UNTOC
  international cooperation, 37 provisions), a save of that chapter changing every answer it
  posts (answered 302), as focal points do;
- analysts: the round dashboard, the regional priorities, the list of responses.

`--mix focal` (the default): all users are respondents, the rush before a submission deadline.
`--mix mixed`: 16 respondents and the rest analysts reading reports with no pause, which is far
more report traffic than a real secretariat makes: a stress case for slow pages.

Printed per run and per worker class: requests per second, latency p50/p95/max in ms, errors
(any status other than 200, or 302 for a save), and p50 per kind of request. Each user is its
own process (one_run says why). Only the standard library and the survey package are used.
Timings never gate anything; the script prints figures. The machine's load average is printed
at the start and the end: on a shared machine, compare only runs of one invocation.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PASSWORD = "load test password 2026"  # noqa: S105 - an account in a throwaway database
CHAPTER = "UNTOC/international_cooperation"
RESPONDENTS = 16
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
ANSWER_TOKEN = re.compile(r'name="([^"]+)\.v" value="([0-9a-f]{12,16})"')
ALTERNATING = {
    "mandatory": ("fully", "not_yet"),
    "consider": ("adopted", "not_yet_considered"),
    "optional": ("used", "not_used"),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_database(
    directory: Path, users: int, respondents: int
) -> tuple[Path, str, list[str], list[str]]:
    """The demo database plus load-test accounts: (path, round id, respondents, analysts)."""
    from survey.demo import CURRENT_ROUND, generate_demo
    from survey.questionnaire import get_questionnaire
    from survey.setup import prepare
    from survey.storage.users import create_user

    path = directory / "survey.db"
    db, _ = prepare(path)
    generate_demo(db, get_questionnaire())
    # States whose current response can still be saved (none, a draft or returned).
    open_states = [
        row[0]
        for row in db.execute(
            "SELECT iso3 FROM states WHERE iso3 NOT IN (SELECT state_iso3 FROM responses "
            "WHERE round_id = ? AND status IN ('submitted', 'validated')) ORDER BY iso3",
            [CURRENT_ROUND],
        )
    ][:respondents]
    respondent_emails, analyst_emails = [], []
    for iso3 in open_states:
        email = f"load.{iso3.lower()}@load.example"
        create_user(db, email, "respondent", state_iso3=iso3, password=PASSWORD)
        respondent_emails.append(email)
    for number in range(users - len(open_states)):
        email = f"load.analyst{number}@load.example"
        create_user(db, email, "analyst", password=PASSWORD)
        analyst_emails.append(email)
    db.conn.close()
    return path, CURRENT_ROUND, respondent_emails, analyst_emails


class Browser:
    """One user's browser: its own keep-alive connection, source address and cookies."""

    def __init__(self, port: int, number: int):
        self.port = port
        self.source = f"127.0.0.{10 + number}"
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, form: list | None = None) -> tuple[int, str]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(
                "127.0.0.1", self.port, timeout=60, source_address=(self.source, 0)
            )
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            self.conn.close()
            self.conn = None
            raise
        for cookie in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = cookie.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.conn.close()  # sync workers close after each response
            self.conn = None
        return response.status, text

    def login(self, email: str) -> None:
        status, page = self.request("GET", "/login")
        csrf = CSRF.search(page).group(1)
        status, _ = self.request(
            "POST", "/login", [("email", email), ("password", PASSWORD), ("csrf_token", csrf)]
        )
        if status != 302:
            raise RuntimeError(f"login of {email} answered {status}")


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # seconds, one per request
    kinds: list[str] = field(default_factory=list)  # what each request was, same order
    errors: int = 0


def timed(browser, tally: Tally, kind: str, method: str, path: str, form=None, ok=200) -> str:
    start = time.perf_counter()
    try:
        status, text = browser.request(method, path, form)
    except (OSError, http.client.HTTPException):
        tally.errors += 1
        return ""
    tally.latencies.append(time.perf_counter() - start)
    tally.kinds.append(kind)
    if status != ok:
        tally.errors += 1
    return text


def save_form(page: str, provisions, user: int, save: int) -> list[tuple[str, str]] | None:
    match = CSRF.search(page)
    if not match:
        return None
    tokens = dict(ANSWER_TOKEN.findall(page))
    form = [("csrf_token", match.group(1)), ("_at", "")]
    for provision in provisions:
        form += [
            (f"{provision.id}.present", "1"),
            (f"{provision.id}.compliance", ALTERNATING[provision.obligation][save % 2]),
            (f"{provision.id}.compliance.v", tokens.get(f"{provision.id}.compliance", "")),
            (f"{provision.id}.measures", f"load user {user} save {save}"),
            (f"{provision.id}.measures.v", tokens.get(f"{provision.id}.measures", "")),
        ]
    return form


def respondent(port, number, email, round_id, provisions, start, stop, out):
    tally = Tally()
    browser = Browser(port, number)
    browser.login(email)
    start.wait()
    chapter = f"/fill/{round_id}/{CHAPTER}"
    save = 0
    while not stop.is_set():
        timed(browser, tally, "overview", "GET", f"/fill/{round_id}/")
        page = timed(browser, tally, "chapter", "GET", chapter)
        form = save_form(page, provisions, number, save)
        if form is None:
            continue
        timed(browser, tally, "save", "POST", chapter, form, ok=302)
        save += 1
    out.put(tally)


def analyst(port, number, email, round_id, start, stop, out):
    tally = Tally()
    browser = Browser(port, number)
    browser.login(email)
    start.wait()
    while not stop.is_set():
        timed(browser, tally, "dashboard", "GET", f"/reports/{round_id}/")
        timed(browser, tally, "priorities", "GET", f"/reports/{round_id}/priorities")
        timed(browser, tally, "responses", "GET", f"/responses/{round_id}/")
    out.put(tally)


def wait_until_up(server: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"survey serve exited:\n{log.read_text()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/login")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("survey serve did not start within 120 s")


def one_run(database: Path, worker_class: str, workers: int | None, seconds: float, accounts):
    round_id, respondents, analysts, provisions = accounts
    directory = Path(tempfile.mkdtemp(prefix=f"survey-serve-{worker_class}-"))
    copy = directory / "survey.db"
    shutil.copy(database, copy)
    port = free_port()
    log = directory / "server.log"
    command = [sys.executable, "-m", "survey.cli", "serve", "--db", str(copy)]
    command += ["--port", str(port), "--worker-class", worker_class]
    if workers:
        command += ["--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURVEY_")}
    with open(log, "wb") as out:
        server = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "PYTHONPATH": str(ROOT)},
            start_new_session=True,
        )
    try:
        wait_until_up(server, port, log)
        # One process per user: threads of one client process would share its interpreter
        # lock, and a sync worker that has accepted a connection waits, idle, until the client
        # thread gets the lock back to send its request: that would measure the client.
        context = multiprocessing.get_context("fork")
        start, stop, out = context.Event(), context.Event(), context.Queue()
        users = []
        for number, email in enumerate(respondents):
            args = (port, number, email, round_id, provisions, start, stop, out)
            users.append(context.Process(target=respondent, args=args))
        for number, email in enumerate(analysts, start=len(respondents)):
            args = (port, number, email, round_id, start, stop, out)
            users.append(context.Process(target=analyst, args=args))
        for user in users:
            user.start()
        time.sleep(2)  # every user logged in
        began = time.perf_counter()
        start.set()
        time.sleep(seconds)
        stop.set()
        tallies = [out.get(timeout=180) for _ in users]
        elapsed = time.perf_counter() - began
        for user in users:
            user.join(30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(60)
        shutil.rmtree(directory, ignore_errors=True)
    latencies = sorted(x for t in tallies for x in t.latencies)
    by_kind: dict[str, list[float]] = {}
    for tally in tallies:
        for kind, latency in zip(tally.kinds, tally.latencies, strict=True):
            by_kind.setdefault(kind, []).append(latency)
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "errors": sum(t.errors for t in tallies),
        "latencies": latencies,
        "by_kind": by_kind,
    }


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(fraction * len(values)))]


def describe(result: dict) -> str:
    ms = [x * 1000 for x in result["latencies"]]
    return (
        f"{result['rps']:7.1f} req/s  p50 {percentile(ms, 0.5):6.0f} ms  "
        f"p95 {percentile(ms, 0.95):6.0f} ms  max {max(ms, default=float('nan')):6.0f} ms  "
        f"errors {result['errors']}  (n={result['requests']})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="A B B A pairs per class")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--mix", choices=["focal", "mixed"], default="focal")
    parser.add_argument("--workers", type=int, default=None, help="default: survey's default")
    args = parser.parse_args()

    from survey.questionnaire import get_questionnaire
    from survey.web.server import default_workers

    print(
        f"python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"gunicorn {metadata.version('gunicorn')}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at start, "
        f"{args.workers or default_workers()} workers, gthread threads: survey's default"
    )
    saving = args.users if args.mix == "focal" else min(RESPONDENTS, args.users)
    print(
        f"mix {args.mix}: {args.users} users ({saving} respondents saving, "
        f"{args.users - saving} analysts), no think time, {args.seconds:g} s per run"
    )
    started = time.perf_counter()
    directory = Path(tempfile.mkdtemp(prefix="survey-serve-load-"))
    try:
        database, round_id, respondents, analysts = build_database(directory, args.users, saving)
        print(f"demo database built in {time.perf_counter() - started:.0f} s")
        provisions = get_questionnaire().chapters[CHAPTER].provisions
        accounts = (round_id, respondents, analysts, provisions)
        results: dict[str, list[dict]] = {"sync": [], "gthread": []}
        order = []
        for pair in range(args.rounds):
            order += ["sync", "gthread"] if pair % 2 == 0 else ["gthread", "sync"]
        for worker_class in order:
            result = one_run(database, worker_class, args.workers, args.seconds, accounts)
            results[worker_class].append(result)
            print(f"  {worker_class:<7} {describe(result)}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print("all runs pooled:")
    for worker_class, runs in results.items():
        pooled = {
            "requests": sum(r["requests"] for r in runs),
            "rps": statistics.mean(r["rps"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "latencies": sorted(x for r in runs for x in r["latencies"]),
        }
        print(f"  {worker_class:<7} {describe(pooled)}  (req/s: mean of runs)")
        kinds: dict[str, list[float]] = {}
        for run in runs:
            for kind, values in run["by_kind"].items():
                kinds.setdefault(kind, []).extend(values)
        print(
            "          p50 by request: "
            + ", ".join(
                f"{kind} {statistics.median(values) * 1000:.0f} ms (n={len(values)})"
                for kind, values in sorted(kinds.items())
            )
        )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
