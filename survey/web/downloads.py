"""The one way the app sends a file for download, whatever the file and whatever its name.

Every download route goes through `attachment`: the name is cleaned (no path, quotes or control
characters) and sent as Werkzeug does it, an ASCII `filename` fallback plus an RFC 6266/5987
`filename*` in UTF-8, so a round id in Greek or Arabic gives a correct name instead of a
header the server refuses (a raw non-Latin Content-Disposition is a 500 under gunicorn).
"""

from __future__ import annotations

import io
import re
import unicodedata

from flask import send_file

CSV_MIMETYPE = "text/csv; charset=utf-8"
HTML_MIMETYPE = "text/html; charset=utf-8"
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|;]+')


def download_name(name: str) -> str:
    """`name` made safe for a Content-Disposition header and any file system: path separators,
    quotes, control and reserved characters become '-', whitespace runs one space; never empty."""
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE.sub("-", name)
    name = " ".join(name.split()).strip(" .-")
    return name or "download"


def attachment(body, name: str, mimetype: str):
    """A response that downloads `body` (bytes, text sent as UTF-8, or a binary file object,
    closed when the response ends) as the file `name`."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if isinstance(body, bytes | bytearray):
        body = io.BytesIO(body)
    return send_file(body, mimetype=mimetype, as_attachment=True, download_name=download_name(name))
