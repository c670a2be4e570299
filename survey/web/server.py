"""Running the app on gunicorn (the production server) from `survey serve`."""

from __future__ import annotations

import os

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

    def load(self):
        return self.application


def default_workers() -> int:
    return max(2, min(8, 2 * (os.cpu_count() or 1)))


def run_gunicorn(
    app, *, host: str, port: int, workers: int | None = None, threads: int = 4
) -> None:
    options = {
        "bind": f"{host}:{port}",
        "workers": workers or default_workers(),
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 120,  # large exports run inside a request
        "graceful_timeout": 30,
        "accesslog": "-",
        "forwarded_allow_ips": setting("FORWARDED_ALLOW_IPS"),
    }
    _Gunicorn(app, options).run()
