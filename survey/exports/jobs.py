"""Exports built in the background, with progress, and reused while their data is unchanged.

The analyst workbook of a full round takes seconds to minutes to write, too long for a request
with nothing on screen. The web asks for a build (`request_build`); a Huey worker (the
embedded default stores its queue in SQLite next to the database, `survey worker`, started by
`survey serve`) writes the file and reports rows written of rows expected into the
`export_builds` table, which the page polls. A build is keyed by its kind, round, filters,
language, the questionnaire version and the round's data version (last answer change, last
status change, number of responses), so asking again for unchanged data returns the file
already built, at once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..i18n import N_
from ..storage.db import connect, transaction
from ..storage.migrations import now
from .rows import ExportError, make_filters, round_or_error

log = logging.getLogger(__name__)

FORMAT = 1  # raise when the files a build writes change, so older files are not reused
STALE_AFTER = timedelta(minutes=10)  # a running build that reported nothing for this long died
PROGRESS_EVERY = 1.0  # seconds between two progress writes to the database
KEEP_PER_EXPORT = 1  # finished files kept per kind, round and filters (the newest data version)
STATUSES = ("queued", "running", "done", "failed")
# Stored in English by the worker (no request, no language) and translated where it is shown.
UNEXPECTED_FAILURE = N_(
    "The export failed unexpectedly; the server log has the details. Try again."
)


@dataclass(frozen=True)
class Build:
    """One export build as stored: key (32 hex), kind ('workbook'), round_id, params (the
    filters and language), status (one of STATUSES), rows_done / rows_expected (rows of the
    file), download name, error (a message for the user when failed), timestamps (ISO UTC)."""

    key: str
    kind: str
    round_id: str
    params: dict
    status: str
    rows_done: int
    rows_expected: int
    name: str
    error: str | None
    created_at: str
    updated_at: str

    @property
    def ready(self) -> bool:
        return self.status == "done"

    @property
    def percent(self) -> int:
        """0-100; at most 99 until the file is done (the expected rows are an estimate)."""
        if self.ready:
            return 100
        if not self.rows_expected:
            return 0
        return min(99, int(100 * self.rows_done / self.rows_expected))

    @property
    def stale(self) -> bool:
        if self.status not in ("queued", "running"):
            return False
        updated = datetime.strptime(self.updated_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return datetime.now(UTC) - updated > STALE_AFTER


# -- kinds of export -----------------------------------------------------------------------------


def _workbook_writer():
    from .excel import expected_rows, write_workbook
    from .xlsx import XLSX_MIMETYPE

    return write_workbook, expected_rows, ".xlsx", XLSX_MIMETYPE


KINDS = {"workbook": _workbook_writer}


def mimetype(kind: str) -> str:
    return KINDS[kind]()[3]


def download_name(kind: str, round_id: str, params: dict) -> str:
    """survey-<round>-<grouping>-<region>-<instrument>-<statuses>.xlsx, parts present only."""
    suffix = KINDS[kind]()[2]
    parts = [round_id, params.get("grouping"), params.get("region"), params.get("instrument")]
    parts += list(params.get("status") or [])
    return "survey-" + "-".join(p for p in parts if p) + suffix


# -- the data version and the key ----------------------------------------------------------------


def data_version(db, round_id: str) -> list:
    """What the round's exports depend on: the last answer change, the last status change, the
    number of responses and the round's status. Changes whenever any answer or status does."""
    row = db.execute(
        """SELECT
            (SELECT coalesce(max(h.id), 0) FROM responses r
               JOIN answer_history h ON h.response_id = r.id WHERE r.round_id = :r),
            (SELECT coalesce(max(e.id), 0) FROM responses r
               JOIN response_events e ON e.response_id = r.id WHERE r.round_id = :r),
            (SELECT count(*) FROM responses WHERE round_id = :r),
            (SELECT status FROM rounds WHERE id = :r)""",
        {"r": round_id},
    ).fetchone()
    return list(row)


