"""Helpers shared by the benchmark scripts: interleaved timing, WAL control, clean-process memory.

Every comparison here is product against a floor that does the same work the simplest way, timed
interleaved (round after round, the order rotating) so both share whatever else the machine is
doing; figures are min/median/max with n.
"""

from __future__ import annotations

import gc
import json
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

# Packages whose presence changes what the product imports or how much memory it takes
# (sqlite-utils imports pandas and numpy when they are installed).
RELEVANT_PACKAGES = (
    "flask",
    "jinja2",
    "werkzeug",
    "openpyxl",
    "lxml",
    "xlsxwriter",
    "sqlite-utils",
    "gunicorn",
    "plotly",
    "pandas",
    "numpy",
    "survey",
)


def stats(times: list[float]) -> dict:
    return {
        "min": min(times),
        "median": statistics.median(times),
        "max": max(times),
        "runs": len(times),
    }


def timed(fn, runs: int) -> dict:
    """Run fn `runs` times alone (no floor to interleave with); min/median/max and the last result."""
    times, result = [], None
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return {**stats(times), "result": result}


def interleaved(series: dict, runs: int, *, warmup: int = 1) -> dict[str, dict]:
    """Time several callables round after round, rotating their order each round.

    Returns name -> stats (plus "times", the per-round list, and "result", the last result). The
    first `warmup` rounds are run but not kept (caches filled, code paths compiled).
    """
    names = list(series)
    times: dict[str, list[float]] = {name: [] for name in names}
    results: dict = {}
    for number in range(warmup + runs):
        shift = number % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            start = time.perf_counter()
            results[name] = series[name]()
            elapsed = time.perf_counter() - start
            if number >= warmup:
                times[name].append(elapsed)
    return {
        name: {**stats(times[name]), "times": times[name], "result": results[name]}
        for name in names
    }


def fmt(s: dict, unit: str = "s") -> str:
    scale = 1000 if unit == "ms" else 1
    return (
        f"{s['median'] * scale:.3g} {unit} (min {s['min'] * scale:.3g}, max {s['max'] * scale:.3g},"
        f" n={s['runs']})"
    )


def package_versions() -> dict[str, str]:
    versions = {}
    for package in RELEVANT_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        load = "-"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load average at start (1, 5, 15 min)": load,
        "python": f"{platform.python_version()} ({sys.executable})",
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
        **package_versions(),
    }


def demo_database(directory: Path | None = None) -> Path:
    """A temporary database with the full demo dataset (193 States, two rounds), WAL checkpointed."""
    from survey.demo import generate_demo
    from survey.questionnaire import get_questionnaire
    from survey.setup import prepare

    directory = Path(directory or tempfile.mkdtemp(prefix="survey-bench-"))
    path = directory / "survey.db"
    db, _ = prepare(path)
    generate_demo(db, get_questionnaire())
    db.conn.close()
    quiesce(path)
    return path


# -- WAL control -----------------------------------------------------------------------------------
#
# A read's cost depends on the write-ahead log: with frames in the WAL, every page look-up consults
# the WAL index, and a connection left open elsewhere keeps the WAL from being reset. The policy of
# every in-process benchmark: no other connection is open, the WAL is checkpointed and truncated to
# zero bytes before timing (`quiesce`), and the timed code uses one connection of its own. The
# benchmarks only read, so the WAL stays empty while they run; `wal_bytes` is printed to show it.


def wal_bytes(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


def quiesce(path: Path) -> int:
    """Checkpoint the database's WAL into the main file and truncate it; return its size after (0)."""
    conn = sqlite3.connect(str(path))
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        conn.close()
    if busy:
        raise RuntimeError(f"{path}: another connection is open; the WAL could not be truncated")
    return wal_bytes(path)


# -- peak memory in a clean process ----------------------------------------------------------------

_MEMORY_WRAPPER = """
import json, re, sys, time
BLOCKED = set(json.loads(sys.argv.pop(1)))
if BLOCKED:
    class _Block:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in BLOCKED:
                raise ImportError(f'{name} blocked for the benchmark')
    sys.meta_path.insert(0, _Block())
_start = time.perf_counter()
_code = sys.argv.pop(1)
exec(compile(_code, '<benchmark>', 'exec'))
_elapsed = time.perf_counter() - _start
_hwm = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))
print('MEMORY ' + json.dumps({
    'peak_mb': _hwm / 1024,
    'seconds': _elapsed,
    'work_seconds': globals().get('WORK_SECONDS'),
    'pandas_loaded': 'pandas' in sys.modules,
    'numpy_loaded': 'numpy' in sys.modules,
}), file=sys.stderr)
"""


def clean_env() -> dict:
    """The environment of a measured child: PATH and a UTF-8 locale only (no PYTHON* variables)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}


def run_measured(code: str, *args: str, block: tuple[str, ...] = ()) -> dict:
    """Run Python code in a fresh, isolated process (`python -I`, clean environment); return its
    peak resident set size, its timings and whether pandas/numpy were imported.

    Peak memory is the kernel's high-water mark of this process's resident set (VmHWM in
    /proc/self/status): ru_maxrss of a child started with fork+exec can carry the parent's peak
    over, VmHWM cannot. The code may set WORK_SECONDS to the time of its measured work alone.
    `block` makes importing those top-level packages fail, as if they were not installed.
    """
    done = subprocess.run(
        [sys.executable, "-I", "-c", _MEMORY_WRAPPER, json.dumps(list(block)), code, *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tempfile.gettempdir(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"measured child failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stderr.splitlines() if x.startswith("MEMORY "))
    return {**json.loads(line[len("MEMORY ") :]), "stdout": done.stdout}
