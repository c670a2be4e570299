"""Bytes on the wire and load time at 400 kbit/s: the largest chapter page, the JSON API, plotly.js.

    python benchmarks/transfer.py [--db DEMO.db] [--runs 3] [--kbit 400] [--latency-ms 150]
                                  [--screenshot PATH] [--no-browser]

Sizes: each response as the app sends it (Flask test client) with Accept-Encoding identity,
gzip and br, beside two references computed from the same bytes: gzip -6 (what a default
nginx `gzip on` would send) and brotli at quality 11 (the smallest brotli can do, too slow to
run per request). Load time computed: bytes x 8 / link speed, no latency, no TCP slow start (a
lower bound).

Browser (Debian's Chromium through Playwright, the app on a local threaded server): the network
is throttled with CDP `Network.emulateNetworkConditions` (download and upload at --kbit, --latency
per request) after logging in. Two variants, interleaved run by run, each in a fresh browser
context (empty cache): the app as it ships, and the same app asked for `Accept-Encoding: identity`
(no compression). For each: the first view of the chapter page (empty cache) and a repeat view
(the same page again). Printed: time from navigation to the load event (median, min, max), bytes
received by the browser (CDP encodedDataLength), and static requests that reached the server
(counted by a WSGI wrapper). A screenshot of the chapter page after the throttled load is saved.

Figures are information, never a test: the script exits 0 unless it crashes.
"""

from __future__ import annotations

import argparse
import gzip
import platform
import random
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import brotli

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from chapter import largest_chapter, login, pick_respondent  # noqa: E402
from common import demo_database, machine  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


def kb(n: float) -> str:
    return f"{n / 1000:,.1f} kB"


def seconds_at(n_bytes: float, kbit: int) -> float:
    return n_bytes * 8 / (kbit * 1000)


def free_port() -> int:
    """A free TCP port in 20000-60000 (the range this project's servers use)."""
    for _ in range(200):
        port = random.randint(20000, 60000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("no free port in 20000-60000")


def wire_sizes(client, url, **headers) -> dict:
    """Body bytes as sent for identity, gzip and br, and the two references."""
    out = {}
    for encoding in ("identity", "gzip", "br"):
        response = client.get(url, headers={"Accept-Encoding": encoding, **headers}, buffered=True)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code}")
        sent = response.headers.get("Content-Encoding", "identity")
        if sent != encoding:
            raise SystemExit(f"GET {url} asked for {encoding}, got {sent}")
        out[encoding] = response.get_data()
    raw = out["identity"]
    return {
        "raw": len(raw),
        "gzip -6 (nginx default)": len(gzip.compress(raw, 6)),
        "sent gzip": len(out["gzip"]),
        "sent br": len(out["br"]),
        "brotli 11 (floor)": len(brotli.compress(raw, quality=11, lgwin=24)),
    }


def size_table(rows: dict, kbit: int) -> None:
    columns = list(next(iter(rows.values())))
    print(f"\n## Bytes on the wire (and seconds at {kbit} kbit/s, computed)\n")
    print("| response | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for name, sizes in rows.items():
        cells = [f"{kb(sizes[c])} ({seconds_at(sizes[c], kbit):.1f} s)" for c in columns]
        print(f"| {name} | " + " | ".join(cells) + " |")


def compression_cost(raw: bytes, runs: int = 15) -> None:
    """Server CPU per response for the levels the app uses, on the largest chapter page."""
    print("\n## Compression time of the largest chapter page (server CPU per response)\n")
    for name, fn in (
        ("brotli 5 (sent)", lambda: brotli.compress(raw, quality=5)),
        ("gzip 9 (sent)", lambda: gzip.compress(raw, 9)),
        ("brotli 4 (Flask-Compress default)", lambda: brotli.compress(raw, quality=4)),
        ("gzip 6 (Flask-Compress default)", lambda: gzip.compress(raw, 6)),
    ):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - start)
        print(
            f"- {name}: {kb(len(out))}, median {statistics.median(times) * 1000:.1f} ms"
            f" (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, n={runs})"
        )


def serve(app):
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the figures

    reached: list[str] = []
    inner = app.wsgi_app

    def counting(environ, start_response):
        reached.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    app.wsgi_app = counting
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, reached


