"""Helpers shared by the benchmark scripts: timing with median/min/max, machine facts, a demo DB."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path


def timed(fn, runs: int) -> dict:
    """Run fn `runs` times; return median, min and max seconds (and the last result)."""
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "runs": runs,
        "result": result,
    }


def fmt(stats: dict, unit: str = "s") -> str:
    scale = 1000 if unit == "ms" else 1
    return f"{stats['median'] * scale:.3g} {unit} (min {stats['min'] * scale:.3g}, max {stats['max'] * scale:.3g}, n={stats['runs']})"


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for package in ("flask", "openpyxl", "lxml", "sqlite-utils", "gunicorn", "plotly", "survey"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
        **versions,
    }


def demo_database(directory: Path | None = None) -> Path:
    """A temporary database with the full demo dataset (193 States, two rounds)."""
    from survey.demo import generate_demo
    from survey.questionnaire import get_questionnaire
    from survey.setup import prepare

    directory = Path(directory or tempfile.mkdtemp(prefix="survey-bench-"))
    path = directory / "survey.db"
    db, _ = prepare(path)
    generate_demo(db, get_questionnaire())
    db.conn.close()
    return path


def peak_rss_mb(code: str, *args: str) -> tuple[float, str]:
    """Run Python code in a fresh process; return its peak resident memory (MB) and its output."""
    # VmHWM is the peak of this process's own memory map. ru_maxrss would not do: Linux carries it
    # over from the parent through fork and exec, so it reported the benchmark driver's own peak.
    wrapper = (
        code
        + "\nimport re, sys\nhwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)"
        + "\nprint('PEAK_KB', hwm, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *args], capture_output=True, text=True, check=True
    )
    peak = next(line for line in done.stderr.splitlines() if line.startswith("PEAK_KB"))
    return int(peak.split()[1]) / 1024, done.stdout