def build_key(db, model, kind: str, round_id: str, params: dict) -> str:
    """32 hex characters naming the file these inputs give."""
    material = [
        FORMAT,
        kind,
        round_id,
        sorted(params.items()),
        model.id,
        model.version,
        data_version(db, round_id),
    ]
    return hashlib.sha256(json.dumps(material, default=str).encode()).hexdigest()[:32]


def clean_params(
    *, grouping=None, region=None, instrument=None, status=None, lang: str = "en"
) -> dict:
    """The filters of an export in one canonical form (statuses sorted, empty as None)."""
    statuses = [status] if isinstance(status, str) else list(status or [])
    return {
        "grouping": grouping or None,
        "region": region or None,
        "instrument": instrument or None,
        "status": sorted(set(statuses)) or None,
        "lang": lang or "en",
    }


# -- storage -------------------------------------------------------------------------------------


def _row(row) -> Build | None:
    if row is None:
        return None
    data = dict(row)
    data["params"] = json.loads(data["params"])
    data.pop("path", None)
    data.pop("finished_at", None)
    return Build(**data)


def get_build(db, key: str) -> Build | None:
    cursor = db.execute("SELECT * FROM export_builds WHERE key = ?", [key])
    names = [c[0] for c in cursor.description]
    row = cursor.fetchone()
    return _row(dict(zip(names, row, strict=True)) if row else None)


def build_path(db, key: str) -> Path | None:
    """The finished file of a build, or None if it is not done or the file is gone."""
    row = db.execute(
        "SELECT path FROM export_builds WHERE key = ? AND status = 'done'", [key]
    ).fetchone()
    if row is None or not row[0] or not Path(row[0]).is_file():
        return None
    return Path(row[0])


# -- asking for a build --------------------------------------------------------------------------


def request_build(
    db, model, kind: str, round_id: str, params: dict, *, database: str, folder: Path, queue
) -> Build:
    """The build of this export for the current data: done already, under way, or queued now.

    Checks the filters first (raises ExportError for an unknown round or filter value), so a
    bad request never reaches the queue; the expected rows are counted only for a new build, so
    asking again for a file already built costs a few queries. `queue` is a JobQueue; in immediate mode the build
    runs before this returns.
    """
    _write, expected, _suffix, _mime = KINDS[kind]()
    round_or_error(db, round_id)
    make_filters(db, model, **{k: v for k, v in params.items() if k != "lang"})
    key = build_key(db, model, kind, round_id, params)
    if not _needs_building(db, key):
        return get_build(db, key)  # done or under way: nothing more to count or queue
    rows_expected = expected(db, model, round_id, **params)  # the progress bar's total
    enqueue = False
    with transaction(db):
        if _needs_building(
            db, key
        ):  # again inside the write lock: another request may have queued it
            stamp = now()
            db.execute(
                """INSERT INTO export_builds
                       (key, kind, round_id, params, status, rows_done, rows_expected, name,
                        error, path, created_at, updated_at)
                   VALUES (?, ?, ?, ?, 'queued', 0, ?, ?, NULL, NULL, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET status = 'queued', rows_done = 0,
                       rows_expected = excluded.rows_expected, error = NULL, path = NULL,
                       created_at = excluded.created_at, updated_at = excluded.updated_at""",
                [
                    key,
                    kind,
                    round_id,
                    json.dumps(params, sort_keys=True),
                    rows_expected,
                    download_name(kind, round_id, params),
                    stamp,
                    stamp,
                ],
            )
            enqueue = True
    if enqueue:
        queue.enqueue(database, str(folder), key)
    return get_build(db, key)


def _needs_building(db, key: str) -> bool:
    """No usable build for `key`: none, failed, stale, or done with its file gone."""
    current = get_build(db, key)
    if current is None or current.status == "failed" or current.stale:
        return True
    return current.ready and build_path(db, key) is None


# -- running a build (in the worker) -------------------------------------------------------------


