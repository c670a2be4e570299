"""Every deployment setting in one table: name, environment variable, default and help.

The app, the CLI and the docs all read this table (`docs/deployment.md` lists it, and
`tests/test_settings.py` checks that every setting is documented and that nothing in `survey/`
reads the environment except through here). A setting's value comes from, in order: an explicit
value passed by the caller (a CLI option, a test's config), the environment variable, the default.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def _flag(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected 1 or 0 (true/false), got {text!r}")


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"expected a whole number 0 or more, got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"expected a whole number 1 or more, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise ValueError(f"expected a TCP port number from 1 to 65535, got {text!r}")
    return value


WORKER_CLASSES = ("sync", "gthread")


def _export_jobs(text: str) -> str:
    value = text.strip().lower()
    if value not in ("worker", "immediate"):
        raise ValueError(f"expected worker or immediate, got {text!r}")
    return value


def _worker_class(text: str) -> str:
    value = text.strip().lower()
    if value not in WORKER_CLASSES:
        raise ValueError(f"expected one of {', '.join(WORKER_CLASSES)}, got {text!r}")
    return value


def _rate(text: str) -> str:
    """A rate-limit string of the `limits` library, checked here so a typo stops the start."""
    from limits import parse_many

    text = text.strip()
    try:
        parse_many(text)
    except ValueError:
        raise ValueError(
            f"expected limits like '10 per minute;50 per hour', got {text!r}"
        ) from None
    return text


@dataclass(frozen=True)
class Setting:
    """One deployment setting.

    name: the Flask config key (also how code asks for it); env: the environment variable;
    default: the text form of the default (None: no default, worked out at run time as `help`
    says); parse: turns the text into the value, raising ValueError with a readable reason;
    secret: the value is never printed (`survey settings` masks it).
    """

    name: str
    env: str
    default: str | None
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False


class SettingError(ValueError):
    """A setting's environment value cannot be read; the message names the variable."""


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "INSTANCE_PATH",
        "SURVEY_INSTANCE",
        "instance",
        "Folder for the database, the secret key, compiled catalogs and exports "
        "(relative to the working directory).",
    ),
    Setting(
        "DATABASE",
        "SURVEY_DATABASE",
        None,
        "SQLite database file. Default: `survey.db` in the instance folder. "
        "`--db PATH` on any command overrides it.",
    ),
    Setting(
        "SECRET_KEY",
        "SURVEY_SECRET_KEY",
        None,
        "Key that signs session cookies. Default: a random key generated once and kept in "
        "`secret_key` in the instance folder (mode 0600). Set it when several hosts serve "
        "one database.",
        secret=True,
    ),
    Setting(
        "HTTPS",
        "SURVEY_HTTPS",
        "0",
        "1 when users reach the app over HTTPS (usually through a reverse proxy): session "
        "cookies are then sent only over HTTPS.",
        _flag,
    ),
    Setting(
        "BASE_URL",
        "SURVEY_BASE_URL",
        None,
        "Public address of the app (e.g. https://survey.example.org) used in invitation links "
        "printed by the CLI. Default: the address of the request, or http://127.0.0.1:5000. "
        "`--base-url` on `survey users add` and `survey users invite` overrides it.",
    ),
    Setting(
        "QUESTIONNAIRE_DIR",
        "SURVEY_QUESTIONNAIRES",
        None,
        "Folder of the questionnaire YAML files (`omnibus.yaml` and the files it names). "
        "Default: the copy shipped inside the installed package (the repository's "
        "`questionnaires/` in a source checkout).",
    ),
    Setting(
        "HOST",
        "SURVEY_HOST",
        "127.0.0.1",
        "Address `survey serve` listens on (`--host`). Keep 127.0.0.1 behind a reverse proxy; "
        "0.0.0.0 listens on every interface.",
    ),
    Setting("PORT", "SURVEY_PORT", "5000", "TCP port of `survey serve` (`--port`).", _port),
    Setting(
        "WORKER_CLASS",
        "SURVEY_WORKER_CLASS",
        "gthread",
        "gunicorn worker class of `survey serve` (`--worker-class`): `gthread` "
        "(`SURVEY_THREADS` threads per worker process; measured faster, see "
        "benchmarks/serve_load.py) or `sync` (one request at a time per worker process).",
        _worker_class,
    ),
    Setting(
        "WORKERS",
        "SURVEY_WORKERS",
        None,
        "gunicorn worker processes of `survey serve` (`--workers`). Default: 2 per CPU, "
        "at least 2 and at most 8.",
        _positive,
    ),
    Setting(
        "THREADS",
        "SURVEY_THREADS",
        "4",
        "Threads per worker with `--worker-class gthread` (`--threads`); sync workers ignore it.",
        _positive,
    ),
    Setting(
        "PID_FILE",
        "SURVEY_PID_FILE",
        None,
        "File where `survey serve` writes the gunicorn master's process id (`--pid`), for "
        "graceful restarts with `kill -HUP $(cat FILE)`. Default: none written.",
    ),
    Setting(
        "GRACEFUL_TIMEOUT",
        "SURVEY_GRACEFUL_TIMEOUT",
        "30",
        "Seconds a worker has to finish its requests in flight (a chapter save, an export) "
        "after a restart or stop signal before it is killed.",
        _positive,
    ),
    Setting(
        "EXPORT_JOBS",
        "SURVEY_EXPORT_JOBS",
        "worker",
        "How the analyst workbook is built: `worker` in the background by the export worker "
        "(`survey serve` starts one; `survey worker` runs one on its own), the page showing "
        "progress; `immediate` inside the request (one process, no worker).",
        _export_jobs,
    ),
    Setting(
        "EXPORT_WORKERS",
        "SURVEY_EXPORT_WORKERS",
        "1",
        "Exports the export worker builds at the same time (threads).",
        _positive,
    ),
    Setting(
        "RATELIMIT_ENABLED",
        "SURVEY_LOGIN_THROTTLE",
        "1",
        "0 turns login throttling off (only for load tests; see SECURITY.md).",
        _flag,
    ),
    Setting(
        "RATELIMIT_LOGIN",
        "SURVEY_LOGIN_LIMIT",
        "10 per minute;50 per hour",
        "Login and invitation posts allowed per client address, successful or not; beyond it "
        "the address waits (HTTP 429 with Retry-After).",
        _rate,
    ),
    Setting(
        "RATELIMIT_LOGIN_ACCOUNT",
        "SURVEY_LOGIN_ACCOUNT_LIMIT",
        "10 per 15 minutes",
        "Failed logins per account (from all addresses). Once reached, addresses that failed on "
        "the account wait; an address with no failure on it can still log in.",
        _rate,
    ),
    Setting(
        "RATELIMIT_STORAGE_URI",
        "SURVEY_LOGIN_THROTTLE_STORAGE",
        None,
        "Where login-throttling counters are kept. Default: the app's database "
        "(`sqlite:///...`), shared by every worker and kept across restarts. For several hosts, "
        "a shared store the `limits` library supports, e.g. `redis://host:6379/0` (install the "
        "`redis` package). `memory://` counts per process and forgets on restart.",
    ),
    Setting(
        "TRUSTED_PROXIES",
        "SURVEY_TRUSTED_PROXIES",
        "0",
        "Number of reverse proxies in front of the app whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (1 for one nginx). 0: the client address is the "
        "connection's, and forwarded headers are ignored (a client could forge them).",
        _count,
    ),
    Setting(
        "FORWARDED_ALLOW_IPS",
        "SURVEY_FORWARDED_ALLOW_IPS",
        "127.0.0.1",
        "Comma-separated addresses of the reverse proxies whose X-Forwarded-Proto gunicorn "
        "(`survey serve`) trusts, so that requests reached over HTTPS are seen as secure. `*` "
        "trusts everyone: only when nothing but the proxy can reach the port.",
    ),
)

