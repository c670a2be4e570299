"""Downloads and uploads of files: the analyst workbook and the offline questionnaire."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField

from ..exports import jobs
from ..exports.jobs import job_queue
from ..exports.offline import (
    MAX_UPLOAD_BYTES,
    OfflineImportError,
    export_offline,
    import_offline,
)
from ..exports.rows import ExportError
from ..exports.xlsx import XLSX_MIMETYPE
from ..questionnaire.model import LANGUAGES
from ..storage.responses import find_response
from .auth import roles_required
from .db import get_db, get_model, round_or_404
from .downloads import attachment
from .fill import _editable
from .forms import BaseForm

bp = Blueprint("exports", __name__)


class OfflineUploadForm(BaseForm):
    file = FileField(
        lazy_gettext("Filled offline questionnaire (.xlsx)"),
        validators=[FileRequired(lazy_gettext("Choose the .xlsx file to upload."))],
    )
    overwrite = BooleanField(
        lazy_gettext("Replace answers that were changed on the web after I downloaded this file")
    )


def _spooled(write, *args, **kwargs):
    """Write an export into a temporary file (never the whole file in memory) and rewind it."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - send_file closes it when the response ends
    try:
        write(*args, out, **kwargs)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def _lang() -> str:
    lang = request.args.get("lang") or (g.user["language"] if g.user else None) or "en"
    return lang if lang in LANGUAGES else "en"


def _filters() -> dict:
    grouping = request.args.get("grouping") or None
    return {
        "grouping": None if grouping == "all" else grouping,
        "region": request.args.get("region") or None,
        "instrument": request.args.get("instrument") or None,
        "status": request.args.getlist("status") or None,
        "lang": _lang(),
    }


def _queue():
    return job_queue(
        current_app.config["JOBS_FILE"], current_app.config["EXPORT_JOBS"] == "immediate"
    )


def _builds_folder() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "exports"


@bp.route("/exports/<round_id>/workbook.xlsx")
@roles_required("analyst", "admin")
def workbook(round_id):
    """The analyst workbook; query: grouping, region, instrument, status (repeatable), lang.

    A file already built for the same filters and unchanged data is sent at once; otherwise
    the build starts in the background and the analyst sees its progress (build_status).
    """
    db = get_db()
    round_ = round_or_404(round_id)
    params = jobs.clean_params(**_filters())
    try:
        build = jobs.request_build(
            db,
            get_model(),
            "workbook",
            round_["id"],
            params,
            database=current_app.config["DATABASE"],
            folder=_builds_folder(),
            queue=_queue(),
        )
    except ExportError as exc:
        abort(400, str(exc))
    if build.ready:
        return _send_build(db, build)
    return redirect(url_for("exports.build_status", key=build.key))


def _send_build(db, build):
    path = jobs.build_path(db, build.key)
    if path is None:
        abort(404)
    return attachment(open(path, "rb"), build.name, jobs.mimetype(build.kind))  # noqa: SIM115


def _build_or_404(key: str):
    build = jobs.get_build(get_db(), key)
    if build is None:
        abort(404)
    return build


def _build_view(build) -> dict:
    return {
        "key": build.key,
        "status": "failed" if build.stale else build.status,
        "ready": build.ready,
        "percent": build.percent,
        "rows_done": build.rows_done,
        "rows_expected": build.rows_expected,
        "name": build.name,
        # The worker stores its messages in English: a known message is shown translated.
        "error": _(build.error) if build.error else None,
        "download": url_for("exports.build_file", key=build.key) if build.ready else None,
    }


@bp.route("/exports/builds/<key>")
@roles_required("analyst", "admin")
def build_status(key):
    """A build's progress page: a progress bar that follows the build, then the download."""
    build = _build_or_404(key)
    round_ = round_or_404(build.round_id)
    retry = url_for("exports.workbook", round_id=round_["id"], **_query(build.params))
    return render_template(
        "exports/build.html", build=_build_view(build), round=round_, retry=retry
    )


def _query(params: dict) -> dict:
    """The workbook URL's query for a build's params (the reverse of _filters)."""
    query = {k: v for k, v in params.items() if v and k != "status"}
    if params.get("status"):
        query["status"] = params["status"]
    return query


@bp.route("/exports/builds/<key>.json")
@roles_required("analyst", "admin")
def build_progress(key):
    """{status, ready, percent, rows_done, rows_expected, name, error, download} of a build."""
    return _build_view(_build_or_404(key))


@bp.route("/exports/builds/<key>/file")
@roles_required("analyst", "admin")
def build_file(key):
    """The built file, once it is ready."""
    build = _build_or_404(key)
    if not build.ready:
        return redirect(url_for("exports.build_status", key=key))
    return _send_build(get_db(), build)


@bp.route("/fill/<round_id>/offline.xlsx")
@roles_required("respondent")
def offline_download(round_id):
    """The respondent's own State's offline questionnaire, with the current answers filled in."""
    round_ = round_or_404(round_id)
    iso3 = g.user["state_iso3"]
    out = _spooled(export_offline, get_db(), get_model(), round_["id"], iso3, lang=_lang())
    return attachment(out, f"{iso3}-{round_['id']}-offline-questionnaire.xlsx", XLSX_MIMETYPE)


@bp.route("/fill/<round_id>/offline", methods=["GET", "POST"])
@roles_required("respondent")
def offline_upload(round_id):
    """Upload a filled offline questionnaire: every problem listed, or all changes saved at once."""
    db = get_db()
    round_ = round_or_404(round_id)
    iso3 = g.user["state_iso3"]
    response = find_response(db, round_["id"], iso3)
    editable = _editable(round_, response)
    form = OfflineUploadForm()
    problems: list[str] = []
    problems_total = 0
    if request.method == "POST":
        if not form.validate() and "csrf_token" in form.errors:
            abort(400, _("The form expired; reload the page and try again."))
        if not editable:
            abort(409, _("This response cannot be edited now, so no file can be imported."))
        if form.file.errors:
            problems = list(form.file.errors)
            problems_total = len(problems)
        else:
            try:
                result = import_offline(
                    db,
                    get_model(),
                    round_["id"],
                    iso3,
                    form.file.data.stream,
                    user_id=g.user["id"],
                    overwrite=form.overwrite.data,
                )
            except OfflineImportError as exc:
                problems = exc.messages
                problems_total = exc.total
            else:
                flash(
                    _(
                        "Imported the file: %(changed)s answer(s) changed in %(provisions)s "
                        "provision(s).",
                        changed=result.changed,
                        provisions=result.provisions,
                    )
                    if result.changed
                    else _("Imported the file: no answer had changed."),
                    "info",
                )
                return redirect(url_for("fill.overview", round_id=round_["id"]))
    return render_template(
        "exports/offline_upload.html",
        round=round_,
        form=form,
        problems=problems,
        problems_total=problems_total,
        editable=editable,
        limit_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
    ), (422 if problems else 200)
