"""`survey serve`: the real gunicorn server, its options, and no database connection across fork.

SQLite documents that a connection must not be carried into a child process across fork()
("How To Corrupt An SQLite Database File", section 2.6). `survey serve` prepares the database
and builds the app in the gunicorn master, then forks the workers; these tests look at the open
file descriptors of the master and of every worker in /proc to show that none of them holds
the database, its WAL or its shared-memory file when no request is being served.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from survey.web.server import ServeOptionError, ServeOptions
from tests.live import free_port

PROC = Path("/proc")
needs_proc = pytest.mark.skipif(
    not (PROC / "self" / "fd").is_dir(), reason="reads open files from Linux's /proc"
)


def _children(pid: int) -> list[int]:
    found = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # Field 4 (after the command name in parentheses) is the parent's pid.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def _open_files(pid: int) -> set[str]:
    targets = set()
    fd_dir = PROC / str(pid) / "fd"
    for fd in fd_dir.iterdir():
        try:
            targets.add(os.readlink(fd))
        except OSError:
            continue  # closed between listing and reading
    return targets


@dataclass
class Served:
    database: Path
    master: subprocess.Popen
    port: int
    workers: int
    log: Path

    def database_files(self) -> set[str]:
        return {str(self.database), f"{self.database}-wal", f"{self.database}-shm"}

    def holders(self) -> dict[int, set[str]]:
        """pid -> the database files it has open, for the master and every worker."""
        pids = [self.master.pid, *_children(self.master.pid)]
        return {pid: _open_files(pid) & self.database_files() for pid in pids}

    def get(self, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


def _listening(port: int) -> bool:
    """True when the port takes a TCP connection (no request is sent: nothing opens the database)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(params=["sync", "gthread"])
def served(request, tmp_path):
    database = tmp_path / "instance" / "survey.db"
    port = free_port()
    workers = 2
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SURVEY_")}
    with open(log, "wb") as out:
        master = subprocess.Popen(
            [sys.executable, "-m", "survey.cli", "--db", str(database), "serve"]
            + ["--port", str(port), "--workers", str(workers), "--worker-class", request.param],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**env, "HOME": str(tmp_path)},
            start_new_session=True,  # the master and its workers in one group, stopped together
        )
        try:
            deadline = time.monotonic() + 60
            # The gunicorn workers and the export worker (`survey worker`) are its children.
            while not (_listening(port) and len(_children(master.pid)) >= workers + 1):
                assert master.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, "survey serve did not start within 60 s"
                time.sleep(0.1)
            time.sleep(0.5)  # let the workers finish booting after the fork
            yield Served(database, master, port, workers, log)
        finally:
            if master.poll() is None:
                os.killpg(master.pid, signal.SIGTERM)
            master.wait(30)


@needs_proc
def test_no_process_of_the_server_holds_the_database_until_a_request_opens_it(served):
    assert served.database.exists()  # prepared in the master before the fork
    holders = served.holders()
    assert len(holders) == 1 + served.workers + 1  # the master, its workers, the export worker
    assert holders == {pid: set() for pid in holders}, served.log.read_text()[-2000:]

    # A request opens the database in the worker that serves it, and closes it afterwards.
    assert served.get("/healthz") == 200
    assert served.get("/login") == 200
    holders = served.holders()
    assert holders == {pid: set() for pid in holders}


@needs_proc
def test_the_master_exits_on_term_and_takes_its_workers_along(served):
    workers = _children(served.master.pid)
    assert len(workers) == served.workers + 1  # and the export worker
    served.master.send_signal(signal.SIGTERM)
    assert served.master.wait(30) == 0
    time.sleep(0.2)
    assert not [pid for pid in workers if (PROC / str(pid)).exists()]


def test_sync_workers_refuse_threads_with_a_way_out():
    with pytest.raises(ServeOptionError, match="add --worker-class gthread"):
        ServeOptions.resolve(worker_class="sync", threads=8)


def test_serve_options_come_from_arguments_then_settings_then_defaults(monkeypatch):
    for name in ("SURVEY_WORKER_CLASS", "SURVEY_THREADS", "SURVEY_WORKERS", "SURVEY_PORT"):
        monkeypatch.delenv(name, raising=False)
    default = ServeOptions.resolve()
    assert (default.worker_class, default.threads, default.port) == ("gthread", 4, 5000)
    assert 2 <= default.workers <= 8

    monkeypatch.setenv("SURVEY_WORKER_CLASS", "sync")
    monkeypatch.setenv("SURVEY_PORT", "8123")
    from_env = ServeOptions.resolve()
    assert (from_env.worker_class, from_env.threads, from_env.port) == ("sync", 1, 8123)
    monkeypatch.setenv("SURVEY_WORKER_CLASS", "gthread")
    monkeypatch.setenv("SURVEY_THREADS", "6")
    assert ServeOptions.resolve().threads == 6
    explicit = ServeOptions.resolve(worker_class="sync", port=9000)
    assert (explicit.worker_class, explicit.threads, explicit.port) == ("sync", 1, 9000)
    config = explicit.gunicorn_config()
    assert config["worker_class"] == "sync" and config["threads"] == 1
    assert config["bind"] == "127.0.0.1:9000"


def test_an_unreadable_setting_is_one_line_naming_the_variable(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from survey.cli import main

    monkeypatch.setenv("SURVEY_WORKER_CLASS", "eventlet")
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert "SURVEY_WORKER_CLASS='eventlet': expected one of sync, gthread" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "x.db").exists()  # refused before anything was created