def browser_runs(base, account, url, *, runs, kbit, latency_ms, reached, screenshot) -> None:
    from playwright.sync_api import sync_playwright

    variants = {"as shipped": {}, "no compression": {"Accept-Encoding": "identity"}}
    results = {(v, view): [] for v in variants for view in ("first view", "repeat view")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for run in range(runs):
                order = list(variants) if run % 2 == 0 else list(reversed(variants))
                for variant in order:
                    context = browser.new_context(base_url=base)
                    page = context.new_page()
                    cdp = context.new_cdp_session(page)
                    cdp.send("Network.enable")
                    if variants[variant]:
                        cdp.send("Network.setExtraHTTPHeaders", {"headers": variants[variant]})
                    received = []
                    encodings = {}
                    cdp.on(
                        "Network.responseReceived",
                        lambda e, enc=encodings: enc.__setitem__(
                            e["response"]["url"].split("?")[0],
                            {k.lower(): v for k, v in e["response"]["headers"].items()}.get(
                                "content-encoding", "identity"
                            ),
                        ),
                    )
                    cdp.on(
                        "Network.loadingFinished",
                        lambda e, r=received: r.append(e["encodedDataLength"]),
                    )
                    page.goto("/login")
                    page.fill("#email", account["email"])
                    page.fill("#password", account["password"])
                    page.click("main button[type=submit]")
                    page.wait_for_url("**/fill/**")
                    page.goto("about:blank")
                    cdp.send(
                        "Network.emulateNetworkConditions",
                        {
                            "offline": False,
                            "latency": latency_ms,
                            "downloadThroughput": kbit * 1000 / 8,
                            "uploadThroughput": kbit * 1000 / 8,
                        },
                    )
                    # First view: fill.js is not cached yet (style.css and print.css came with
                    # the login page, as in real use); repeat view: the same page again.
                    for view in ("first view", "repeat view"):
                        received.clear()
                        reached.clear()
                        start = time.perf_counter()
                        page.goto(url, wait_until="load", timeout=300_000)
                        elapsed = time.perf_counter() - start
                        page.wait_for_load_state("networkidle")
                        statics = sum(1 for path in reached if path.startswith("/static/"))
                        page_encoding = encodings.get(base + url, "?")
                        results[(variant, view)].append(
                            (elapsed, sum(received), statics, page_encoding)
                        )
                        if (
                            screenshot
                            and variant == "as shipped"
                            and run == 0
                            and view == "first view"
                        ):
                            page.screenshot(path=str(screenshot))
                    context.close()
        finally:
            browser.close()

    print(
        f"\n## Chapter page in Chromium at {kbit} kbit/s, {latency_ms} ms latency"
        f" (interleaved, n={runs} each)\n"
    )
    print(
        "| variant | view | page encoding | load event | received | static requests reaching the server |"
    )
    print("|---|---|---|---|---|---|")
    for (variant, view), rows in results.items():
        times = [r[0] for r in rows]
        print(
            f"| {variant} | {view} | {rows[0][3]} | median {statistics.median(times):.2f} s"
            f" (min {min(times):.2f}, max {max(times):.2f}) | {kb(statistics.median([r[1] for r in rows]))}"
            f" | {max(r[2] for r in rows)} |"
        )
    if screenshot:
        print(f"\nScreenshot of the chapter page after the throttled load: {screenshot}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, help="an existing demo database (copied, not changed)")
    parser.add_argument("--runs", type=int, default=3, help="browser runs per variant (default 3)")
    parser.add_argument("--kbit", type=int, default=400, help="link speed (default 400 kbit/s)")
    parser.add_argument("--latency-ms", type=int, default=150, help="added latency (default 150)")
    parser.add_argument(
        "--screenshot", type=Path, default=Path(tempfile.gettempdir()) / "transfer-chapter.png"
    )
    parser.add_argument("--no-browser", action="store_true", help="sizes only")
    args = parser.parse_args()

    facts = machine()
    print(
        f"Python {platform.python_version()}, {facts['cores']} CPUs ({facts['cpu']}), {facts['os']};"
        f" flask {facts['flask']}, brotli {brotli.__version__}; {facts['date']}",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="survey-transfer-"))
    try:
        db_path = workdir / "survey.db"
        if args.db:
            shutil.copy(args.db, db_path)
        else:
            print("Building the full-size demo database...", flush=True)
            demo_database(workdir)
        measure(db_path, workdir, args)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(db_path: Path, workdir: Path, args) -> None:
    from survey.demo import demo_accounts
    from survey.questionnaire import get_questionnaire
    from survey.storage import connect
    from survey.storage.rounds import current_round
    from survey.web import create_app

    model = get_questionnaire()
    chapter = largest_chapter(model)
    db = connect(db_path)
    round_id = current_round(db)["id"]
    account, _, _ = pick_respondent(db, chapter, round_id)
    db.conn.close()
    app = create_app(
        {
            "DATABASE": str(db_path),
            "SECRET_KEY": "benchmark",
            "RATELIMIT_ENABLED": False,
            "INSTANCE_PATH": str(workdir),
        }
    )
    url = f"/fill/{round_id}/{chapter.instrument}/{chapter.id}"
    respondent = app.test_client()
    login(respondent, account["email"], account["password"])
    analyst_account = next(a for a in demo_accounts() if a["role"] == "analyst")
    analyst = app.test_client()
    login(analyst, analyst_account["email"], analyst_account["password"])
    print(f"Largest chapter: {chapter.instrument} {chapter.id} ({url}), as {account['email']}")

    from survey.web.assets import wait_for_background

    start = time.perf_counter()
    first = analyst.get(
        "/reports/vendor/plotly.min.js", headers={"Accept-Encoding": "gzip, br"}, buffered=True
    )
    answered = time.perf_counter() - start
    wait_for_background()
    print(
        f"plotly.js precompressed once: the first request was answered in {answered:.1f} s"
        f" ({first.headers.get('Content-Encoding')}); the brotli copy was ready after"
        f" {time.perf_counter() - start:.1f} s"
    )

    with app.test_request_context():
        from flask import url_for

        statics = [url_for("static", filename=n) for n in ("style.css", "print.css", "fill.js")]
    rows = {
        f"chapter page ({chapter.instrument} {chapter.id})": wire_sizes(respondent, url),
        f"JSON API priorities (round {round_id})": wire_sizes(
            analyst, f"/api/v1/rounds/{round_id}/priorities"
        ),
        "plotly.js": wire_sizes(analyst, "/reports/vendor/plotly.min.js"),
    }
    static_sizes = [wire_sizes(respondent, s) for s in statics]
    rows["static files of the chapter page (3)"] = {
        k: sum(s[k] for s in static_sizes) for k in static_sizes[0]
    }
    size_table(rows, args.kbit)
    compression_cost(respondent.get(url, buffered=True).get_data())

    if args.no_browser:
        return
    server, reached = serve(app)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        browser_runs(
            base,
            account,
            url,
            runs=args.runs,
            kbit=args.kbit,
            latency_ms=args.latency_ms,
            reached=reached,
            screenshot=args.screenshot,
        )
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
