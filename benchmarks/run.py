"""Run every benchmark on the full-size demo data and print product against floor.

    python benchmarks/run.py [--quick] [--only NAME ...] [--write benchmarks/RESULTS.md]

Prints (1) the figures table: product and a floor doing the same work the simplest way, timed
interleaved, min/median/max, n and the ratio of medians; (2) the growth table: 1, 2 and 4 rounds,
193, 386 and 579 States; (3) every report page and download of the app's url_map. The method
(floors, interleaving, memory, WAL control) is in benchmarks/NOTES.md. Timings are information,
never a test: this script exits 0 unless it crashes.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import load  # noqa: E402
from common import (  # noqa: E402
    demo_database,
    interleaved,
    machine,
    package_versions,
    quiesce,
    stats,
    wal_bytes,
)

ROUND, PREVIOUS = "2026", "2024"
BENCHMARKS = (
    "demo",
    "queries",
    "offline",
    "workbook",
    "chapter",
    "routes",
    "reports",
    "web",
    "growth",
)


@dataclass
class Figure:
    name: str
    product: dict
    floor: dict | None = None
    floor_what: str = ""
    unit: str = "ms"
    target: str = "-"
    verdict: str = "info"
    note: str = ""
    ratios: list[float] = field(default_factory=list)  # per interleaved round, product / floor

    @property
    def ratio(self) -> float | None:
        return self.product["median"] / self.floor["median"] if self.floor else None


FIGURES: list[Figure] = []
GROWTH: list = []
ROUTES: list = []
REPORTS: list = []
REPORTS_UNMEASURED: list = []
FACTS: dict = {}
ENVIRONMENT: list[str] = []


def _n(x: float) -> str:
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


def _v(seconds: float, unit: str) -> str:
    return f"{_n(seconds * 1000)} ms" if unit == "ms" else f"{_n(seconds)} s"


def spread(s: dict, unit: str) -> str:
    scale = 1000 if unit == "ms" else 1
    return f"{_v(s['median'], unit)} ({_n(s['min'] * scale)}-{_n(s['max'] * scale)})"


def ratio_text(f: Figure) -> str:
    if f.ratio is None:
        return "-"
    text = f"**{f.ratio:.2f}**"
    if f.ratios:
        r = sorted(f.ratios)
        text += f" (per round {r[0]:.2f}-{r[-1]:.2f})"
    return text


def record(figure: Figure) -> None:
    FIGURES.append(figure)
    floor = f"; floor {spread(figure.floor, figure.unit)}" if figure.floor else ""
    ratio = f"; ratio {ratio_text(figure).replace('**', '')}" if figure.floor else ""
    print(
        f"- {figure.name}: {spread(figure.product, figure.unit)} n={figure.product['runs']}{floor}{ratio}"
        f"  [target {figure.target}: {figure.verdict}] {figure.note}".rstrip(),
        flush=True,
    )


def per_round(product: dict, floor: dict) -> list[float]:
    return [p / f for p, f in zip(product["times"], floor["times"], strict=True)]


def ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


# -- (1) figures ----------------------------------------------------------------------------------


def bench_demo(runs):
    """Demo generation has no floor: it is a tool for trying the app, timed for information."""
    from survey.demo import generate_demo
    from survey.questionnaire import get_questionnaire
    from survey.setup import prepare

    model = get_questionnaire()
    times, answers = [], 0
    for _ in range(runs):
        directory = Path(tempfile.mkdtemp(prefix="survey-demo-"))
        db, _ = prepare(directory / "s.db")
        start = time.perf_counter()
        generate_demo(db, model)
        times.append(time.perf_counter() - start)
        answers = db.execute("SELECT count(*) FROM answers").fetchone()[0]
        db.conn.close()
        shutil.rmtree(directory)
    s = stats(times)
    record(
        Figure(
            "Demo generation, two rounds (no floor)",
            s,
            unit="s",
            target="< 10 s",
            verdict=ok(s["median"] < 10),
            note=f"{answers:,} answers and as many history rows",
        )
    )


def bench_queries(db_path, runs):
    import queries

    from survey.questionnaire import get_questionnaire
    from survey.storage import connect

    model = get_questionnaire()
    quiesce(db_path)
    db = connect(db_path, migrate=False)
    iso3 = "FRA"
    counted = db.execute(
        "SELECT count(*) FROM answers a JOIN responses r ON r.id = a.response_id"
        " WHERE r.round_id = ? AND r.status IN ('submitted', 'validated')",
        [ROUND],
    ).fetchone()[0]
    series = {
        "aggregation": lambda: queries.aggregation(db, model, ROUND),
        "aggregation floor": lambda: queries.aggregation_floor(db, ROUND),
        "demand": lambda: queries.demand(db, model, ROUND),
        "demand floor": lambda: queries.demand_floor(db, ROUND),
        "comparison": lambda: queries.comparison(db, model, ROUND, PREVIOUS),
        "comparison floor": lambda: queries.comparison_floor(db, ROUND, PREVIOUS),
        "comparison warm": lambda: queries.comparison_warm(db, model, ROUND, PREVIOUS),
        "state": lambda: queries.state_scores(db, model, ROUND, iso3),
        "state floor": lambda: queries.state_scores_floor(db, ROUND, iso3),
    }
    t = interleaved(series, runs)
    wal = wal_bytes(db_path)
    db.conn.close()
    agg, floor = t["aggregation"], t["aggregation floor"]
    record(
        Figure(
            "Regional aggregation, all four groupings, one round",
            agg,
            floor,
            f"one SELECT of its input rows ({len(floor['result']):,} rows: compliance and ta_needed"
            " answers of the counted responses, with the State's regions)",
            target="< 0.3 s",
            verdict=ok(agg["median"] < 0.3),
            note=f"{len(agg['result']):,} ranked rows; {counted:,} answers counted; WAL {wal} bytes",
            ratios=per_round(agg, floor),
        )
    )
    d, df = t["demand"], t["demand floor"]
    record(
        Figure(
            "TA demand, UN regional groups, one round",
            d,
            df,
            f"one SELECT of its input rows ({len(df['result']):,} compliance, ta_needed, ta_types and"
            " challenges answers)",
            ratios=per_round(d, df),
        )
    )
    c, cf = t["comparison"], t["comparison floor"]
    record(
        Figure(
            f"Round comparison {ROUND} against {PREVIOUS}, UN regional groups",
            c,
            cf,
            f"one SELECT of both rounds' input rows ({len(cf['result']):,} rows)",
            note="cold: report cache off",
            ratios=per_round(c, cf),
        )
    )
    cw = t["comparison warm"]
    record(
        Figure(
            f"Round comparison {ROUND} against {PREVIOUS}, served from the report cache",
            cw,
            cf,
            "the same floor as the cold comparison",
            note="warm: the versions of both rounds read, the stored result copied",
            ratios=per_round(cw, cf),
        )
    )
    s, sf = t["state"], t["state floor"]
    record(
        Figure(
            f"Scoring one State's full response ({iso3})",
            s,
            sf,
            f"one SELECT of its answer rows ({len(sf['result']):,})",
            ratios=per_round(s, sf),
        )
    )


def bench_offline(db_path, runs):
    from openpyxl import Workbook, load_workbook

    from survey.exports.offline import export_offline, import_offline
    from survey.questionnaire import get_questionnaire
    from survey.storage import connect

    model = get_questionnaire()
    quiesce(db_path)
    db = connect(db_path, migrate=False)
    # The editable response with the most answers: the heaviest file a ministry would download.
    state, response_id = db.execute(
        "SELECT r.state_iso3, r.id FROM responses r JOIN answers a ON a.response_id = r.id"
        " WHERE r.round_id = ? AND r.status IN ('draft', 'returned') GROUP BY r.id"
        " ORDER BY count(*) DESC LIMIT 1",
        [ROUND],
    ).fetchone()

    def export():
        buffer = io.BytesIO()
        export_offline(db, model, ROUND, state, buffer)
        return buffer.getvalue()

    data = export()
    # The product file's cells, read once before timing: what the export floor writes.
    book = load_workbook(io.BytesIO(data))
    sheets = [(ws.title, [list(r) for r in ws.iter_rows(values_only=True)]) for ws in book]
    cells = sum(1 for _, rows in sheets for row in rows for v in row if v is not None)
    answers_sql = (
        "SELECT provision_id, question, value, updated_at FROM answers WHERE response_id = ?"
    )

    def export_floor():
        db.execute(answers_sql, [response_id]).fetchall()
        wb = Workbook()
        wb.remove(wb.active)
        for title, rows in sheets:
            ws = wb.create_sheet(title)
            for row in rows:
                ws.append(row)
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer.getvalue()

    def import_product():
        return import_offline(db, model, ROUND, state, io.BytesIO(data), user_id=None)

    def import_floor():
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=False, keep_links=False)
        read = sum(1 for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for _ in row)
        wb.close()
        db.execute(answers_sql, [response_id]).fetchall()
        return read

    t = interleaved(
        {
            "export": export,
            "export floor": export_floor,
            "import": import_product,
            "import floor": import_floor,
        },
        runs,
    )
    wal = wal_bytes(db_path)
    db.conn.close()
    e, ef = t["export"], t["export floor"]
    record(
        Figure(
            f"Offline questionnaire for one State ({state}): export",
            e,
            ef,
            f"openpyxl writing the same {cells:,} cells (values only: no styles, lists, protection)"
            " after one SELECT of the State's answers",
            unit="s",
            target="< 0.3 s",
            verdict=ok(e["median"] < 0.3),
            note=f"{len(data) / 1e6:.2f} MB",
            ratios=per_round(e, ef),
        )
    )
    i, fi = t["import"], t["import floor"]
    record(
        Figure(
            f"Offline questionnaire for one State ({state}): import of the unchanged file",
            i,
            fi,
            f"openpyxl opening the same file read-only and reading all {fi['result']:,} cells of every"
            " sheet, plus one SELECT of the State's answers",
            unit="s",
            note=f"full validation, nothing changed; WAL {wal} bytes",
            ratios=per_round(i, fi),
        )
    )


def bench_workbook(db_path, runs):
    import workbook

    figures = workbook.measure(db_path, ROUND, runs)
    try:
        same, cells, how = workbook.same_cells(
            figures["files"]["product"], figures["files"]["floor"]
        )
        size = figures["files"]["product"].stat().st_size / 1e6
        floor_size = figures["files"]["floor"].stat().st_size / 1e6
    finally:
        shutil.rmtree(figures["workdir"], ignore_errors=True)
    p, f, rows = figures["product"], figures["floor"], figures["rows"]
    record(
        Figure(
            "Analyst workbook, full round (all nine sheets)",
            p,
            f,
            f"XlsxWriter {package_versions()['xlsxwriter']} constant_memory writing the same cells"
            f" from the same row generators ({'checked: ' + how if same else 'NOT THE SAME: ' + how};"
            f" {cells:,} cells; {floor_size:.1f} MB)",
            unit="s",
            target="ratio <= 1.2",
            verdict=ok(p["median"] / f["median"] <= 1.2),
            note=f"{size:.1f} MB; the rows alone (no writing) {spread(rows, 's')}",
            ratios=per_round(p, f),
        )
    )
    loaded = p["loaded"]
    env = (
        f"pandas {package_versions()['pandas']}, numpy {package_versions()['numpy']};"
        f" imported by the run: pandas {'yes' if loaded['pandas'] else 'no'},"
        f" numpy {'yes' if loaded['numpy'] else 'no'}"
    )
    ENVIRONMENT.append(f"Workbook memory measured with {env}.")
    peak = {"median": p["peak_mb"], "min": min(p["peaks"]), "max": p["peak_mb"], "runs": p["runs"]}
    floor_peak = {
        "median": f["peak_mb"],
        "min": min(f["peaks"]),
        "max": f["peak_mb"],
        "runs": f["runs"],
    }
    note = env
    if package_versions()["pandas"] != "not installed":
        with tempfile.TemporaryDirectory() as scratch:
            blocked = workbook.run_one(
                "product", db_path, ROUND, Path(scratch) / "b.xlsx", block=("pandas", "numpy")
            )
        note += f"; with pandas and numpy blocked {blocked['peak_mb']:.0f} MB"
    FIGURES.append(
        Figure(
            "Analyst workbook, peak memory (MB, whole process, VmHWM)",
            peak,
            floor_peak,
            "XlsxWriter constant_memory, same cells",
            unit="MB",
            target="< 150 MB",
            verdict=ok(p["peak_mb"] < 150),
            note=note,
        )
    )
    print(
        f"- workbook peak memory: product {p['peak_mb']:.0f} MB, floor {f['peak_mb']:.0f} MB ({note})",
        flush=True,
    )


def bench_chapter(db_path, rounds):
    """The chapter page in process against a bare Jinja template (benchmarks/chapter.py)."""
    import chapter

    copy = Path(tempfile.mkdtemp(prefix="survey-chapter-")) / "survey.db"
    shutil.copy(db_path, copy)
    try:
        f = chapter.measure(copy, rounds=rounds, saves=rounds)
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    record(
        Figure(
            f"Chapter page in process: the largest chapter, {f['chapter']} ({f['provisions']} provisions,"
            f" {f['questions']} questions, {f['inputs']:,} inputs), test-client GET",
            f["product"],
            f["bare"],
            "a bare Jinja template with the same inputs, labels and values, data prepared beforehand",
            target="ratio <= 1.5",
            verdict=ok(f["ratio"] <= 1.5),
            note=f"bare Flask route with that template {spread(f['bare_flask'], 'ms')};"
            f" chapter.html alone {spread(f['template'], 'ms')}; WAL control: one idle reader held",
            ratios=f["ratios"],
        )
    )
    record(
        Figure(
            "Save in process (autosave post of one changed provision; no floor)",
            f["save"],
            note=f"as {f['respondent']}",
        )
    )


# -- (3) every report page and download -------------------------------------------------------------


def _benchmark_app(copy: Path, workdir: Path, **config):
    """The app on a copy of the demo database, login throttling off (many logins in a row)."""
    from survey.web import create_app

    return create_app(
        {
            "DATABASE": str(copy),
            "SECRET_KEY": "benchmark",
            "RATELIMIT_ENABLED": False,
            "INSTANCE_PATH": str(workdir),
            **config,
        }
    )


def _login(client, email, password):
    import chapter

    chapter.login(client, email, password)


def bench_routes(db_path, runs):
    import routes

    from survey.demo import ANALYST_EMAIL, demo_accounts

    workdir = Path(tempfile.mkdtemp(prefix="survey-routes-"))
    copy = workdir / "survey.db"
    shutil.copy(db_path, copy)
    try:
        # The workbook is built inside the request here, as the export worker would.
        app = _benchmark_app(copy, workdir, EXPORT_JOBS="immediate")
        accounts = {a["email"]: a for a in demo_accounts()}
        analyst, respondent = app.test_client(), app.test_client()
        _login(analyst, ANALYST_EMAIL, accounts[ANALYST_EMAIL]["password"])
        fra = next(a for a in demo_accounts() if a["state_iso3"] == "FRA")
        _login(respondent, fra["email"], fra["password"])
        quiesce(copy)
        import sqlite3

        holder = sqlite3.connect(str(copy))
        holder.execute("SELECT count(*) FROM rounds").fetchone()
        key = bench_repeated_workbook(app, analyst, copy, runs)
        figures = routes.measure(
            app, analyst, respondent, round_id=ROUND, iso3="FRA", key=key, runs=runs
        )
        wal = wal_bytes(copy)
        holder.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    ROUTES.extend(figures)
    print(f"Every report page and download ({len(figures)} URLs; WAL after {wal:,} bytes):")
    for line in routes.table(figures):
        print(line)


def bench_reports(db_path, runs):
    """Each report page and the API, warm and cold, interleaved with its floor (reports.py)."""
    import reports

    from survey.demo import ANALYST_EMAIL, demo_accounts
    from survey.storage import connect

    workdir = Path(tempfile.mkdtemp(prefix="survey-reports-"))
    copy = workdir / "survey.db"
    shutil.copy(db_path, copy)
    try:
        app = _benchmark_app(copy, workdir)
        reports.add_bare_page(app)
        accounts = {a["email"]: a for a in demo_accounts()}
        analyst = app.test_client()
        _login(analyst, ANALYST_EMAIL, accounts[ANALYST_EMAIL]["password"])
        quiesce(copy)
        # The app's connections and the floor's: the floor reads through one of its own, which
        # also keeps the WAL from being reset, as another worker's connection would.
        floor_db = connect(copy, migrate=False)
        print(
            "Report pages and the API, warm cache and cold (cache cleared), against a floor:",
            flush=True,
        )
        figures = reports.measure(
            app, analyst, floor_db, round_id=ROUND, previous=PREVIOUS, runs=runs
        )
        missing = reports.unmeasured(app, ROUND, PREVIOUS)
        wal = wal_bytes(copy)
        floor_db.conn.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    REPORTS.extend(figures)
    REPORTS_UNMEASURED.extend(missing)
    if missing:
        print(f"  NOT MEASURED (no entry in reports.py): {', '.join(missing)}")
    print(f"  WAL after: {wal:,} bytes")
    for text in reports.table(figures):
        print(text)


def bench_repeated_workbook(app, analyst, database: Path, runs: int) -> str:
    """The workbook link asked again while the round is unchanged: the built file is sent at
    once. Floor: reading the same file from disk. Returns the build's key (for the routes)."""
    from survey.exports import jobs
    from survey.questionnaire import get_questionnaire
    from survey.storage import connect

    url = f"/exports/{ROUND}/workbook.xlsx"
    start = time.perf_counter()
    first = analyst.get(url)
    first.get_data()
    first.close()
    build_seconds = time.perf_counter() - start
    db = connect(database)
    key = jobs.build_key(db, get_questionnaire(), "workbook", ROUND, jobs.clean_params())
    path = jobs.build_path(db, key)
    db.conn.close()

    def again():
        response = analyst.get(url)
        size = len(response.get_data())
        response.close()
        assert response.status_code == 200, response.status_code
        return size

    figures = interleaved({"product": again, "floor": path.read_bytes}, max(runs, 5))
    p, f = figures["product"], figures["floor"]
    record(
        Figure(
            "Analyst workbook asked again, data unchanged (the built file sent)",
            p,
            f,
            "reading the same file from disk",
            unit="ms",
            target="< 1 s",
            verdict=ok(p["median"] < 1),
            note=f"{p['result'] / 1e6:.1f} MB; the first request built it in {build_seconds:.1f} s",
            ratios=per_round(p, f),
        )
    )
    return key


