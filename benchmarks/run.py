"""Run every benchmark on a full-size demo round and print figures against their targets.

    python benchmarks/run.py [--quick] [--write benchmarks/RESULTS.md]

Timings are information, never a test: this script always exits 0 unless it crashes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import load  # noqa: E402
from common import demo_database, fmt, machine, peak_rss_mb, timed  # noqa: E402

ROUND = "2026"
RESULTS: list[dict] = []


def record(name, value, target, verdict, note=""):
    RESULTS.append(
        {"name": name, "value": value, "target": target, "verdict": verdict, "note": note}
    )
    print(f"- {name}: {value}  [target: {target}] {verdict} {note}".rstrip(), flush=True)


def ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


def bench_demo(runs):
    from survey.demo import generate_demo
    from survey.questionnaire import get_questionnaire
    from survey.setup import prepare

    model = get_questionnaire()

    def once():
        directory = Path(tempfile.mkdtemp(prefix="survey-demo-"))
        db, _ = prepare(directory / "s.db")
        start = time.perf_counter()
        summary = generate_demo(db, model)
        elapsed = time.perf_counter() - start
        db.conn.close()
        shutil.rmtree(directory)
        return elapsed, summary

    times = []
    summary = None
    for _ in range(runs):
        elapsed, summary = once()
        times.append(elapsed)
    stats = {
        "median": sorted(times)[len(times) // 2],
        "min": min(times),
        "max": max(times),
        "runs": runs,
    }
    answers = (
        sum(summary["answers"].values())
        if isinstance(summary.get("answers"), dict)
        else summary.get("answers")
    )
    record(
        "Demo generation, two rounds",
        f"{fmt(stats)}; {answers:,} answers + as many history rows",
        "< 10 s",
        ok(stats["median"] < 10),
    )


def bench_aggregation(db_path, runs):
    from survey.questionnaire import get_questionnaire
    from survey.scoring import all_priorities
    from survey.storage import connect

    db = connect(db_path)
    model = get_questionnaire()
    rows = db.execute(
        "SELECT count(*) FROM answers a JOIN responses r ON r.id = a.response_id WHERE r.round_id = ?",
        [ROUND],
    ).fetchone()[0]
    base = timed(lambda: db.execute("SELECT count(*) FROM answers").fetchone(), runs)
    agg = timed(lambda: all_priorities(db, model, ROUND), runs)
    record(
        "Regional aggregation, all four groupings, one round",
        f"{fmt(agg)}; {len(agg['result']):,} ranked rows from {rows:,} answers; {agg['median'] / base['median']:.0f}x a bare count(*) scan ({fmt(base, 'ms')})",
        "< 0.3 s",
        ok(agg["median"] < 0.3),
    )
    from survey.reports import state_scores

    response_id = db.execute(
        "SELECT id FROM responses WHERE round_id = ? AND state_iso3 = 'FRA'", [ROUND]
    ).fetchone()[0]
    bare = timed(
        lambda: db.execute(
            "SELECT provision_id, question, value FROM answers WHERE response_id = ?", [response_id]
        ).fetchall(),
        runs * 4,
    )
    one = timed(lambda: state_scores(db, model, ROUND, "FRA"), runs * 4)
    record(
        "Scoring one State's full response (FRA)",
        f"{fmt(one, 'ms')}; {one['median'] / bare['median']:.1f}x a bare fetch of its answer rows ({fmt(bare, 'ms')})",
        "fast (no target)",
        "info",
    )
    db.conn.close()


WORKBOOK_CODE = """
import sys
from survey.exports.excel import write_workbook
from survey.questionnaire import get_questionnaire
from survey.storage import connect
db = connect(sys.argv[1])
with open(sys.argv[2], 'wb') as f:
    write_workbook(db, get_questionnaire(), sys.argv[3], f)
