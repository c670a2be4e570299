"""Backup time on the demo database while 20 clients keep saving answers (issue 13, part 4).

Twenty writer clients (threads in 4 processes, each with its own connection, each saving one
State's answers through `survey.responding.save.save_provision`, the app's save path) write
without pause. Meanwhile, interleaved in each round and in alternating order:

- `survey backup` (`survey.storage.backup.backup`: the backup API copying every page in one
  step, `pages=-1`, then integrity check, fsync and rename);
- `VACUUM INTO` (also one snapshot, but rebuilds every table and index), with the same check;
- the parts: each copy alone, and `PRAGMA integrity_check` alone on a copy;
- a floor: `shutil.copyfile` of the database file (the same bytes read and written, but not a
  consistent copy: it ignores the write-ahead log);

and once, at the end, the old stepwise online backup (`pages=1024`) that restarts after every
write, stopped after `--old-cap` seconds. Each figure is printed with the number of answers saved
while it ran, so a fast figure with idle writers cannot pass for one under load.

    .venv/bin/python benchmarks/backup_load.py                 # builds the demo DB (~15 s)
    .venv/bin/python benchmarks/backup_load.py --db demo.db    # reuses a copy of a demo DB
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import demo_database, machine  # noqa: E402

CLIENTS = 20
PROCESSES = 4


def _writer_process(db_path: str, response_ids: list[int], stop_file: str, counter) -> None:
    from survey.responding import save_provision
    from survey.storage import connect

    def client(response_id: int) -> None:
        db = connect(db_path, migrate=False)
        i = 0
        while not Path(stop_file).exists():
            save_provision(
                db,
                response_id,
                ("UNTOC-5", "TIP-5", "UNCAC-15")[i % 3],
                {"measures": f"benchmark edit {i}", "compliance": "partly"},
                user_id=None,
                source="benchmark",
            )
            i += 1
            with counter.get_lock():
                counter.value += 1
        db.conn.close()

    threads = [threading.Thread(target=client, args=(r,)) for r in response_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _check(path: Path) -> None:
    from survey.storage.backup import check_backup

    check_backup(path)


def product(db: Path, target: Path) -> None:
    from survey.storage.backup import backup

    backup(db, target)


def vacuum_into(db: Path, target: Path) -> None:
    vacuum_into_copy_only(db, target)
    _check(target)


def backup_api_copy_only(db: Path, target: Path) -> None:
    source = sqlite3.connect(db, timeout=30)
    dest = sqlite3.connect(target)
    source.backup(dest, pages=-1)
    dest.close()
    source.close()


def vacuum_into_copy_only(db: Path, target: Path) -> None:
    source = sqlite3.connect(db, timeout=30)
    source.execute("VACUUM INTO ?", [str(target)])
    source.close()


def file_copy_floor(db: Path, target: Path) -> None:
    shutil.copyfile(db, target)


class _GaveUp(Exception):
    pass


def old_stepwise(db: Path, target: Path, cap: float) -> bool:
    """The backup `survey backup` used before: True if it finished within `cap` seconds."""
    source = sqlite3.connect(db, timeout=30)
    dest = sqlite3.connect(target)
    start = time.perf_counter()

    def progress(status, remaining, total):
        if time.perf_counter() - start > cap:
            raise _GaveUp

    try:
        source.backup(dest, pages=1024, progress=progress)
        return True
    except _GaveUp:
        return False
    finally:
        dest.close()
        source.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="a demo database to copy (default: build one)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--old-cap", type=float, default=30.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="survey-backup-bench-"))
    if args.db:
        db = work / "survey.db"
        shutil.copyfile(args.db, db)
    else:
        print("building the demo database ...", flush=True)
        db = demo_database(work)
    conn = sqlite3.connect(db)
    responses = [
        r[0] for r in conn.execute("SELECT id FROM responses ORDER BY id LIMIT ?", [CLIENTS])
    ]
    conn.close()
    size_mb = db.stat().st_size / 1e6

    stop_file = work / "stop"
    ctx = multiprocessing.get_context("spawn")
    counter = ctx.Value("q", 0)
    writers = [
        ctx.Process(
            target=_writer_process,
            args=(str(db), responses[p::PROCESSES], str(stop_file), counter),
        )
        for p in range(PROCESSES)
    ]
    for w in writers:
        w.start()
    while counter.value < 200:  # every process is up and saving
        time.sleep(0.1)

    reference = work / "reference.db"
    backup_api_copy_only(db, reference)

    def check_only(db: Path, target: Path) -> None:
        _check(reference)

    candidates = {
        "survey backup (backup API pages=-1)": product,
        "VACUUM INTO (+ the same check)": vacuum_into,
        "  part: copy, backup API pages=-1": backup_api_copy_only,
        "  part: copy, VACUUM INTO": vacuum_into_copy_only,
        "  part: integrity check of a copy": check_only,
        "floor: file copy (not consistent)": file_copy_floor,
    }
    figures: dict[str, list[tuple[float, int]]] = {name: [] for name in candidates}
    order = list(candidates)
    try:
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else reversed(order):
                target = work / f"copy-{r}-{order.index(name)}.db"
                saved_before = counter.value
                start = time.perf_counter()
                candidates[name](db, target)
                seconds = time.perf_counter() - start
                figures[name].append((seconds, counter.value - saved_before))
                target.unlink(missing_ok=True)
        saved_before = counter.value
        start = time.perf_counter()
        finished = old_stepwise(db, work / "old.db", args.old_cap)
        old_seconds = time.perf_counter() - start
        old_saves = counter.value - saved_before
    finally:
        stop_file.touch()
        for w in writers:
            w.join()

    facts = machine()
    print(
        f"\nBackup of the demo database ({size_mb:.0f} MB) while {CLIENTS} clients save answers"
        f" ({facts['cores']} cores, {facts['cpu']}, SQLite {facts['sqlite']}, Python {facts['python']})"
    )
    print(f"{'method':<40} {'median s':>9} {'min s':>7} {'max s':>7} {'saves/s during':>15}")
    for name, rows in figures.items():
        times = [s for s, _ in rows]
        rate = sum(n for _, n in rows) / sum(times)
        print(
            f"{name:<40} {statistics.median(times):>9.2f} {min(times):>7.2f} {max(times):>7.2f}"
            f" {rate:>15.0f}"
        )
    outcome = (
        f"finished in {old_seconds:.1f} s" if finished else f"gave up after {old_seconds:.0f} s"
    )
    print(
        f"{'old stepwise backup (pages=1024), once':<40} {outcome} ({old_saves / old_seconds:.0f} saves/s)"
    )
    print(
        f"target: survey backup under 10 s; n={args.rounds} interleaved rounds; {counter.value} saves in all"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
