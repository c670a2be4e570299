"""Backups taken while the app writes: consistent, checked, and never a half-written file."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from survey.cli import main
from survey.responding import Edit, save_answers, save_provision
from survey.storage import backup as backup_module
from survey.storage import connect
from survey.storage.backup import BackupError, backup, check_backup, restore
from survey.storage.responses import get_or_create_response

PROVISIONS = ("TIP-5", "TIP-6-1", "UNTOC-5", "UNCAC-15")


def _save_until(db_path: str, response_id: int, writer: str, stop_file: str, limit: int) -> int:
    """Save answers through the real save path until `stop_file` exists; return saves made."""
    db = connect(db_path, migrate=False)
    saved = 0
    try:
        while saved < limit and not os.path.exists(stop_file):
            provision = PROVISIONS[saved % len(PROVISIONS)]
            if saved % 2:
                save_provision(
                    db,
                    response_id,
                    provision,
                    {"measures": f"{writer} save {saved}", "compliance": "partly"},
                    user_id=None,
                )
            else:  # a browser's save: a new value over whatever is there, as the form posts it
                save_answers(
                    db,
                    response_id,
                    [Edit(provision, "reason", f"{writer} reason {saved}", None)],
                    user_id=None,
                    source="web",
                    overwrite=True,
                )
            saved += 1
    finally:
        db.conn.close()
    return saved


def _rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table, sorted: two databases with equal results hold the same data."""
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    finally:
        conn.close()


def _replayed_history(path: Path) -> dict[tuple, str]:
    """The answers that the history, applied in order, leaves: (response, provision, question) ->
    stored text."""
    conn = sqlite3.connect(path)
    state: dict[tuple, str | None] = {}
    for response_id, provision, question, new_value in conn.execute(
        "SELECT response_id, provision_id, question, new_value FROM answer_history ORDER BY id"
    ):
        state[(response_id, provision, question)] = new_value
    conn.close()
    return {key: value for key, value in state.items() if value is not None}


def _stored_answers(path: Path) -> dict[tuple, str]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT response_id, provision_id, question, value FROM answers").fetchall()
    conn.close()
    return {(r, p, q): v for r, p, q, v in rows}


def _history_count(db_path: Path) -> int:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT count(*) FROM answer_history").fetchone()[0]
    finally:
        conn.close()


def _wait_for_history(db_path: Path, more_than: int, deadline: float = 60) -> int:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        count = _history_count(db_path)
        if count > more_than:
            return count
        time.sleep(0.02)
    raise AssertionError(f"writers made no progress past {more_than} history rows")