BY_NAME: dict[str, Setting] = {s.name: s for s in SETTINGS}


def setting(name: str, explicit: Any = None, environ: Mapping[str, str] | None = None) -> Any:
    """The value of setting `name`: `explicit` if not None, else its variable, else its default.

    Returns the parsed value, or None when the variable is unset and the setting has no
    default. Raises KeyError for an unknown name, SettingError for an unreadable value.
    """
    spec = BY_NAME[name]
    if explicit is not None:
        return explicit
    environ = os.environ if environ is None else environ
    text = environ.get(spec.env)
    if text is None or text == "":
        text = spec.default
    if text is None:
        return None
    try:
        return spec.parse(text)
    except ValueError as exc:
        raise SettingError(f"{spec.env}={text!r}: {exc}") from None


@dataclass(frozen=True)
class CurrentValue:
    """A setting as this process sees it: `shown` is the text to print (a secret is masked),
    `source` is "environment", "default" or "unset" (no variable and no default)."""

    setting: Setting
    shown: str
    source: str


def current_values(environ: Mapping[str, str] | None = None) -> list[CurrentValue]:
    """Every setting with its current value and where it comes from, in table order.

    Values are shown as text, unparsed; an unreadable value is shown too (`setting()` is what
    raises SettingError for it). Secrets from the environment are shown as `********`.
    """
    environ = os.environ if environ is None else environ
    values = []
    for spec in SETTINGS:
        text = environ.get(spec.env) or None
        if text is not None:
            values.append(CurrentValue(spec, "********" if spec.secret else text, "environment"))
        elif spec.default is not None:
            values.append(CurrentValue(spec, spec.default, "default"))
        else:
            values.append(CurrentValue(spec, "", "unset"))
    return values


def as_markdown() -> str:
    """The settings table as Markdown rows (variable, default, meaning), for the docs."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default is not None else "(see meaning)"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)