# -- the live server -----------------------------------------------------------------------------


def _free_port():
    # A port in 20000-60000, as the shared machine's convention asks.
    for port in range(20000 + os.getpid() % 30000, 60000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000-60000")


def _wait(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


def _http_login(port, email, password):
    import http.client
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/login")
    response = conn.getresponse()
    body = response.read().decode()
    cookie = response.getheader("Set-Cookie").split(";")[0]
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body).group(1)
    conn.request(
        "POST",
        "/login",
        body=urlencode({"email": email, "password": password, "csrf_token": token}),
        headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
    )
    response = conn.getresponse()
    response.read()
    return response.getheader("Set-Cookie").split(";")[0]


def _slices(runs, seconds, slices):
    """Interleave load runs: slice after slice, the order alternating; per-slice results.
    Each run gets the slice number (saves use it to edit answers no earlier slice touched)."""
    names = list(runs)
    out = {name: [] for name in names}
    for number in range(slices):
        order = names if number % 2 == 0 else names[::-1]
        for name in order:
            out[name].append(runs[name](seconds / slices, number))
    return out


def _load_summary(results):
    p50 = [r["p50_ms"] / 1000 for r in results]
    return {
        **stats(p50),
        "times": p50,
        "rps": statistics.median(r["rps"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "requests": sum(r["requests"] for r in results),
    }


def bench_web(db_path, seconds, slices):
    workdir = Path(tempfile.mkdtemp(prefix="survey-web-"))
    try:
        _web(workdir, db_path, seconds, slices)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _web(workdir, db_path, seconds, slices):
    import http.client

    import chapter

    from survey.questionnaire import get_questionnaire
    from survey.storage import connect

    model = get_questionnaire()
    target = chapter.largest_chapter(model)
    web_db, bare_db = workdir / "survey.db", workdir / "bare.db"
    shutil.copy(db_path, web_db)
    shutil.copy(db_path, bare_db)
    db = connect(web_db, migrate=False)
    account, _answered, response_id = chapter.pick_respondent(db, target, ROUND)
    from survey.storage.responses import compliance_codes, load_answers

    stored = load_answers(db, response_id, [p.id for p in target.provisions])
    related_ids = {r.id for p in target.provisions for r in model.related(p.id)}
    related = compliance_codes(db, response_id, related_ids)
    lang = "en"
    db.execute("UPDATE users SET language = ? WHERE email = ?", [lang, account["email"]])
    db.conn.close()
    from survey.i18n import LANGUAGES

    context = {
        "sections": chapter.bare_sections(model, target, stored, related, lang),
        "csrf": "x" * 91,
        "lang": lang,
        "languages": list(LANGUAGES),
    }
    context_file = workdir / "bare-context.json"
    context_file.write_text(json.dumps(context), encoding="utf-8")
    port, bare_port = _free_port(), None
    env = {**os.environ, "SURVEY_DATABASE": str(web_db), "SURVEY_INSTANCE": str(workdir)}
    server = subprocess.Popen(
        [sys.executable, "-m", "survey.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bare = None
    try:
        _wait(port)
        bare_port = port + 1
        while True:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", bare_port))
                    break
                except OSError:
                    bare_port += 1
        # The same gunicorn settings as `survey serve` (survey/web/server.py), access log included.
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                "2",
                "-k",
                "gthread",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "-b",
                f"127.0.0.1:{bare_port}",
                "bare_app:app",
            ],
            cwd=HERE,
            env={
                **os.environ,
                "BARE_CONTEXT": str(context_file),
                "BARE_DATABASE": str(bare_db),
                "BARE_RESPONSE_ID": str(response_id),
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait(bare_port)
        cookie = _http_login(port, account["email"], account["password"])
        path = f"/fill/{ROUND}/{target.instrument}/{target.id}"
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        page = response.read().decode()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status}")
        # The first form page stores the CSRF secret in the session cookie: use the new cookie.
        if response.getheader("Set-Cookie"):
            cookie = response.getheader("Set-Cookie").split(";")[0]
        inputs = len(re.findall(r"<(?:input|textarea|select)\b", page))
        bare_conn = http.client.HTTPConnection("127.0.0.1", bare_port)
        bare_conn.request("GET", "/")
        bare_page = bare_conn.getresponse().read().decode()
        bare_inputs = len(re.findall(r"<(?:input|textarea|select)\b", bare_page))
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        # Text answers of the chapter: each load-test connection edits its own one.
        fields = sorted(
            set(re.findall(r'name="([A-Z]+-[0-9A-Za-z-]+)\.(measures|examples)"', page))
        )
        tokens = dict(
            re.findall(
                r'name="([A-Z]+-[0-9A-Za-z-]+\.(?:measures|examples)\.v)" value="([^"]*)"', page
            )
        )
        form = {"csrf_token": token, "fields": fields, "tokens": tokens}
        save_headers = {
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Autosave": "1",
        }
        pages = _slices(
            {
                "bare": lambda s, _n: load.run("127.0.0.1", bare_port, "/", seconds=s),
                "product": lambda s, _n: load.run(
                    "127.0.0.1", port, path, headers={"Cookie": cookie}, seconds=s
                ),
            },
            seconds,
            slices,
        )
        saves = _slices(
            {
                "bare": lambda s, n: load.run(
                    "127.0.0.1",
                    bare_port,
                    "/save",
                    method="POST",
                    seconds=s,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                    form={**form, "offset": 20 * n},
                ),
                "product": lambda s, n: load.run(
                    "127.0.0.1",
                    port,
                    path,
                    method="POST",
                    seconds=s,
                    headers=save_headers,
                    form={**form, "offset": 20 * n},
                ),
            },
            seconds,
            slices,
        )
    finally:
        for process in (server, bare):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait()

    page_p, page_b = _load_summary(pages["product"]), _load_summary(pages["bare"])
    save_p, save_b = _load_summary(saves["product"]), _load_summary(saves["bare"])
    setup = f"gunicorn 2 gthread workers x 4 threads, 20 connections, {slices} interleaved slices of {seconds / slices:.0f} s"

    def line(s):
        return f"{s['rps']:.0f} req/s (median of slices), p99 {s['p99_ms']:.0f} ms (worst slice), {s['errors']} errors, {s['requests']:,} requests"

    ratio = page_p["median"] / page_b["median"]
    record(
        Figure(
            f"Web: chapter page {target.key}, {inputs:,} inputs, p50 latency ({setup})",
            page_p,
            page_b,
            f"bare Flask route rendering the bare template with the same content ({bare_inputs:,} inputs)",
            target="p50 <= 2x floor, 0 errors",
            verdict=ok(ratio <= 2 and page_p["errors"] == 0),
            note=f"product {line(page_p)}; floor {line(page_b)}",
            ratios=per_round(page_p, page_b),
        )
    )
    record(
        Figure(
            f"Web: autosave of one text answer and its history row, p50 latency ({setup})",
            save_p,
            save_b,
            "bare Flask route: one connection, BEGIN IMMEDIATE, upsert the answer, append history, COMMIT",
            target="p50 < 30 ms, 0 errors",
            verdict=ok(save_p["median"] < 0.030 and save_p["errors"] == 0),
            note=f"product {line(save_p)}; floor {line(save_b)}",
            ratios=per_round(save_p, save_b),
        )
    )


# -- (2) growth ----------------------------------------------------------------------------------


def bench_growth(db_path, runs, workbook_runs):
    import growth

    workdir = Path(tempfile.mkdtemp(prefix="survey-growth-"))
    try:
        print("Growth (medians; product / floor):", flush=True)
        GROWTH.extend(growth.measure(db_path, workdir, runs=runs, workbook_runs=workbook_runs))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# -- output --------------------------------------------------------------------------------------


def figures_table() -> list[str]:
    lines = [
        "| benchmark | product: median (min-max) | floor: what | floor: median (min-max) | ratio of medians | n | target | verdict | notes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in FIGURES:
        unit = f.unit
        product = value_text(f.product, unit)
        floor = value_text(f.floor, unit) if f.floor else "-"
        lines.append(
            f"| {f.name} | {product} | {f.floor_what or '-'} | {floor} | {ratio_text(f)} |"
            f" {f.product['runs']} | {f.target} | {f.verdict} | {f.note} |"
        )
    return lines


INVERTED_WHY = {
    "TA demand": "The query reads its inputs inside SQLite and returns a few hundred aggregates;"
    " the floor turns every input row into a Python tuple, which costs more than the aggregation.",
}

MISSED_BY_DESIGN = [
    "**Quiet machine**: the figures were taken on a 2-core virtual machine that was also running"
    " other work (load average above); absolute times are noisy and the interleaved ratios are"
    " the figures to read. Re-run it on a quiet machine before comparing absolute times with a"
    " target.",
    "**Growth table**: the workbook is timed without its floor (XlsxWriter bare takes about as long;"
    " the full-size ratio is in the figures table), with n=1 in a full run; answer history is not"
    " copied into the synthesised States and rounds (nothing measured there reads it).",
    "**Memory** is measured for the workbook only (product and floor); pandas and numpy are not"
    " installed here, so the figure is the one without them (the script also measures the product"
    " with both blocked whenever they are installed).",
    "**Routes**: the offline upload's POST is timed as the offline import figure, not through the"
    " route; the report pages are timed through the Flask test client (no network, no compression),"
    " not a live server.",
    "**No floors** for demo generation and the in-process save (information only).",
]


def value_text(s: dict, unit: str) -> str:
    if unit == "MB":
        return f"{s['median']:.0f} MB ({s['min']:.0f}-{s['max']:.0f})"
    return spread(s, unit)


def missed_section() -> list[str]:
    import growth

    lines = ["## What was missed", ""]
    missed = [f for f in FIGURES if f.verdict == "MISSED"]
    if missed:
        lines.append(
            "Targets missed in this run (targets as in the previous RESULTS.md and NOTES.md):"
        )
        lines.append("")
        for f in missed:
            ratio = f"; ratio to floor {f.ratio:.2f}" if f.ratio else ""
            lines.append(
                f"- **{f.name}**: {value_text(f.product, f.unit)}{ratio}; target {f.target}."
            )
        lines += [
            "",
            "Absolute targets (seconds, milliseconds) depend on the machine, and this one was shared"
            f" (load average {FACTS.get('load average at start (1, 5, 15 min)', '-')} at the start):"
            " the ratio to the floor, measured in the same rounds, says how much of a figure is the"
            " product's and how much the machine's.",
        ]
    report_missed = [
        f"- **{f.report.name}**: "
        + "; ".join(
            text
            for text, failed in (
                (f"warm p50 {f.warm['median'] * 1000:.0f} ms (target <= 50 ms)", not f.warm_met),
                (f"cold {f.cold_ratio:.2f}x its floor (target <= 2x)", not f.cold_met),
            )
            if failed
        )
        + "."
        for f in REPORTS
        if not (f.warm_met and f.cold_met)
    ]
    if report_missed:
        lines += ["", "Report pages and API endpoints that missed a target:", ""] + report_missed
    verdict, flat = growth.memory_verdict(GROWTH)
    if not flat:
        lines += ["", f"- **{verdict}**"]
    if not missed and not report_missed and flat:
        lines.append("Every target of this run was met.")
    inverted = [f for f in FIGURES if f.ratio is not None and f.ratio < 1 and f.unit != "MB"]
    if inverted:
        lines += ["", "Floors slower than the product (so not a lower bound for it):", ""]
        lines += [
            f"- {f.name}: ratio {f.ratio:.2f}. {INVERTED_WHY.get(f.name.split(',')[0], '')}".rstrip()
            for f in inverted
        ]
    met = [f for f in FIGURES if f.verdict == "met"]
    if met:
        lines += ["", "Targets met: " + "; ".join(f"{f.name} ({f.target})" for f in met) + "."]
    lines += ["", "Not measured, or measured less well than asked:", ""]
    lines += [f"- {item}" for item in MISSED_BY_DESIGN]
    return lines


def write_results(path: Path, args, elapsed: float):
    import growth
    import reports
    import routes

    lines = [
        "# Benchmark results",
        "",
        f"Generated by `python benchmarks/run.py{' --quick' if args.quick else ''} --write {path}`"
        f" in {elapsed / 60:.1f} minutes on the full-size demo data (193 States, rounds {PREVIOUS}"
        f" and {ROUND}, the whole omnibus; `survey demo`). Method: benchmarks/NOTES.md.",
        "",
        "**Check the load average below**: on a machine doing other work absolute timings are"
        " noisy. Product and floor are interleaved, so the ratios are the figures to read.",
        "",
        "## Machine and environment",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in FACTS.items()]
    lines += [f"- {line}" for line in ENVIRONMENT]
    if FIGURES:
        lines += [
            "",
            "## Figures: product against a floor doing the same work",
            "",
            "Medians with (min-max) over n interleaved rounds; the ratio is of the medians, with the"
            " range of the per-round ratios (each round's product over the same round's floor).",
            "",
        ]
        lines += figures_table()
    if GROWTH:
        lines += [
            "",
            "## Growth: 1, 2, 4 rounds; 193, 386, 579 States",
            "",
            "Scratch databases synthesised from the demo database by copying its rows under new ids"
            " (see benchmarks/growth.py); the measured round is always 2026. Queries: product /"
            " floor with the spread of the product, interleaved; the workbook in a fresh process.",
            "",
        ]
        lines += growth.table(GROWTH)
        verdict, _flat = growth.memory_verdict(GROWTH)
        if verdict:
            lines += ["", verdict]
    if ROUTES:
        lines += [
            "",
            "## Every report page and download",
            "",
            "All rules of the reports, exports and api blueprints in the app's url_map, each output"
            " format of each (benchmarks/routes.py), through the Flask test client, logged in as the"
            " demo analyst (respondent routes: the demo respondent of FRA).",
            "",
        ]
        lines += routes.table(ROUTES)
    if REPORTS:
        lines += [
            "",
            "## Report pages and the API: warm and cold cache",
            "",
            "Each report page and API endpoint through the Flask test client (server time, in"
            " process), as the demo analyst: warm (report cache filled by the previous GET), cold"
            " (REPORT_CACHE cleared just before the GET) and a floor: one SELECT of the rows the"
            " report aggregates (benchmarks/queries.py) plus a bare page (the same analyst's GET"
            " of the same layout with no data: the fixed cost every page pays), each timed as its"
            " own series, interleaved (benchmarks/reports.py)."
            " Targets: warm p50 <= 50 ms; cold <= 2x the floor. 'Cache in warm GETs' counts the"
            " report cache's hits and misses during the timed warm GETs: a page with none does"
            " not use the cache, so its warm and cold figures are the same work.",
            "",
        ]
        lines += reports.table(REPORTS)
        if REPORTS_UNMEASURED:
            lines += [
                "",
                "Report endpoints NOT measured (no entry in benchmarks/reports.py): "
                + ", ".join(f"`{e}`" for e in REPORTS_UNMEASURED),
            ]
    lines += [""] + missed_section() + [""]
    path.write_text("\n".join(lines), encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, shorter loads")
    parser.add_argument("--write", type=Path, help="write the results (Markdown) to this file")
    parser.add_argument("--only", nargs="*", default=list(BENCHMARKS), choices=BENCHMARKS)
    parser.add_argument("--db", type=Path, help="an existing demo database (copied, not changed)")
    args = parser.parse_args()
    quick = args.quick
    started = time.perf_counter()
    FACTS.update(machine())
    print("Machine:", "; ".join(f"{k} {v}" for k, v in FACTS.items()), flush=True)
    if "demo" in args.only:
        bench_demo(1 if quick else 3)
    workdir = Path(tempfile.mkdtemp(prefix="survey-bench-"))
    try:
        if args.db:
            db_path = workdir / "survey.db"
            shutil.copy(args.db, db_path)
            quiesce(db_path)
        else:
            print("Building the full-size demo database...", flush=True)
            db_path = demo_database(workdir)
        if "queries" in args.only:
            bench_queries(db_path, 3 if quick else 7)
        if "offline" in args.only:
            bench_offline(db_path, 2 if quick else 5)
        if "workbook" in args.only:
            bench_workbook(db_path, 1 if quick else 3)
        if "chapter" in args.only:
            bench_chapter(db_path, 10 if quick else 40)
        if "routes" in args.only:
            bench_routes(db_path, 2 if quick else 5)
        if "reports" in args.only:
            bench_reports(db_path, 3 if quick else 9)
        if "web" in args.only:
            bench_web(db_path, 6.0 if quick else 15.0, 2 if quick else 3)
        if "growth" in args.only:
            bench_growth(db_path, 2 if quick else 3, 1)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    elapsed = time.perf_counter() - started
    print(f"Done in {elapsed / 60:.1f} minutes.")
    if args.write:
        write_results(args.write, args, elapsed)
        print(f"Wrote {args.write}")


if __name__ == "__main__":
    main()
