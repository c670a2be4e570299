"""The analyst workbook built in the background: queued, built by a worker with progress, offered
when ready, reused while the data is unchanged, rebuilt when it changes, and a failure shown."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from survey.exports import jobs
from survey.exports.jobs import Build, job_queue
from survey.responding import save_provision
from survey.storage.responses import find_response, get_or_create_response
from tests.conftest import make_app

FILTERS = "?grouping=un_regional_group"


@pytest.fixture
def worker_app(db_path, people, tmp_path):
    return make_app(db_path, tmp_path, EXPORT_JOBS="worker")


@pytest.fixture
def analyst(worker_app):
    from tests.conftest import PASSWORD, Actions

    helper = Actions(worker_app.test_client())
    assert helper.login("analyst@example.org", PASSWORD).status_code == 302
    return helper


@pytest.fixture
def answered(db, round_id):
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(db, response["id"], "UNCAC-15", {"compliance": "partly"}, user_id=None)
    return round_id


def _queue(app):
    return job_queue(app.config["JOBS_FILE"])


def _work(app) -> int:
    """Run what the worker would: every queued task, in this thread; return how many ran."""
    queue = _queue(app)
    ran = 0
    while (task := queue.huey.dequeue()) is not None:
        queue.huey.execute(task)
        ran += 1
    return ran


def test_a_build_is_queued_built_by_the_worker_and_then_offered(worker_app, analyst, answered):
    client = analyst.client
    first = client.get(f"/exports/{answered}/workbook.xlsx{FILTERS}")
    assert first.status_code == 302
    status_url = first.headers["Location"]
    key = re.search(r"/exports/builds/([0-9a-f]{32})$", status_url).group(1)
    page = client.get(status_url).get_data(as_text=True)
    assert "Waiting for the export worker to start" in page
    assert f"survey-{answered}-un_regional_group.xlsx" in page
    progress = client.get(f"/exports/builds/{key}.json").get_json()
    assert progress["status"] == "queued" and not progress["ready"] and progress["percent"] == 0
    assert progress["rows_expected"] > 100

    assert _work(worker_app) == 1
    progress = client.get(f"/exports/builds/{key}.json").get_json()
    assert progress["ready"] and progress["percent"] == 100
    assert progress["download"] == f"/exports/builds/{key}/file"
    assert "The workbook is ready." in client.get(status_url).get_data(as_text=True)
    download = client.get(progress["download"], buffered=True)
    assert download.status_code == 200
    assert "filename=survey-" in download.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(download.data))
    assert workbook.sheetnames[0] == "About"
    # The rows the worker reported are the rows in the file.
    written = sum(ws.max_row - 1 for ws in workbook.worksheets)
    assert progress["rows_done"] == written


def test_unchanged_data_gives_the_same_file_at_once_and_a_change_rebuilds(
    worker_app, analyst, answered, db
):
    client = analyst.client
    url = f"/exports/{answered}/workbook.xlsx{FILTERS}"
    assert client.get(url).status_code == 302
    _work(worker_app)
    again = client.get(url, buffered=True)
    assert again.status_code == 200 and again.data[:2] == b"PK"
    assert _queue(worker_app).huey.pending_count() == 0  # nothing was queued again
    folder = Path(worker_app.config["INSTANCE_PATH"]) / "exports"
    files = list(folder.glob("*.xlsx"))
    assert len(files) == 1

    # Another language is another file; an answer changed is new data.
    assert client.get(url + "&lang=fr").status_code == 302
    response = find_response(db, answered, "KEN")
    save_provision(db, response["id"], "UNCAC-15", {"compliance": "fully"}, user_id=None)
    changed = client.get(url)
    assert changed.status_code == 302
    assert _work(worker_app) == 2
    rebuilt = client.get(url, buffered=True)
    assert rebuilt.status_code == 200
    wb = load_workbook(io.BytesIO(rebuilt.data))
    rows = list(wb["Answers"].iter_rows(values_only=True))
    answers = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert {(a["provision_id"], a["question"], a["value"]) for a in answers} == {
        ("UNCAC-15", "compliance", "fully")
    }
    # The file of the older data version is removed; the French one stays.
    assert not files[0].exists()
    assert len(list(folder.glob("*.xlsx"))) == 2


def test_a_failed_build_says_so_and_offers_to_try_again(worker_app, analyst, answered, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    real = jobs.KINDS["workbook"]
    monkeypatch.setitem(jobs.KINDS, "workbook", lambda: (broken, *real()[1:]))
    client = analyst.client
    status_url = client.get(f"/exports/{answered}/workbook.xlsx").headers["Location"]
    _work(worker_app)
    page = client.get(status_url).get_data(as_text=True)
    assert "The workbook could not be built." in page
    assert "the server log has the details" in page and "disk on fire" not in page
    assert f'href="/exports/{answered}/workbook.xlsx?lang=en"' in page
    monkeypatch.setitem(jobs.KINDS, "workbook", real)
    retry = client.get(f"/exports/{answered}/workbook.xlsx")
    assert retry.status_code == 302  # queued again, not stuck on the failure
    _work(worker_app)
    assert client.get(f"/exports/{answered}/workbook.xlsx", buffered=True).status_code == 200


def test_a_build_whose_worker_died_is_queued_again(worker_app, analyst, answered, db):
    client = analyst.client
    key = client.get(f"/exports/{answered}/workbook.xlsx").headers["Location"].rsplit("/", 1)[1]
    _queue(worker_app).huey.flush()  # the queued task is lost with its worker
    db.execute(
        "UPDATE export_builds SET status = 'running', updated_at = '2020-01-01T00:00:00Z'"
        " WHERE key = ?",
        [key],
    )
    assert client.get(f"/exports/builds/{key}.json").get_json()["status"] == "failed"
    assert client.get(f"/exports/{answered}/workbook.xlsx").status_code == 302
    assert _work(worker_app) == 1


def test_bad_filters_are_refused_before_anything_is_queued(worker_app, analyst, answered):
    page = analyst.client.get(f"/exports/{answered}/workbook.xlsx?grouping=nope")
    assert page.status_code == 400
    assert _queue(worker_app).huey.pending_count() == 0


def test_respondents_cannot_see_builds(worker_app, analyst, answered, login_as):
    key = analyst.client.get(f"/exports/{answered}/workbook.xlsx").headers["Location"][-32:]
    from tests.conftest import PASSWORD, Actions

    ken = Actions(worker_app.test_client())
    ken.login("ken@example.org", PASSWORD)
    for url in (
        f"/exports/builds/{key}",
        f"/exports/builds/{key}.json",
        f"/exports/builds/{key}/file",
    ):
        assert ken.client.get(url).status_code in (403, 404), url


def test_percent_stays_below_100_until_the_file_is_done():
    build = Build("k" * 32, "workbook", "2026", {}, "running", 120, 100, "x.xlsx", None, "", "")
    assert build.percent == 99
    done = Build("k" * 32, "workbook", "2026", {}, "done", 120, 100, "x.xlsx", None, "", "")
    assert done.percent == 100
