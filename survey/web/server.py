"""Running the app on gunicorn (the production server) from `survey serve`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gunicorn.app.base import BaseApplication

from ..settings import setting


class _Gunicorn(BaseApplication):
    def __init__(self, app, options):
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)
        # gunicorn 25.1+ opens a control socket for `gunicornc` at one path per user account
        # ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl): two instances of the app under one
        # account would take it from each other, and nothing here needs it, since restarts and
        # stops are signals to the master (docs/deployment.md). Older gunicorn has no such socket.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self):
        return self.application


def default_workers() -> int:
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


class ServeOptionError(ValueError):
    """Contradictory serve options; the message says which and what to use instead."""


@dataclass(frozen=True)
class ServeOptions:
    """How `survey serve` runs gunicorn.

    host/port: the listening address; worker_class: "sync" or "gthread"; workers: processes;
    threads: per worker (always 1 for sync); pid_file: where the master's pid is written (or
    None); graceful_timeout: seconds in-flight requests get after a restart or stop signal.
    """

    host: str
    port: int
    worker_class: str
    workers: int
    threads: int
    pid_file: str | None
    graceful_timeout: int

    @classmethod
    def resolve(
        cls,
        *,
        host: str | None = None,
        port: int | None = None,
        worker_class: str | None = None,
        workers: int | None = None,
        threads: int | None = None,
        pid_file: str | None = None,
    ) -> ServeOptions:
        """Each option from its argument, else its setting (survey.settings), else the default.

        Raises ServeOptionError when threads above 1 are asked for with sync workers (gunicorn
        would silently switch to gthread), SettingError for an unreadable environment value.
        """
        worker_class = setting("WORKER_CLASS", worker_class)
        if worker_class == "sync":
            if threads is not None and threads != 1:
                raise ServeOptionError(
                    f"--threads {threads} needs threaded workers: add --worker-class gthread, "
                    "or leave --threads out (sync workers serve one request at a time)"
                )
            threads = 1
        else:
            threads = setting("THREADS", threads)
        return cls(
            host=setting("HOST", host),
            port=setting("PORT", port),
            worker_class=worker_class,
            workers=setting("WORKERS", workers) or default_workers(),
            threads=threads,
            pid_file=setting("PID_FILE", pid_file),
            graceful_timeout=setting("GRACEFUL_TIMEOUT"),
        )

    def gunicorn_config(self) -> dict:
        """The gunicorn settings these options stand for."""
        config = {
            "bind": f"{self.host}:{self.port}",
            "workers": self.workers,
            "worker_class": self.worker_class,
            "threads": self.threads,
            "timeout": 120,  # large exports run inside a request
            "graceful_timeout": self.graceful_timeout,
            "accesslog": "-",
            "forwarded_allow_ips": setting("FORWARDED_ALLOW_IPS"),
        }
        if self.pid_file:
            config["pidfile"] = self.pid_file
        return config


def run_gunicorn(app, options: ServeOptions) -> None:
    """Serve `app` with gunicorn until the master is stopped (SIGTERM/SIGINT/SIGQUIT).

    The app object is created in the master and inherited by each forked worker; the caller
    must not hold a database connection open at this point (workers open their own per request).
    """
    _Gunicorn(app, options.gunicorn_config()).run()
