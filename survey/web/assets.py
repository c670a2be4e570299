"""Static files for slow links: content-hashed URLs cached for a year, precompressed plotly.js,
and no session work on requests for them.

Every `url_for` of a registered asset (all of `static/`, and plotly.js) carries `?v=<digest>`,
the start of the file's SHA-256 computed once at start-up. A request whose `v` matches is
answered `Cache-Control: public, max-age=31536000, immutable`: browsers then reuse the file
without asking again until a new release changes its digest, hence its URL. A request without
`v`, or with the digest of another release, must revalidate (`no-cache`).

Asset requests skip the session user (`is_asset_request`, checked in `auth.load_user`): no
database query, no `no-store`, and no refreshed session cookie (`AssetAwareSessionInterface`).

plotly.js (4.8 MB) is sent from copies compressed once per release into the instance folder:
gzip on the first request that takes it, brotli (1.1 MB, but 8-27 s to make on 2 busy cores)
in the background (`send_asset`).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import brotli
from flask import Flask, current_app, request, send_file
from flask.sessions import SecureCookieSessionInterface
from flask.wrappers import Response

IMMUTABLE = "public, max-age=31536000, immutable"
DIGEST_CHARS = 16  # 64 bits of SHA-256: no collision between two releases of one file
EXTENSION = "survey.assets"
# Encodings kept precompressed, in the order preferred when the client takes several equally.
PRECOMPRESSED = ("br", "gzip")
BACKGROUND = {"br"}  # too slow to make while a request waits (see ready_copy)
STALE_CLAIM = 15 * 60  # seconds after which an unfinished compression is taken over
_SUFFIX = {"br": ".br", "gzip": ".gz"}
_jobs: dict[Path, threading.Thread] = {}
_jobs_lock = threading.Lock()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Asset:
    """A file served under a content-hashed URL.

    path: the file on disk; digest: the first DIGEST_CHARS hex digits of its SHA-256 (what `v`
    must equal for the response to be cached as immutable).
    """

    path: Path
    digest: str


def file_digest(path: Path) -> str:
    """The first DIGEST_CHARS hex digits of the SHA-256 of the file at `path` (OSError if unreadable)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:DIGEST_CHARS]


def _table(app: Flask) -> dict[tuple[str, str], Asset]:
    return app.extensions[EXTENSION]


def register(app: Flask, endpoint: str, path: Path, filename: str = "") -> Asset:
    """Serve `path` from `endpoint` under a hashed URL (`filename`: the endpoint's argument, if any).

    Hashes the file now (once per process). Raises OSError if it cannot be read.
    """
    asset = Asset(Path(path), file_digest(Path(path)))
    _table(app)[(endpoint, filename)] = asset
    return asset


def asset_for(endpoint: str, filename: str = "") -> Asset:
    """The asset registered for `endpoint` (and `filename`) in the current app; KeyError if none."""
    return _table(current_app)[(endpoint, filename)]


def init_app(app: Flask) -> None:
    """Hash every file of the static folder, add `v` to their URLs, set their Cache-Control and
    keep the session out of asset requests. Other modules add files with `register`."""
    app.extensions[EXTENSION] = {}
    static = Path(app.static_folder) if app.static_folder else None
    if static is not None and static.is_dir():
        for path in sorted(p for p in static.rglob("*") if p.is_file()):
            register(app, "static", path, path.relative_to(static).as_posix())
    app.url_defaults(_add_digest)
    app.after_request(_cache_headers)
    app.session_interface = AssetAwareSessionInterface()


def _asset_for_request() -> Asset | None:
    if request.endpoint is None or EXTENSION not in current_app.extensions:
        return None
    key = (request.endpoint, (request.view_args or {}).get("filename", ""))
    return _table(current_app).get(key)


def is_asset_request() -> bool:
    """True when this request is for an asset endpoint (any static file, even a missing one, or
    plotly.js): the requests that need no session."""
    if request.endpoint is None or EXTENSION not in current_app.extensions:
        return False
    return any(endpoint == request.endpoint for endpoint, _ in _table(current_app))


def _add_digest(endpoint: str, values: dict) -> None:
    asset = _table(current_app).get((endpoint, values.get("filename", "")))
    if asset is not None:
        values.setdefault("v", asset.digest)


def _cache_headers(response: Response) -> Response:
    asset = _asset_for_request()
    if asset is None:
        return response
    if request.args.get("v") == asset.digest and response.status_code in (200, 206, 304):
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers.pop("Expires", None)
    else:
        # Not the URL this release links to (none, or an old or mistyped digest): the content
        # may differ from what the URL names, so the browser must ask again next time.
        response.headers["Cache-Control"] = "no-cache"
    return response