def test_backup_taken_while_threads_and_processes_save_is_a_consistent_snapshot(
    db_path, db, round_id, tmp_path
):
    kenya = get_or_create_response(db, round_id, "KEN")["id"]
    # One response per writer process, so the history shows that each of them is saving.
    by_process = [get_or_create_response(db, round_id, iso3)["id"] for iso3 in ("FRA", "BRA")]
    stop_file = tmp_path / "stop"
    threads = [
        threading.Thread(
            target=_save_until, args=(str(db_path), kenya, f"thread {w}", str(stop_file), 100_000)
        )
        for w in range(3)
    ]
    ctx = multiprocessing.get_context("spawn")
    processes = [
        ctx.Process(
            target=_save_until,
            args=(str(db_path), response, f"process {w}", str(stop_file), 100_000),
        )
        for w, response in enumerate(by_process)
    ]
    for writer in threads + processes:
        writer.start()
    try:
        # Every writer, thread or process, is saving before the backup starts, and still after.
        conn = sqlite3.connect(db_path)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            writing = {
                r[0] for r in conn.execute("SELECT DISTINCT response_id FROM answer_history")
            }
            if writing >= {kenya, *by_process}:
                break
            time.sleep(0.05)
        conn.close()
        assert writing >= {kenya, *by_process}, "not every writer started saving"
        before = _history_count(db_path)
        during = backup(db_path, tmp_path / "during.db")
        after = _wait_for_history(db_path, _history_count(db_path))
    finally:
        stop_file.touch()
        for writer in threads + processes:
            writer.join(timeout=120)
    assert [p.exitcode for p in processes] == [0, 0]
    assert after > before  # the writers kept saving around the backup

    assert check_backup(during.path)["answers"] > 0
    assert during.size == during.path.stat().st_size > 0
    # The copy is the database at one moment: its answers are exactly its history replayed, and
    # its history is the source's history up to that moment (the source has only appended since).
    assert _stored_answers(during.path) == _replayed_history(during.path)
    copied = _rows(during.path)["answer_history"]
    source_history = _rows(db_path)["answer_history"]
    assert before <= len(copied) < len(source_history)
    last_copied = max(row[0] for row in copied)
    assert copied == [row for row in source_history if row[0] <= last_copied]

    # Writers stopped: a second backup holds every row of every table of the source.
    quiet = backup(db_path, tmp_path / "quiet.db")
    assert _rows(quiet.path) == _rows(db_path)

    # Restoring the first backup gives the database as it was at that moment.
    source_rows = _rows(db_path)
    restore(during.path, db_path)
    assert _rows(db_path) == _rows(during.path)
    # ... and restoring the second gives back the state the writers left.
    restore(quiet.path, db_path)
    assert _rows(db_path) == source_rows
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_a_copy_that_fails_its_check_is_removed_and_nothing_is_left(db_path, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()

    def damaged(path):
        raise BackupError(f"{path} is damaged (integrity check: page 7 is never used)")

    monkeypatch.setattr(backup_module, "check_backup", damaged)
    with pytest.raises(BackupError, match="is damaged"):
        backup(db_path, out / "b.db")
    assert _files(out) == set()


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_backup_leaves_no_file(db_path, tmp_path, monkeypatch, interruption):
    out = tmp_path / "out"
    out.mkdir()
    real_check = backup_module.check_backup
    seen = []

    def interrupted(path):
        seen.append(Path(path))
        real_check(path)  # the copy exists in full at this point
        raise interruption()

    monkeypatch.setattr(backup_module, "check_backup", interrupted)
    with pytest.raises(interruption):
        backup(db_path, out / "b.db")
    assert seen and seen[0].parent == out and seen[0].name.startswith(".b.db.")
    assert _files(out) == set()


def test_a_temporary_file_left_by_a_killed_backup_is_removed_by_the_next(db_path, tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    abandoned = tmp_path / f".b.db.{dead.pid}.tmp"
    abandoned.write_bytes(b"half a database")
    running = tmp_path / f".b.db.{os.getppid()}.tmp"  # a live process: maybe still copying
    running.write_bytes(b"being written")
    result = backup(db_path, tmp_path / "b.db")
    assert result.path == tmp_path / "b.db"
    assert not abandoned.exists()
    assert running.exists()


@pytest.mark.parametrize(
    "name", ["b'ack [1] *; DROP TABLE answers.db", "nightly#3?mode=rw%20.db", "сохранение 備份.db"]
)
def test_backup_and_restore_with_a_hostile_file_name(db_path, tmp_path, name):
    target = tmp_path / name
    result = backup(db_path, target)
    assert result.path == target and check_backup(target)["users"] >= 1
    assert restore(target, db_path)["users"] >= 1


def test_the_backup_is_one_self_contained_file(db_path, tmp_path):
    result = backup(db_path, tmp_path / "b.db")
    conn = sqlite3.connect(result.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
    assert _files(tmp_path) >= {"b.db"}
    assert not (tmp_path / "b.db-wal").exists()


def _break_an_index(path: Path) -> None:
    """Point an index at another column: every page reads, but integrity_check finds wrong entries."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "UPDATE sqlite_master SET sql = 'CREATE INDEX answer_history_by_save ON answer_history (source)'"
        " WHERE name = 'answer_history_by_save'"
    )
    conn.commit()
    conn.close()


def test_restore_refuses_a_backup_that_fails_the_integrity_check(db_path, db, round_id, tmp_path):
    response = get_or_create_response(db, round_id, "KEN")["id"]
    for i in range(20):
        save_provision(db, response, "TIP-5", {"measures": f"text {i}"}, user_id=None)
    damaged = backup(db_path, tmp_path / "damaged.db").path
    _break_an_index(damaged)
    before = _rows(db_path)
    with pytest.raises(BackupError, match="integrity check"):
        restore(damaged, db_path)
    assert _rows(db_path) == before
    assert not (tmp_path / "survey.db.before-restore").exists()

    result = CliRunner().invoke(main, ["restore", "--db", str(db_path), str(damaged)])
    assert result.exit_code == 1
    assert "is damaged (integrity check:" in result.output
    assert "Traceback" not in result.output


def test_cli_backup_says_where_how_big_and_how_long(db_path, tmp_path):
    runner = CliRunner()
    target = tmp_path / "nightly.db"
    result = runner.invoke(main, ["backup", "--db", str(db_path), str(target)])
    assert result.exit_code == 0, result.output
    size_mb = target.stat().st_size / 1e6
    assert f"Backup written to {target}: {size_mb:.1f} MB in " in result.output
    assert "(integrity check ok)" in result.output

    again = runner.invoke(main, ["backup", "--db", str(db_path), str(target)])
    assert again.exit_code == 1 and "already exists" in again.output

    missing = runner.invoke(
        main, ["backup", "--db", str(tmp_path / "none.db"), str(tmp_path / "x")]
    )
    assert missing.exit_code == 1 and "no database at" in missing.output

    restored = runner.invoke(main, ["restore", "--db", str(db_path), str(target)])
    assert restored.exit_code == 0, restored.output
    assert "Restored" in restored.output and "before-restore" in restored.output