"""

BARE_CODE = """
import sys
from openpyxl import Workbook, load_workbook
cells = int(sys.argv[1])
wb = Workbook(write_only=True)
ws = wb.create_sheet('bare')
row = ['text value', 'KEN', 'Kenya', 'AFRICAN_GROUP', 'Africa', 'submitted', 'UNCAC-15', 'compliance', 'partly', 'Partly', 12345, 'x@example.org']
width = len(row)
for _ in range(cells // width):
    ws.append(row)
wb.save(sys.argv[2])
"""


def count_cells(path):
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    total = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            total += sum(1 for v in row if v is not None)
    wb.close()
    return total


def bench_workbook(db_path, runs):
    out = Path(tempfile.mkdtemp(prefix="survey-xlsx-"))
    book = out / "round.xlsx"
    times, peaks = [], []
    for _ in range(runs):
        start = time.perf_counter()
        peak, _ = peak_rss_mb(WORKBOOK_CODE, str(db_path), str(book), ROUND)
        times.append(time.perf_counter() - start)
        peaks.append(peak)
    cells = count_cells(book)
    size = book.stat().st_size / 1e6
    bare_times = []
    for _ in range(runs):
        start = time.perf_counter()
        peak_rss_mb(BARE_CODE, str(cells), str(out / "bare.xlsx"))
        bare_times.append(time.perf_counter() - start)
    # Both include starting Python and importing openpyxl in a fresh process.
    med = sorted(times)[len(times) // 2]
    bare = sorted(bare_times)[len(bare_times) // 2]
    stats = {"median": med, "min": min(times), "max": max(times), "runs": runs}
    record(
        "Analyst workbook, full round (all sheets)",
        f"{fmt(stats)}; {cells:,} cells, {size:.1f} MB; bare openpyxl write-only with the same cells {bare:.1f} s; ratio {med / bare:.2f}",
        "ratio <= 1.3",
        ok(med / bare <= 1.3),
    )
    record(
        "Analyst workbook, peak memory (whole process)",
        f"{max(peaks):.0f} MB",
        "< 150 MB",
        ok(max(peaks) < 150),
    )
    shutil.rmtree(out)


def bench_offline(db_path, runs):
    import io

    from survey.exports.offline import export_offline, import_offline
    from survey.questionnaire import get_questionnaire
    from survey.storage import connect

    db = connect(db_path)
    model = get_questionnaire()
    # The editable response with the most answers: the heaviest file a ministry would download.
    state = db.execute(
        "SELECT r.state_iso3 FROM responses r JOIN answers a ON a.response_id = r.id"
        " WHERE r.round_id = ? AND r.status IN ('draft', 'returned') GROUP BY r.id ORDER BY count(*) DESC LIMIT 1",
        [ROUND],
    ).fetchone()[0]

    def export():
        buffer = io.BytesIO()
        export_offline(db, model, ROUND, state, buffer)
        return buffer.getvalue()

    exp = timed(export, runs)
    data = exp["result"]
    imp = timed(
        lambda: import_offline(db, model, ROUND, state, io.BytesIO(data), user_id=None), runs
    )
    from openpyxl import Workbook, load_workbook

    rows = sum(ws.max_row for ws in load_workbook(io.BytesIO(data)).worksheets)

    def bare_write():
        wb = Workbook()
        ws = wb.active
        for _ in range(rows):
            ws.append(
                [
                    "UNCAC-15",
                    "Bribery of national public officials",
                    "mandatory",
                    "Question",
                    "partly",
                    "Hint",
                    "",
                    "compliance",
                    "digest",
                ]
            )
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer.getvalue()

    bare_exp = timed(bare_write, runs)
    bare_imp = timed(lambda: load_workbook(io.BytesIO(data)).close(), runs)
    record(
        f"Offline questionnaire for one State ({state}): export",
        f"{fmt(exp)}; {len(data) / 1e6:.2f} MB, {rows:,} rows; {exp['median'] / bare_exp['median']:.1f}x openpyxl writing as many plain rows ({fmt(bare_exp)})",
        "seconds (no target)",
        "info",
    )
    record(
        f"Offline questionnaire for one State ({state}): import (unchanged file, full validation)",
        f"{fmt(imp)}; {imp['median'] / bare_imp['median']:.1f}x openpyxl only opening the file ({fmt(bare_imp)})",
        "seconds (no target)",
        "info",
    )
    db.conn.close()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not start")


def _login(port, email, password):
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


def bench_web(db_path, seconds):
    import http.client

    web_db = Path(tempfile.mkdtemp(prefix="survey-web-")) / "survey.db"
    shutil.copy(db_path, web_db)
    port = _free_port()
    env = {**os.environ, "SURVEY_DATABASE": str(web_db), "SURVEY_INSTANCE": str(web_db.parent)}
    server = subprocess.Popen(
        [sys.executable, "-m", "survey.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    bare_port = _free_port()
    try:
        _wait(port)
        cookie = _login(port, "ken@demo.example", "demo-ken-2026")
        path = f"/fill/{ROUND}/UNCAC/preventive_measures"
        conn = http.client.HTTPConnection("127.0.0.1", port)
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        page = response.read().decode()
        # The first form page stores the CSRF secret in the session cookie: use the new cookie.
        if response.getheader("Set-Cookie"):
            cookie = response.getheader("Set-Cookie").split(";")[0]
        inputs = len(re.findall(r"<(?:input|textarea)\b", page))
        questions = len(re.findall(r'<fieldset class="question', page))
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        # Text answers of the chapter: each load-test connection edits its own one.
        fields = sorted(set(re.findall(r'name="(UNCAC-[0-9a-z-]+)\.(measures|examples)"', page)))
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
                "-b",
                f"127.0.0.1:{bare_port}",
                "bare_app:app",
            ],
            cwd=HERE,
            env={**os.environ, "BARE_INPUTS": str(inputs)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait(bare_port)
            baseline = load.run("127.0.0.1", bare_port, "/", seconds=seconds)
        finally:
            os.killpg(bare.pid, signal.SIGTERM)
            bare.wait()
        page_stats = load.run("127.0.0.1", port, path, headers={"Cookie": cookie}, seconds=seconds)
        form = {"csrf_token": token, "fields": fields}
        save_stats = load.run(
            "127.0.0.1",
            port,
            path,
            method="POST",
            seconds=seconds,
            headers={
                "Cookie": cookie,
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Autosave": "1",
            },
            form=form,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait()

    def line(s):
        return f"{s['rps']:.0f} req/s, p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, {s['errors']} errors ({s['requests']:,} requests)"

    record(
        f"Web baseline: bare Flask route, {inputs} plain inputs (gunicorn 2 workers, 20 connections, {seconds:.0f} s)",
        line(baseline),
        "reference",
        "info",
    )
    ratio = page_stats["p50_ms"] / baseline["p50_ms"]
    record(
        f"Web: chapter page UNCAC II ({questions} questions, {inputs} inputs)",
        line(page_stats) + f"; p50 ratio to baseline {ratio:.2f}",
        "p50 <= 2x baseline, 0 errors",
        ok(ratio <= 2 and page_stats["errors"] == 0),
    )
    record(
        "Web: save (autosave post of one provision writing one answer and its history; each connection its own answer)",
        line(save_stats),
        "p50 < 30 ms, 0 errors",
        ok(save_stats["p50_ms"] < 30 and save_stats["errors"] == 0),
    )


def bench_chapter(db_path, rounds):
    """The chapter page in process against a bare Jinja template (benchmarks/chapter.py)."""
    import chapter

    copy = Path(tempfile.mkdtemp(prefix="survey-chapter-")) / "survey.db"
    shutil.copy(db_path, copy)
    try:
        figures = chapter.measure(copy, rounds=rounds, saves=rounds)
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)
    ratios = figures["ratios"]
    record(
        f"Chapter page in process, {figures['chapter']} ({figures['inputs']} inputs), interleaved with a bare Jinja template of the same inputs",
        f"product {fmt(figures['product'], 'ms')}; bare {fmt(figures['bare'], 'ms')}; ratio of medians {figures['ratio']:.2f} (per round {ratios[0]:.2f}-{ratios[-1]:.2f}); chapter.html alone {fmt(figures['template'], 'ms')}",
        "ratio <= 1.5",
        ok(figures["ratio"] <= 1.5),
    )
    record(
        "Save in process (autosave post of one changed provision)",
        fmt(figures["save"], "ms"),
        "fast (no target)",
        "info",
    )


def write_results(path: Path, facts: dict, notes: str):
    lines = [
        "# Benchmark results",
        "",
        "Measured by `python benchmarks/run.py --write benchmarks/RESULTS.md` on a full-size demo round",
        "(193 States, the whole omnibus; `survey demo`). Figures are medians with min and max.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {k}: {v}" for k, v in facts.items()]
    lines += [
        "",
        "## Figures",
        "",
        "| benchmark | result | target | verdict |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['name']} | {r['value']} | {r['target']} | {r['verdict']} |" for r in RESULTS]
    lines += ["", notes.strip(), ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions and a shorter load test"
    )
    parser.add_argument("--write", type=Path, help="write a RESULTS.md with the figures")
    parser.add_argument(
        "--notes", type=Path, default=HERE / "NOTES.md", help="text appended to RESULTS.md"
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=["demo", "aggregation", "workbook", "offline", "chapter", "web"],
    )
    args = parser.parse_args()
    runs = 2 if args.quick else 5
    facts = machine()
    print("Machine:", ", ".join(f"{k} {v}" for k, v in facts.items()), flush=True)
    if "demo" in args.only:
        bench_demo(2 if args.quick else 3)
    print("Building the full-size demo database...", flush=True)
    db_path = demo_database()
    if "aggregation" in args.only:
        bench_aggregation(db_path, runs)
    if "offline" in args.only:
        bench_offline(db_path, 2 if args.quick else 3)
    if "workbook" in args.only:
        bench_workbook(db_path, 1 if args.quick else 3)
    if "chapter" in args.only:
        bench_chapter(db_path, 15 if args.quick else 40)
    if "web" in args.only:
        bench_web(db_path, 5.0 if args.quick else 15.0)
    shutil.rmtree(db_path.parent, ignore_errors=True)
    if args.write:
        notes = args.notes.read_text(encoding="utf-8") if args.notes.exists() else ""
        write_results(args.write, facts, notes)
        print(f"Wrote {args.write}")


if __name__ == "__main__":
    main()