class AssetAwareSessionInterface(SecureCookieSessionInterface):
    """Flask's cookie session, except that asset responses never set the cookie.

    Flask re-sends a permanent session's cookie on every response to extend its life; static
    files are fetched outside the user's activity and cached for a year, so they must not.
    """

    def should_set_cookie(self, app: Flask, session) -> bool:
        if is_asset_request():
            return False
        return super().should_set_cookie(app, session)


def _copy_path(asset: Asset, encoding: str, folder: Path) -> Path:
    if encoding not in _SUFFIX:
        raise ValueError(f"unknown encoding {encoding!r}; use one of {', '.join(_SUFFIX)}")
    # The name carries the digest: a new release of the file gets a new compressed copy.
    return folder / f"{asset.path.stem}.{asset.digest}{asset.path.suffix}{_SUFFIX[encoding]}"


def precompressed(asset: Asset, encoding: str, folder: Path) -> Path:
    """The file of `asset` compressed with `encoding` ("br" or "gzip") in `folder`, made now
    unless it is there already; written atomically (another process making the same copy at the
    same time is harmless: both are identical and the last rename wins).

    Raises ValueError for an unknown encoding, OSError if `folder` cannot be written.
    """
    target = _copy_path(asset, encoding, folder)
    if target.exists():
        return target
    data = asset.path.read_bytes()
    if encoding == "br":
        # lgwin 24: a 16 MB window, so matches can reach across the whole 4.8 MB of plotly.js.
        packed = brotli.compress(data, quality=11, lgwin=24)
    else:
        packed = gzip.compress(data, compresslevel=9, mtime=0)
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}-{threading.get_ident()}.partial")
    partial.write_bytes(packed)
    os.replace(partial, target)
    return target


def _claim(target: Path) -> bool:
    """Take the job of making `target` for this process; False while another process has it."""
    claim = target.with_name(target.name + ".claim")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        try:
            age = time.time() - claim.stat().st_mtime
        except FileNotFoundError:  # its maker just finished
            return False
        if age < STALE_CLAIM:
            return False
        os.utime(claim)  # left by a process that died while compressing: take it over
        return True


def _make_in_background(asset: Asset, encoding: str, folder: Path, target: Path) -> None:
    try:
        precompressed(asset, encoding, folder)
    except OSError as exc:
        log.warning("could not write %s (%s); it is sent with another encoding", target, exc)
    finally:
        target.with_name(target.name + ".claim").unlink(missing_ok=True)


def ready_copy(asset: Asset, encoding: str, folder: Path) -> Path | None:
    """The compressed copy if it exists; else None, having started making it in a background
    thread (once per process, and in one process at a time) when no other is making it.

    Brotli at its highest quality takes 8-27 s for plotly.js: longer than a request should wait
    (gunicorn's default worker timeout is 30 s), so requests meanwhile get another encoding.
    """
    target = _copy_path(asset, encoding, folder)
    if target.exists():
        return target
    with _jobs_lock:
        job = _jobs.get(target)
        if (job is None or not job.is_alive()) and _claim(target):
            job = threading.Thread(
                target=_make_in_background,
                args=(asset, encoding, folder, target),
                name=f"precompress {target.name}",
                daemon=True,
            )
            _jobs[target] = job
            job.start()
    return None


def wait_for_background(timeout: float | None = None) -> None:
    """Block until this process's background compressions have finished (tests, benchmarks)."""
    with _jobs_lock:
        jobs = list(_jobs.values())
    for job in jobs:
        job.join(timeout)


def send_asset(asset: Asset, mimetype: str, folder: Path) -> Response:
    """`asset` as a response, compressed as the client prefers when a copy is ready.

    br comes from a copy made in the background (`ready_copy`); until it exists a client that
    also takes gzip gets the gzip copy (made on the spot: ~0.2 s for plotly.js), else the file
    itself. Conditional (ETag from the digest and encoding); `Vary: Accept-Encoding`.
    """
    accepted = request.accept_encodings
    path, encoding = asset.path, None
    for candidate in sorted(PRECOMPRESSED, key=lambda e: -accepted[e]):
        if not accepted[candidate]:
            continue
        try:
            ready = (
                ready_copy(asset, candidate, folder)
                if candidate in BACKGROUND
                else precompressed(asset, candidate, folder)
            )
        except OSError as exc:  # e.g. a read-only instance folder: slower, but never an error
            log.warning(
                "cannot keep a %s copy of %s in %s (%s): make the folder writable for the app;"
                " sending the file uncompressed meanwhile",
                candidate,
                asset.path.name,
                folder,
                exc,
            )
            break
        if ready is not None:
            path, encoding = ready, candidate
            break
    response = send_file(
        path,
        mimetype=mimetype,
        etag=f"{asset.digest}-{encoding or 'identity'}",
        download_name=asset.path.name,
    )
    if encoding is not None:
        response.headers["Content-Encoding"] = encoding
    response.vary.add("Accept-Encoding")
    return response
