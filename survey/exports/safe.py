"""Making exported text inert: CSV cells that a spreadsheet would run as a formula get a leading apostrophe."""

from __future__ import annotations

import csv
import io

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """The documented rule: text starting with = + - @ tab or CR is prefixed with ' (numbers untouched)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def csv_text(header: list[str], rows) -> str:
    """CSV with a UTF-8 BOM so Excel opens non-Latin text correctly when double-clicked."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buffer.getvalue()
