"""Durability: WAL, foreign keys, append-only history, concurrent saves, backup and restore."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import threading

import pytest

from survey.responding import Edit, save_provision
from survey.storage import connect
from survey.storage.backup import BackupError, backup, check_backup, restore
from survey.storage.responses import get_or_create_response, history, load_answers


def test_database_runs_in_wal_mode_with_foreign_keys(db):
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO responses (round_id, state_iso3, created_at, updated_at) VALUES ('nope', 'XXX', 'x', 'x')"
        )


def test_answer_history_is_append_only(db, round_id):
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "TIP-5", {"compliance": "fully"}, user_id=None)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE answer_history SET new_value = '\"not_yet\"'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM answer_history")


def test_a_failed_multi_row_write_leaves_nothing_behind(db, round_id):
    response = get_or_create_response(db, round_id, "KEN")
    from survey.storage import transaction

    with pytest.raises(RuntimeError), transaction(db):
        save_provision(db, response["id"], "TIP-5", {"compliance": "fully"}, user_id=None)
        save_provision(db, response["id"], "TIP-6-1", {"compliance": "not_yet"}, user_id=None)
        raise RuntimeError("disk full")
    assert load_answers(db, response["id"]) == {}
    assert history(db, response["id"]) == []


def _save_many(db_path, response_id, worker, count):
    db = connect(db_path, migrate=False)
    saved = 0
    for i in range(count):
        result = save_provision(
            db, response_id, "TIP-5", {"measures": f"worker {worker} save {i}"}, user_id=None
        )
        saved += len(result.changed)
    db.conn.close()
    return saved


def test_save_provision_sets_the_values_whatever_was_stored_meanwhile(
    db_path, db, round_id, monkeypatch
):
    # save_provision promises the values "whatever was stored". It once read the stored values
    # (the bases of its edits) before save_answers opened the transaction, so a write landing in
    # between made its edit a conflict, left unsaved without an error: the caller's value was lost.
    import survey.responding.save as save

    response = get_or_create_response(db, round_id, "KEN")
    other = connect(db_path, migrate=False)
    original = save.save_answers

    def another_writer_gets_in_first(*args, **kwargs):
        original(
            other,
            response["id"],
            [Edit("TIP-5", "measures", "another writer", None)],
            user_id=None,
            source="script",
            overwrite=True,
        )
        return original(*args, **kwargs)

    monkeypatch.setattr(save, "save_answers", another_writer_gets_in_first)
    try:
        result = save_provision(db, response["id"], "TIP-5", {"measures": "mine"}, user_id=None)
    finally:
        other.conn.close()
    assert result.conflicts == []
    assert load_answers(db, response["id"])["TIP-5"]["measures"].value == "mine"


def test_concurrent_saves_from_threads_lose_nothing(db_path, db, round_id):
    # With a read outside the transaction (the test above), a worker's save overtaken by
    # another worker's write was dropped as a conflict: 144 of 150 saved.
    response = get_or_create_response(db, round_id, "KEN")
    results = []
    threads = [
        threading.Thread(
            target=lambda w=w: results.append(_save_many(db_path, response["id"], w, 25))
        )
        for w in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 150
    rows = history(db, response["id"], "TIP-5")
    assert len(rows) == 150  # every accepted save is in the history
    assert {r["new_value"] for r in rows} == {
        f"worker {w} save {i}" for w in range(6) for i in range(25)
    }


def _process_worker(args):
    return _save_many(*args)


def test_concurrent_saves_from_processes_lose_nothing(db_path, db, round_id):
    response = get_or_create_response(db, round_id, "KEN")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(3) as pool:
        saved = pool.map(_process_worker, [(str(db_path), response["id"], w, 15) for w in range(3)])
    assert sum(saved) == 45
    assert len(history(db, response["id"], "TIP-5")) == 45


def test_backup_while_writing_and_restore(db_path, db, round_id, tmp_path):
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "TIP-5", {"compliance": "fully"}, user_id=None)
    stop = threading.Event()

    def writer():
        other = connect(db_path, migrate=False)
        i = 0
        while not stop.is_set():
            save_provision(
                other, response["id"], "TIP-6-1", {"measures": f"edit {i}"}, user_id=None
            )
            i += 1
        other.conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        target = backup(db_path, tmp_path / "b.db").path
    finally:
        stop.set()
        thread.join()
    counts = check_backup(target)
    assert counts["answers"] >= 1
    save_provision(db, response["id"], "TIP-5", {"compliance": "not_yet"}, user_id=None)
    restore(target, db_path)
    fresh = connect(db_path, migrate=False)
    assert load_answers(fresh, response["id"])["TIP-5"]["compliance"].value == "fully"
    assert (tmp_path / "survey.db.before-restore").exists() or (
        db_path.parent / "survey.db.before-restore"
    ).exists()
    fresh.conn.close()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"not a database at all", "is not an SQLite database"),
        (b"SQLite format 3\x00" + b"\x00" * 200, "cannot be read"),
    ],
)
def test_restore_refuses_files_that_are_not_backups(db_path, tmp_path, content, message):
    bad = tmp_path / "bad.db"
    bad.write_bytes(content)
    with pytest.raises(BackupError, match=message):
        restore(bad, db_path)


def test_restore_refuses_another_schema(db_path, tmp_path):
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    with pytest.raises(BackupError, match="not a survey database"):
        restore(other, db_path)


def test_backup_never_overwrites(db_path, tmp_path):
    target = tmp_path / "b.db"
    target.write_text("keep me")
    with pytest.raises(BackupError, match="already exists"):
        backup(db_path, target)
    assert target.read_text() == "keep me"


KILL_CHILD = r"""
import sys, time
import survey.responding.save as save
from survey.exports import offline
from survey.questionnaire import get_questionnaire
from survey.storage import connect

