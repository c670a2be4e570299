"""A small HTTP load generator: C concurrent keep-alive connections for D seconds, in 2 processes."""

from __future__ import annotations

import contextlib
import http.client
import json
import multiprocessing
import statistics
import threading
import time
from urllib.parse import urlencode


def _worker(host, port, method, path, headers, body_fn, deadline, out, index, after=None):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    latencies, errors, i = [], 0, 0
    while time.time() < deadline:
        body = body_fn(index, i) if body_fn else None
        i += 1
        start = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status >= 400:
                errors += 1
            elif after is not None:
                after(index, data)
        except (OSError, http.client.HTTPException):
            errors += 1
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        latencies.append(time.perf_counter() - start)
    conn.close()
    out.append((latencies, errors))


def _process(args, queue):
    host, port, method, path, headers, form, threads, deadline, first = args
    body_fn = after = None
    if form is not None:
        # Each connection edits its own answer (as one official per provision would), with a new
        # text every time so every save really writes an answer and a history row. It sends the
        # answer's version token as the page does and keeps the new one each save returns, so
        # no save is refused as a conflict.
        fields = form["fields"]
        tokens = dict(form.get("tokens", {}))

        def body_fn(index, i):
            provision, question = fields[(index + form.get("offset", 0)) % len(fields)]
            name = f"{provision}.{question}"
            return urlencode(
                {
                    "csrf_token": form["csrf_token"],
                    f"{provision}.present": "1",
                    name: f"Benchmark answer {index} {i} {time.time()}",
                    f"{name}.v": tokens.get(f"{name}.v", ""),
                }
            )

        def after(index, data):
            with contextlib.suppress(ValueError):
                tokens.update(json.loads(data).get("tokens") or {})

    results: list = []
    workers = [
        threading.Thread(
            target=_worker,
            args=(host, port, method, path, headers, body_fn, deadline, results, first + n, after),
        )
        for n in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    latencies = [x for lat, _ in results for x in lat]
    queue.put((latencies, sum(e for _, e in results)))


def run(
    host,
    port,
    path,
    *,
    method="GET",
    headers=None,
    form=None,
    connections=20,
    seconds=10.0,
    processes=2,
):
    """Return requests/s, p50/p99 latency (ms) and the number of failed requests (status >= 400)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    deadline = time.time() + seconds
    per = [
        connections // processes + (1 if i < connections % processes else 0)
        for i in range(processes)
    ]
    starts = [sum(per[:i]) for i in range(len(per))]
    procs = [
        ctx.Process(
            target=_process,
            args=((host, port, method, path, headers or {}, form, n, deadline, start), queue),
        )
        for n, start in zip(per, starts, strict=True)
    ]
    begin = time.perf_counter()
    for p in procs:
        p.start()
    latencies, errors = [], 0
    for _ in procs:
        lat, err = queue.get()
        latencies += lat
        errors += err
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - begin
    latencies.sort()
    if not latencies:
        return {
            "requests": 0,
            "rps": 0.0,
            "p50_ms": float("nan"),
            "p99_ms": float("nan"),
            "errors": errors,
        }
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "errors": errors,
    }
