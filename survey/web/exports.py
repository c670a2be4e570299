"""Downloads and uploads of files: the analyst workbook and the offline questionnaire."""

from __future__ import annotations

import tempfile

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField

from ..exports.excel import write_workbook
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
from ..storage.rounds import get_round
from .auth import roles_required
from .db import get_db, get_model, round_or_404
from .downloads import attachment
from .fill import _editable
from .forms import BaseForm

bp = Blueprint("exports", __name__)


class OfflineUploadForm(BaseForm):
    file = FileField(
        "Filled offline questionnaire (.xlsx)",
        validators=[FileRequired("Choose the .xlsx file to upload.")],
    )
    overwrite = BooleanField(
        "Replace answers that were changed on the web after I downloaded this file"
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


def _analyst_export(round_id: str, write, suffix: str, mimetype: str):
    db = get_db()
    if get_round(db, round_id) is None:
        abort(404)
    filters = _filters()
    try:
        out = _spooled(write, db, get_model(), round_id, **filters)
    except ExportError as exc:
        abort(400, str(exc))
    parts = [
        round_id,
        filters["grouping"],
        filters["region"],
        filters["instrument"],
        *(filters["status"] or []),
    ]
    name = "survey-" + "-".join(p for p in parts if p) + suffix
    return attachment(out, name, mimetype)


@bp.route("/exports/<round_id>/workbook.xlsx")
@roles_required("analyst", "admin")
def workbook(round_id):
    """The analyst workbook; query: grouping, region, instrument, status (repeatable), lang."""
    return _analyst_export(round_id, write_workbook, ".xlsx", XLSX_MIMETYPE)


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
    if request.method == "POST":
        if not form.validate() and "csrf_token" in form.errors:
            abort(400, "The form expired; reload the page and try again.")
        if not editable:
            abort(409, "This response cannot be edited now, so no file can be imported.")
        if form.file.errors:
            problems = list(form.file.errors)
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
            else:
                flash(
                    f"Imported the file: {result.changed} answer(s) changed in "
                    f"{result.provisions} provision(s)."
                    if result.changed
                    else "Imported the file: no answer had changed.",
                    "info",
                )
                return redirect(url_for("fill.overview", round_id=round_["id"]))
    return render_template(
        "exports/offline_upload.html",
        round=round_,
        form=form,
        problems=problems,
        editable=editable,
        limit_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
    ), (422 if problems else 200)