original = save.write_answers

def write_then_hang(*args, **kwargs):
    original(*args, **kwargs)
    # Every answer of the file is written, inside the import's still open transaction.
    print("HALFWAY", flush=True)
    time.sleep(60)

save.write_answers = write_then_hang
db = connect(sys.argv[1], migrate=False)
with open(sys.argv[2], "rb") as f:
    offline.import_offline(db, get_questionnaire(), sys.argv[3], "KEN", f, user_id=None)
print("DONE", flush=True)
"""


def _filled_offline_file(db, questionnaire, round_id, tmp_path):
    from openpyxl import load_workbook

    from survey.exports.offline import export_offline

    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "TIP-5", {"compliance": "fully"}, user_id=None)
    path = tmp_path / "ken.xlsx"
    with open(path, "wb") as f:
        export_offline(db, questionnaire, round_id, "KEN", f)
    wb = load_workbook(path)
    ws = wb["TIP"]
    # Each provision gets the "not there" code of its level's scale (column D: obligation).
    code = {"mandatory": "not_yet", "consider": "not_yet_considered", "optional": "not_used"}
    filled = {}
    for row in range(2, ws.max_row + 1):
        if ws.cell(row, 8).value == "compliance":
            ws.cell(row, 6).value = code[ws.cell(row, 4).value]
            filled[ws.cell(row, 1).value] = json.dumps(ws.cell(row, 6).value)
    wb.save(path)
    return path, filled


def _snapshot(db_path):
    conn = sqlite3.connect(db_path)
    rows = conn.execute(
        "SELECT provision_id, question, value FROM answers ORDER BY 1, 2"
    ).fetchall()
    history_rows = conn.execute("SELECT count(*) FROM answer_history").fetchone()[0]
    conn.close()
    return rows, history_rows


def test_killing_an_import_midway_leaves_the_database_as_before(
    db_path, db, round_id, questionnaire, tmp_path
):
    import signal
    import subprocess
    import sys

    path, filled = _filled_offline_file(db, questionnaire, round_id, tmp_path)
    assert len(filled) > 5
    before = _snapshot(db_path)
    child = subprocess.Popen(
        [sys.executable, "-c", KILL_CHILD, str(db_path), str(path), round_id],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout.readline().strip() == "HALFWAY"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    assert _snapshot(db_path) == before  # fully before: the half-written transaction is gone

    # Run to the end: fully after.
    from survey.exports.offline import import_offline

    with open(path, "rb") as f:
        import_offline(db, questionnaire, round_id, "KEN", f, user_id=None)
    after_rows, after_history = _snapshot(db_path)
    compliance = {p: v for p, q, v in after_rows if q == "compliance" and p.startswith("TIP-")}
    assert compliance == filled
    assert after_history == before[1] + len(filled)
