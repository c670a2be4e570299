"""A real `survey serve` (gunicorn) in a subprocess, for tests that need the production server."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_server(
    db_path: Path,
    instance: Path,
    *,
    workers: int = 2,
    threads: int = 8,
    worker_class: str = "gthread",
    extra_args: tuple[str, ...] = (),
    env: dict | None = None,
):
    """Serve `db_path` with `survey serve` on a free port until the block ends; yield
    (port, process, log path). The server and its workers are killed together at the end."""
    port = free_port()
    log_path = instance / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed after the server is gone)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "survey.cli",
            "serve",
            "--db",
            str(db_path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            *(("--threads", str(threads)) if worker_class == "gthread" else ()),
            *extra_args,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the server and its workers in one group, killed together
        env={**os.environ, "SURVEY_INSTANCE": str(instance), **(env or {})},
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert server.poll() is None, log_path.read_text(errors="replace")[-2000:]
            assert time.monotonic() < deadline, "the server did not start within 20 s"
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                probe.request("GET", "/healthz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                pass
            finally:
                probe.close()
            time.sleep(0.2)
        yield port, server, log_path
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)
        log.close()