def run_build(database: str, folder: str, key: str) -> None:
    """Write the file of build `key` into `folder`, reporting progress; never raises for a
    failed export (the build is marked failed with a message the page shows)."""
    from ..questionnaire import get_questionnaire

    db = connect(database)
    try:
        build = get_build(db, key)
        if build is None or build.status == "done":
            return
        write = KINDS[build.kind]()[0]
        folder_path = Path(folder)
        folder_path.mkdir(parents=True, exist_ok=True)
        final = folder_path / f"{key}{KINDS[build.kind]()[2]}"
        partial = final.with_name(final.name + ".partial")
        db.execute(
            "UPDATE export_builds SET status = 'running', updated_at = ? WHERE key = ?",
            [now(), key],
        )
        last = 0.0

        def progress(rows: int) -> None:
            nonlocal last
            moment = time.monotonic()
            if moment - last >= PROGRESS_EVERY:
                last = moment
                db.execute(
                    "UPDATE export_builds SET rows_done = ?, updated_at = ? WHERE key = ?",
                    [rows, now(), key],
                )

        try:
            counts = write(
                db, get_questionnaire(), build.round_id, partial, **build.params, progress=progress
            )
            os.replace(partial, final)
        except ExportError as exc:
            _fail(db, key, str(exc))
            return
        except Exception:
            log.exception("export build %s failed", key)
            _fail(db, key, UNEXPECTED_FAILURE)
            return
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        rows = sum(counts.values()) if isinstance(counts, dict) else int(counts or 0)
        db.execute(
            """UPDATE export_builds SET status = 'done', rows_done = ?, path = ?,
                   updated_at = ?, finished_at = ? WHERE key = ?""",
            [rows, str(final), now(), now(), key],
        )
        _prune(db, build)
    finally:
        db.conn.close()


def _fail(db, key: str, message: str) -> None:
    db.execute(
        "UPDATE export_builds SET status = 'failed', error = ?, updated_at = ? WHERE key = ?",
        [message, now(), key],
    )


def _prune(db, build: Build) -> None:
    """Remove older finished files of the same export (kind, round, filters): their data changed."""
    rows = db.execute(
        """SELECT key, path FROM export_builds
           WHERE kind = ? AND round_id = ? AND params = ? AND status = 'done'
           ORDER BY finished_at DESC, rowid DESC""",
        [build.kind, build.round_id, json.dumps(build.params, sort_keys=True)],
    ).fetchall()
    for key, path in rows[KEEP_PER_EXPORT:]:
        if path:
            with contextlib.suppress(FileNotFoundError):
                Path(path).unlink()
        db.execute("DELETE FROM export_builds WHERE key = ?", [key])


# -- the queue -----------------------------------------------------------------------------------


class JobQueue:
    """A Huey queue stored in SQLite (`jobs_file`), with the one task this project runs.

    immediate=True runs each build inside `enqueue` (tests, single-process use); otherwise a
    worker (`survey worker`, or the one `survey serve` starts) runs it.
    """

    def __init__(self, jobs_file: str, immediate: bool = False):
        from huey import SqliteHuey

        self.huey = SqliteHuey(
            "survey-exports", filename=jobs_file, immediate=immediate, results=False
        )
        self._task = self.huey.task(name="build_export", retries=0)(run_build)

    def enqueue(self, database: str, folder: str, key: str) -> None:
        self._task(database, folder, key)

    def worker(self, workers: int = 1):
        """A Huey consumer running builds in `workers` threads; `.run()` blocks until stopped
        by SIGINT (graceful) or SIGTERM."""
        return self.huey.create_consumer(workers=workers, worker_type="thread", periodic=False)


@functools.cache
def job_queue(jobs_file: str, immediate: bool = False) -> JobQueue:
    """The queue for a jobs file (one per process and file)."""
    return JobQueue(jobs_file, immediate)


def jobs_file_for(database: str | os.PathLike) -> str:
    """The queue's SQLite file: `<database name>.jobs` next to the database."""
    path = Path(database)
    return str(path.with_name(path.name + ".jobs"))
