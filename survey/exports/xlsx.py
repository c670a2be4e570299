"""Writing xlsx files with XlsxWriter: the options and two fixes every workbook of the project uses.

Both the analyst workbook (excel.py) and the offline questionnaire (offline.py) are written here,
in `constant_memory` mode (rows go to disk as they are written; every text is an inline string).
Text is always written as a string: XlsxWriter's options to turn text into formulas, links or
numbers are off, and two gaps in its escaping are closed (see `_Worksheet` and `write_text`).
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from .cells import MAX_CELL_UNITS, sheet_title

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
XLSXWRITER_OPTIONS = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
RICH_RUN = '<r><t xml:space="preserve">{}</t></r>'
_ESCAPE_START = re.compile(r"_(?=x[0-9a-fA-F]{4}_)")


class _Worksheet(Worksheet):
    """XlsxWriter's worksheet with a complete `_xHHHH_` escape.

    Excel reads `_x0041_` in a cell as "A", so a literal `_xHHHH_` must have its underscore
    written as `_x005F_`. XlsxWriter escapes non-overlapping matches only, so in
    `_x005F_x0041_` the second pattern stays bare and reads back as "A". Here every underscore
    that starts a pattern is escaped (control characters never reach this point: write_text
    removes them). Checked by tests/test_exports.py with calamine, which decodes like Excel.
    """

    @staticmethod
    def _escape_control_characters(data):
        if isinstance(data, str) and "_x" in data:  # most texts hold no pattern to escape
            return _ESCAPE_START.sub("_x005F_", data)
        return data


_ESCAPED_START = re.compile(r"_x005F_(?=x[0-9a-fA-F]{4}_)")


def read_back(text: str) -> str:
    """The text written by `write_text`, from a cell value openpyxl read.

    openpyxl leaves inline strings escaped (`_x005F_x0041_` for a typed `_x0041_`) and strips
    `x005F_` from shared strings (files re-saved by Excel or LibreOffice); this undoes the first
    and leaves the second as it is, so both read back as typed.
    """
    return _ESCAPED_START.sub("_", text) if "_x005F_" in text else text


class Book:
    """An XlsxWriter workbook whose sheets get valid, unique titles and the escaping fix."""

    def __init__(self, out):
        self.workbook = xlsxwriter.Workbook(out, XLSXWRITER_OPTIONS)
        self.titles: set[str] = set()

    def add_format(self, properties: dict):
        return self.workbook.add_format(properties)

    def add_sheet(self, wanted: str, *, right_to_left: bool = False):
        """A new worksheet titled `wanted`, made valid and unique (cells.sheet_title)."""
        ws = self.workbook.add_worksheet(
            sheet_title(wanted, self.titles), worksheet_class=_Worksheet
        )
        if right_to_left:
            ws.right_to_left()
        return ws

    def close(self) -> None:
        self.workbook.close()


def write_text(ws, row: int, col: int, text: str, fmt=None) -> None:
    """Write `text`, already through cells.fit_cell (clean and short enough), as a string cell.

    XlsxWriter writes a string that starts with <r> and ends with </r> as raw rich-text XML;
    such a text is wrapped in an escaped run of its own, so it reads back as typed and can
    never inject XML.
    """
    if text.startswith("<r>") and text.endswith("</r>"):
        run = escape(text)
        while len(run) + len(RICH_RUN) > MAX_CELL_UNITS:  # XlsxWriter's own length check
            text = text[: len(text) - (len(run) + len(RICH_RUN) - MAX_CELL_UNITS)]
            run = escape(text)
        text = RICH_RUN.format(run)
    ws.write_string(row, col, text, fmt)
