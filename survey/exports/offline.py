"""The offline questionnaire: a workbook a ministry fills in Excel or LibreOffice, and its import.

Export writes one protected sheet per instrument the State answers, one row per question, with the
current answers filled in and only the answer cells editable. Import checks the upload (size, a
real xlsx, no zip bomb, no XML entity tricks), then the whole file, and reports every problem as
`SHEET!CELL: message`; only when nothing is wrong does it write the changed answers, all in one
transaction through the same history as a web edit (source 'offline').
"""

from __future__ import annotations

import functools
import io
import math
import re
import unicodedata
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from openpyxl import load_workbook
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from ..answers import MAX_TEXT, AnswerError, clean_value
from ..i18n import N_, _, gettext_for
from ..responding import Edit, SaveRefused, answer_token, save_answers
from ..storage.db import transaction
from ..storage.migrations import now
from ..storage.responses import STATUS_LABELS, find_response, get_or_create_response, load_answers
from ..storage.rounds import get_round, round_title, state_instruments
from ..storage.states import state_name
from .cells import MAX_CELL_UNITS, fit_cell
from .rows import ExportError, no_round_message
from .xlsx import Book, read_back, write_text

FORMAT = "survey-offline/1"
MARKER_SHEET = "_survey"
LISTS_SHEET = "Lists"
INSTRUCTIONS_SHEET = "Instructions"

# Upload limits. A filled offline file for the whole omnibus is well under 1 MB.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 60 * 1024 * 1024
MAX_ZIP_ENTRIES = 1000
MAX_COMPRESSION_RATIO = 100  # checked for parts over 1 MB; spreadsheet XML compresses ~10-20x
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and password-protected .xlsx

MULTI_SEPARATORS = re.compile(r"[;\n]")

# Columns of an instrument sheet (1-based); H and I are hidden and identify the question.
# Widths in Excel character units; the visible seven print one page wide on landscape A4.
# The titles of the hidden columns H and I stay English: they identify the question, not a reader.
COLUMNS = (
    (N_("Provision"), 12),
    (N_("Article"), 13),
    (N_("Title"), 22),
    (N_("Obligation"), 11),
    (N_("Question"), 45),
    (N_("Answer"), 50),
    (N_("Guidance"), 50),
    ("question key", 12),
    ("answer at download", 12),
)
PROVISION_COL, ANSWER_COL, KEY_COL, TOKEN_COL = 1, 6, 8, 9
ANSWER_LETTER = "F"

MAX_LISTED_PROBLEMS = 200


class OfflineImportError(ValueError):
    """The file cannot be imported; `messages` lists the problems found, each one actionable.

    At most MAX_LISTED_PROBLEMS are listed, then one line with the total: a file of 200,000 junk
    rows gets a page a person can read, not 200,000 lines. `total` is the full count.
    """

    def __init__(self, messages):
        messages = list(messages)
        self.total = len(messages)
        if self.total > MAX_LISTED_PROBLEMS:
            messages = messages[:MAX_LISTED_PROBLEMS] + [
                f"… and {self.total - MAX_LISTED_PROBLEMS:,} more problems ({self.total:,} in "
                "total). Fix the ones listed, or download a fresh copy of the file."
            ]
        self.messages = messages
        super().__init__("\n".join(self.messages))


@dataclass
class OfflineImportResult:
    changed: int = 0  # answers written: new, changed or cleared
    provisions: int = 0  # provisions with at least one changed answer
    response_id: int | None = None
    changes: list[tuple[str, str]] = field(default_factory=list)  # (provision_id, question)


# -- values in cells -----------------------------------------------------------------------------


# The file keeps the same "what the user started from" token as the web form, in a hidden column.
value_digest = answer_token


def truncation_marker(total: int) -> str:
    return f"… [truncated: {total:,} characters in total; edit this answer on the web]"


# Found anywhere in the cell: an edit may have pushed the closing bracket past Excel's limit.
TRUNCATED = re.compile(r"… \[truncated: [\d,]+ characters in total; edit this answer on the web")


def display_value(question, value, lang: str = "en"):
    """How a stored answer appears in its cell: labels for choices (';' between several), text as is."""
    if value is None:
        return None
    if question.choices is not None:
        codes = value if isinstance(value, list) else [value]
        return "; ".join(question.choices.label(code, lang) for code in codes)
    return fit_cell(str(value), truncation_marker)


def _choice_lookup(question) -> dict[str, str]:
    """casefolded code or label (any language) -> code."""
    lookup: dict[str, str] = {}
    for choice in question.choices.choices:
        for _lang, label in choice.label.translations:
            lookup.setdefault(label.strip().casefold(), choice.name)
    for choice in question.choices.choices:
        lookup[choice.name.casefold()] = choice.name  # codes win over labels
    return lookup


def cell_text(value) -> str | None:
    """A cell's value as the text the user meant (Excel may have turned '12' into a number)."""
    if value is None:
        return None
    if isinstance(value, str):
        return read_back(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def parse_answer(question, raw):
    """The stored form of a cell's value (codes or labels accepted for choices); raise AnswerError."""
    text = cell_text(raw)
    if text is None or not text.strip():
        return None
    if question.choices is None:
        return clean_value(question, text)
    lookup = _choice_lookup(question)
    if question.is_multiple:
        whole = lookup.get(text.strip().casefold())
        items = [whole] if whole else [i.strip() for i in MULTI_SEPARATORS.split(text)]
        return clean_value(question, [lookup.get(i.casefold(), i) for i in items if i])
    text = text.strip()
    return clean_value(question, lookup.get(text.casefold(), text))


# -- export --------------------------------------------------------------------------------------

HEADER = {"bold": True, "bg_color": "#DCE3EC", "valign": "top", "locked": True}
ANSWER = {"bg_color": "#FFF7D6", "text_wrap": True, "valign": "top", "num_format": "@"}


class _Formats:
    """The file's few cell formats, made once per workbook (not one style per cell)."""

    def __init__(self, book):
        add = book.add_format
        self.header = add(HEADER)
        self.top = add({"valign": "top"})
        self.bold = add({"valign": "top", "bold": True})
        self.wrap = add({"valign": "top", "text_wrap": True})
        # What the user types stays text ('=1+1', '0012'); answer cells alone are unlocked.
        self.answer = add({**ANSWER, "locked": False})
        self.long_answer = add({**ANSWER, "bg_color": "#EEEEEE", "locked": True})
        self.title = add({"bold": True, "font_size": 14, "text_wrap": True, "valign": "top"})


def _put(ws, row: int, col: int, value, fmt=None) -> None:
    """Write text that stays text (0-based row and column); None leaves the cell empty."""
    if value is not None:
        text = str(value)
        fitted = _fitted(text) if len(text) <= CACHED_TEXT else fit_cell(text, truncation_marker)
        write_text(ws, row, col, fitted, fmt)


# Texts up to this length (characters) are worked out once: a sheet repeats its ids, citations,
# titles, labels and guidance row after row. Answers can be long and are not kept.
CACHED_TEXT = 2_000


@functools.lru_cache(maxsize=4096)
def _fitted(text: str) -> str:
    """fit_cell with the file's marker, once per distinct short text."""
    return fit_cell(text, truncation_marker)


def _guidance(provision, question, lang: str, long_text: bool, t) -> str:
    parts = []
    if question.name == "compliance":
        parts.append(
            t(N_("What the provision asks: %(summary)s"), summary=provision.summary.get(lang))
        )
    if question.relevant_source:
        parts.append(t(N_("Only if: %(rule)s."), rule=question.relevant_source))
    if question.hint:
        parts.append(question.hint.get(lang))
    if question.is_multiple:
        labels = "; ".join(f"{c.label.get(lang)} ({c.name})" for c in question.choices.choices)
        parts.append(
            t(N_("One or more, separated by ';' (labels or codes): %(labels)s."), labels=labels)
        )
    elif question.choices is not None:
        parts.append(t(N_("Choose from the list.")))
    else:
        parts.append(
            t(
                N_(
                    "Text, up to %(cell)s characters (what one Excel cell holds); a longer answer, "
                    "up to %(web)s characters, can be typed on the web."
                ),
                cell=f"{MAX_CELL_UNITS:,}",
                web=f"{MAX_TEXT:,}",
            )
        )
    if question.required:
        parts.append(t(N_("Required before submission.")))
    if long_text:
        parts.append(
            t(
                N_(
                    "This answer is longer than an Excel cell (%(cell)s characters): it is shown "
                    "shortened and locked. Edit it on the web."
                ),
                cell=f"{MAX_CELL_UNITS:,}",
            )
        )
    return "\n".join(parts)


def _choice_lists(instruments) -> dict[str, object]:
    """Every single-choice list the sheets use, in order of first use: name -> ChoiceList."""
    lists: dict[str, object] = {}
    for inst in instruments:
        for provision in inst.provisions:
            for question in provision.questions:
                if question.choices is not None and not question.is_multiple:
                    lists.setdefault(question.choices.name, question.choices)
    return lists


def _list_ranges(lists: dict) -> dict[str, str]:
    """list name -> the Lists sheet range of its labels (one column per list, labels from row 2)."""
    return {
        name: f"={LISTS_SHEET}!${xl_col_to_name(i)}$2:${xl_col_to_name(i)}${len(c.choices) + 1}"
        for i, (name, c) in enumerate(lists.items())
    }


def _lists_sheet(ws, lists: dict, lang: str) -> None:
    """The hidden sheet of single-choice labels, written row by row (constant memory)."""
    columns = list(lists.values())
    for i, choices in enumerate(columns):
        _put(ws, 0, i, choices.name)
    for r in range(max((len(c.choices) for c in columns), default=0)):
        for i, choices in enumerate(columns):
            if r < len(choices.choices):
                _put(ws, r + 1, i, choices.choices[r].label.get(lang))
    ws.hide()
    ws.protect()


LINE_HEIGHT = 15  # points per line of 11-point text
MAX_ROW_HEIGHT = 409  # Excel's limit, in points


def _lines(text: str | None, width: float) -> int:
    """Lines that `text` takes when wrapped in a column `width` characters wide (an estimate:
    East Asian wide characters count twice, a line holds ~1.2 characters per width unit)."""
    if not text:
        return 1
    if len(text) <= CACHED_TEXT:
        return _short_lines(text, width)
    return _count_lines(text, width)


@functools.lru_cache(maxsize=4096)
def _short_lines(text: str, width: float) -> int:
    return _count_lines(text, width)


def _count_lines(text: str, width: float) -> int:
    per_line = max(1.0, width * 1.2)
    total = 0
    for paragraph in text.split("\n"):
        units = (
            len(paragraph)
            if paragraph.isascii()
            else sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in paragraph)
        )
        total += max(1, math.ceil(units / per_line))
    return total


def _row_height(cells: list[tuple[str | None, float]]) -> float:
    """A row height that shows every wrapped cell whole (Excel and LibreOffice do not grow a
    row for wrapped text written by a program, so long text would print over the next row)."""
    lines = max(_lines(text, width) for text, width in cells)
    return min(MAX_ROW_HEIGHT, LINE_HEIGHT * lines)


def _print_setup(ws, last_column: int) -> None:
    """Landscape A4, one page wide, the header row on every page, only the visible columns."""
    ws.set_landscape()
    ws.set_paper(9)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    ws.fit_to_pages(1, 0)
    ws.repeat_rows(0)
    ws.set_footer("&L&A&RPage &P of &N")
    ws.print_area(0, 0, ws.dim_rowmax or 0, last_column)


def _instrument_sheet(ws, fmt: _Formats, inst, stored, ranges, lang: str, t) -> None:
    for i, (name, width) in enumerate(COLUMNS):
        hidden = i + 1 in (KEY_COL, TOKEN_COL)
        ws.set_column(i, i, width, None, {"hidden": True} if hidden else None)
        _put(ws, 0, i, name if hidden else t(name), fmt.header)
    ws.freeze_panes(1, 0)
    validated: dict[str, list[str]] = {}
    row = 0
    for provision in inst.provisions:
        answers = stored.get(provision.id, {})
        for index, question in enumerate(provision.questions):
            row += 1
            answer = answers.get(question.name)
            value = answer.value if answer else None
            shown = display_value(question, value, lang)
            long_text = isinstance(shown, str) and bool(TRUNCATED.search(shown))
            guidance = _guidance(provision, question, lang, long_text, t)
            label = question.label.get(lang)
            title = provision.title_text.get(lang)
            wrapped = [(title, 2), (label, 4), (shown, ANSWER_COL - 1), (guidance, 6)]
            ws.set_row(row, _row_height([(text, COLUMNS[col][1]) for text, col in wrapped]))
            _put(ws, row, 0, provision.id, fmt.bold if index == 0 else fmt.top)
            _put(ws, row, 1, provision.citation(lang), fmt.top)
            _put(ws, row, 2, title, fmt.wrap)
            _put(ws, row, 3, provision.obligation, fmt.top)
            _put(ws, row, 4, label, fmt.wrap)
            cell_format = fmt.long_answer if long_text else fmt.answer
            if shown is None:
                ws.write_blank(row, ANSWER_COL - 1, None, cell_format)
            else:
                _put(ws, row, ANSWER_COL - 1, shown, cell_format)
            if not long_text and question.choices is not None and not question.is_multiple:
                validated.setdefault(question.choices.name, []).append(
                    xl_rowcol_to_cell(row, ANSWER_COL - 1)
                )
            _put(ws, row, 6, guidance, fmt.wrap)
            _put(ws, row, KEY_COL - 1, question.name)
            _put(ws, row, TOKEN_COL - 1, value_digest(value))
    for name, cells in validated.items():
        ws.data_validation(
            cells[0],
            {
                "validate": "list",
                "source": ranges[name],
                "ignore_blank": True,
                "multi_range": " ".join(cells),
                "error_title": t(N_("Not an answer in the list"))[:32],  # Excel's limits
                "error_message": t(N_("Choose an answer from the list, or leave the cell empty."))[
                    :255
                ],
            },
        )
    ws.autofilter(0, 0, row, 6)
    # Locked cells stay read-only; resizing rows and columns and filtering remain allowed.
    ws.protect("", {"format_columns": True, "format_rows": True, "autofilter": True})
    _print_setup(ws, 6)


def _instructions(
    ws, fmt: _Formats, state: dict, round_: dict, response, instruments, lang: str, t
) -> None:
    ws.set_column(0, 0, 120)
    status = t(STATUS_LABELS[response["status"] if response else "not started"])
    codes = ", ".join(inst.code for inst in instruments)
    name = state_name(state, lang)
    lines = [
        t(
            N_("Offline questionnaire: %(state)s (%(iso3)s), %(round)s"),
            state=name,
            iso3=state["iso3"],
            round=round_title(round_, lang),
        ),
        t(
            N_("Downloaded %(when)s (UTC). Status of your response at download: %(status)s."),
            when=now(),
            status=status,
        ),
        "",
        t(
            N_(
                "One sheet per instrument your State answers: %(codes)s. Each row is one question "
                "of a provision. Type or choose your answer in the yellow Answer column (F); every "
                "other column is locked."
            ),
            codes=codes,
        ),
        t(
            N_(
                "Questions with one answer: choose from the drop-down list (the codes shown in "
                "the Guidance column are accepted too)."
            )
        ),
        t(
            N_(
                "Questions with several answers (challenges, forms of technical assistance): type "
                "the labels or the codes, separated by ';', e.g. 'Legal advice; capacity_building'."
            )
        ),
        t(
            N_(
                "Text answers: up to %(cell)s characters, what one Excel cell holds (the web form "
                "takes up to %(web)s). An answer already longer than a cell is shown shortened "
                "and locked; edit it on the web."
            ),
            cell=f"{MAX_CELL_UNITS:,}",
            web=f"{MAX_TEXT:,}",
        ),
        t(
            N_(
                "Emptying a filled-in answer deletes that answer when the file is uploaded. Rows "
                "you leave as they were change nothing."
            )
        ),
        t(
            N_(
                "The Guidance column says when a question applies ('Only if: compliance in "
                "[partly, not_yet, not_yet_considered]'). Answers to questions that do not apply "
                "are kept but not used."
            )
        ),
        "",
        t(
            N_(
                "Upload the file from your questionnaire page ('Upload a filled Excel file') or "
                "send it to the secretariat. The whole file is checked first: every problem is "
                "listed with its sheet and cell (e.g. UNCAC!F14) and nothing is saved until the "
                "file has no problem. Then only the answers you changed are saved, with the same "
                "history as answers typed on the web."
            )
        ),
        t(
            N_(
                "If someone changed an answer on the web after you downloaded this file and you "
                "changed it here too, the upload lists it rather than overwriting it silently."
            )
        ),
        "",
        t(
            N_(
                "Do not rename the sheets or insert, delete or move rows: hidden columns H and I "
                "identify each question. The sheets are protected without a password (Review > "
                "Unprotect Sheet) only so that answers go in the right cells."
            )
        ),
        t(
            N_(
                "To print: each questionnaire sheet is set up for landscape A4, one page wide, "
                "with the column titles repeated on every page."
            )
        ),
        t(
            N_(
                "This file is for %(state)s and round %(round)s only; it cannot be uploaded for "
                "another State or round."
            ),
            state=name,
            round=round_["id"],
        ),
    ]
    for row, line in enumerate(lines):
        _put(ws, row, 0, line or None, fmt.title if row == 0 else fmt.wrap)
    ws.protect()
    ws.set_portrait()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)


def _marker(ws, model, round_id: str, iso3: str, lang: str) -> None:
    rows = [
        ("format", FORMAT),
        ("round", round_id),
        ("state", iso3),
        ("questionnaire", model.id),
        ("version", model.version),
        ("language", lang),
        ("exported_at", now()),
    ]
    for row, (key, value) in enumerate(rows):
        _put(ws, row, 0, key)
        _put(ws, row, 1, value)
    ws.very_hidden()
    ws.protect()


def export_offline(db, model, round_id: str, iso3: str, out, *, lang: str = "en") -> int:
    """Write the State's offline questionnaire to `out` (path or binary file); return the question rows.

    Sheets: Instructions, one per instrument the State answers, Lists (hidden: the drop-down
    labels) and the very hidden marker. Arabic files read right to left. Raises ExportError for
    an unknown round or State.
    """
    round_ = get_round(db, round_id)
    if round_ is None:
        raise ExportError(no_round_message(round_id))
    iso3 = (iso3 or "").upper()
    states = list(db.query("SELECT * FROM states WHERE iso3 = ?", [iso3]))
    if not states:
        raise ExportError(_("'%(iso3)s' is not the ISO3 code of a UN Member State", iso3=iso3))
    codes = state_instruments(db, round_id, iso3)
    instruments = [inst for inst in model.instruments if inst.code in codes]
    response = find_response(db, round_id, iso3)
    stored = load_answers(db, response["id"]) if response else {}
    rtl = lang == "ar"
    t = gettext_for(lang)
    book = Book(out)
    fmt = _Formats(book)
    # Sheets are created in the order they appear; each is then written row by row.
    instructions = book.add_sheet(INSTRUCTIONS_SHEET, right_to_left=rtl)
    sheets = [(inst, book.add_sheet(inst.code, right_to_left=rtl)) for inst in instruments]
    lists_ws = book.add_sheet(LISTS_SHEET, right_to_left=rtl)
    marker_ws = book.add_sheet(MARKER_SHEET)
    _instructions(instructions, fmt, states[0], round_, response, instruments, lang, t)
    lists = _choice_lists(instruments)
    ranges = _list_ranges(lists)
    for inst, ws in sheets:
        _instrument_sheet(ws, fmt, inst, stored, ranges, lang, t)
    _lists_sheet(lists_ws, lists, lang)
    _marker(marker_ws, model, round_id, iso3, lang)
    instructions.activate()
    book.close()
    return sum(len(p.questions) for inst in instruments for p in inst.provisions)


# -- checking an upload --------------------------------------------------------------------------


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def read_upload(file, *, max_bytes: int = MAX_UPLOAD_BYTES) -> bytes:
    """The bytes of an upload (bytes, a path or a binary file), refusing more than max_bytes."""
    if isinstance(file, bytes | bytearray):
        data = bytes(file)
    elif isinstance(file, str | Path):
        try:
            with open(file, "rb") as stream:
                data = stream.read(max_bytes + 1)
        except OSError as exc:
            raise OfflineImportError(
                [_("The file cannot be read: %(reason)s.", reason=exc.strerror or exc)]
            ) from None
    else:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OfflineImportError(
            [
                _(
                    "The file is larger than the %(limit)s limit. An offline questionnaire is much "
                    "smaller: upload the .xlsx file downloaded from the survey, without added "
                    "pictures or sheets.",
                    limit=_megabytes(max_bytes),
                )
            ]
        )
    if not data:
        raise OfflineImportError([_("The file is empty.")])
    return data


_DECLARATIONS = tuple(
    word.encode(codec)
    for word in ("<!doctype", "<!entity")
    for codec in ("utf-8", "utf-16-le", "utf-16-be")
)
XML_PART_SUFFIXES = (".xml", ".rels", ".vml")


def _scan_part(stream, name: str) -> str | None:
    """A problem if a part declares a DOCTYPE or ENTITY (entity expansion, external entities),
    in UTF-8 or UTF-16, whatever the part is called; or if a part named as XML is not UTF-8."""
    tail = b""
    first = True
    xml_named = name.lower().endswith(XML_PART_SUFFIXES)
    while chunk := stream.read(64 * 1024):
        if (
            first
            and xml_named
            and (chunk.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in chunk[:512])
        ):
            return _(
                "The part %(part)s is not UTF-8 XML; the file was not saved by Excel or "
                "LibreOffice as .xlsx.",
                part=name,
            )
        first = False
        window = (tail + chunk).lower()
        if any(word in window for word in _DECLARATIONS):
            return _(
                "The part %(part)s contains a DOCTYPE or ENTITY declaration, which Excel never "
                "writes; the file is refused for safety. Save it again as .xlsx from Excel or "
                "LibreOffice.",
                part=name,
            )
        tail = window[-32:]
    return None


def check_xlsx(data: bytes) -> None:
    """Refuse anything that is not a plain .xlsx: other formats, zip bombs, XML entity tricks."""
    not_xlsx = _("Save it as an Excel Workbook (.xlsx) and upload again.")
    if data.startswith(OLE_MAGIC):
        raise OfflineImportError(
            [
                _("This is an old-format .xls file or a password-protected workbook.")
                + " "
                + not_xlsx
            ]
        )
    if not data.startswith(b"PK"):
        raise OfflineImportError(
            [_("This file is not an Excel workbook (.xlsx).") + " " + not_xlsx]
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise OfflineImportError(
            [
                _("This file is damaged or not an Excel workbook (%(error)s).", error=exc)
                + " "
                + not_xlsx
            ]
        ) from None
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names:
        kind = (
            _("This file is an OpenDocument spreadsheet (.ods).")
            if "content.xml" in names
            else _("This file is a zip archive, not an Excel workbook.")
        )
        raise OfflineImportError([kind + " " + not_xlsx])
    if len(infos) > MAX_ZIP_ENTRIES:
        raise OfflineImportError(
            [
                _(
                    "The file holds %(count)s parts, far more than an offline questionnaire.",
                    count=f"{len(infos):,}",
                )
            ]
        )
    total = sum(info.file_size for info in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise OfflineImportError(
            [
                _(
                    "The file would expand to %(size)s (limit %(limit)s); it is refused as a "
                    "possible zip bomb.",
                    size=_megabytes(total),
                    limit=_megabytes(MAX_UNCOMPRESSED_BYTES),
                )
            ]
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise OfflineImportError(
                [_("The part %(part)s is encrypted.", part=info.filename) + " " + not_xlsx]
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > MAX_COMPRESSION_RATIO:
            raise OfflineImportError(
                [
                    _(
                        "The part %(part)s is compressed %(ratio)s to 1; it is refused as a "
                        "possible zip bomb.",
                        part=info.filename,
                        ratio=f"{ratio:,.0f}",
                    )
                ]
            )
    try:
        # Every part, whatever its name: a reader picks parts by the content types and
        # relationships, so a part named xl/strings.bin can be parsed as XML all the same.
        for info in infos:
            with archive.open(info) as stream:
                problem = _scan_part(stream, info.filename)
            if problem:
                raise OfflineImportError([problem])
        content_types = (
            archive.read("[Content_Types].xml") if "[Content_Types].xml" in names else b""
        )
    except OfflineImportError:
        raise
    except Exception as exc:  # zipfile raises several types for damaged archives
        raise OfflineImportError(
            [
                _("This file is damaged (%(error)s).", error=f"{type(exc).__name__}: {exc}")
                + " "
                + not_xlsx
            ]
        ) from None
    _check_content_types(content_types, names, not_xlsx)


# The main part of a plain workbook; others are macro-enabled (.xlsm), templates (.xltx, .xltm),
# add-ins (.xlam) or binary workbooks (.xlsb).
WORKBOOK_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
OTHER_WORKBOOK_TYPES = {
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": N_("a macro-enabled workbook (.xlsm)"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": N_(
        "an Excel template (.xltx)"
    ),
    "application/vnd.ms-excel.template.macroEnabled.main+xml": N_(
        "a macro-enabled template (.xltm)"
    ),
    "application/vnd.ms-excel.addin.macroEnabled.main+xml": N_("an Excel add-in (.xlam)"),
    "application/vnd.ms-excel.sheet.binary.macroEnabled.main": N_("a binary workbook (.xlsb)"),
}
MACRO_PART = re.compile(r"(^|/)(vbaProject\.bin|vbaData\.xml)$|(^|/)macrosheets/", re.IGNORECASE)


def _check_content_types(content_types: bytes, names: set[str], not_xlsx: str) -> None:
    """Refuse macro-enabled workbooks, templates, add-ins and binary workbooks by name and kind."""
    from xml.etree import ElementTree

    try:
        # No DOCTYPE can reach this point (every part was scanned), so no entity is expanded.
        root = ElementTree.fromstring(content_types)  # noqa: S314
    except ElementTree.ParseError:
        raise OfflineImportError(
            [_("The file has no readable list of content types; it is damaged.") + " " + not_xlsx]
        ) from None
    workbook_type = None
    for element in root:
        if element.get("PartName", "").lower() == "/xl/workbook.xml":
            workbook_type = element.get("ContentType")
    if workbook_type in OTHER_WORKBOOK_TYPES:
        raise OfflineImportError(
            [
                _(
                    "This file is %(kind)s, not a plain Excel workbook; macros and templates are "
                    "refused for safety.",
                    kind=_(OTHER_WORKBOOK_TYPES[workbook_type]),
                )
                + " "
                + not_xlsx
            ]
        )
    if workbook_type != WORKBOOK_TYPE:
        raise OfflineImportError(
            [
                _(
                    "This file's main part is '%(kind)s', not an Excel workbook.",
                    kind=workbook_type or "missing",
                )
                + " "
                + not_xlsx
            ]
        )
    macros = sorted(n for n in names if MACRO_PART.search(n))
    if macros:
        raise OfflineImportError(
            [
                _("This file holds macros (%(part)s); they are refused for safety.", part=macros[0])
                + " "
                + not_xlsx
            ]
        )


# -- import --------------------------------------------------------------------------------------


@dataclass
class _Row:
    sheet: str
    row: int
    provision: object
    question: object
    value: object
    token: str | None
    truncated_text: str | None = None  # the shortened text of an overlong answer, left as shown

    @property
    def cell(self) -> str:
        return f"{self.sheet}!{ANSWER_LETTER}{self.row}"


def _sheet_rows(ws):
    for number, values in enumerate(ws.iter_rows(min_row=2, values_only=True), 2):
        values = tuple(values) + (None,) * (len(COLUMNS) - len(values))
        yield number, values


def _read_marker(wb) -> dict[str, str]:
    if MARKER_SHEET not in wb.sheetnames:
        return {}
    marker = {}
    for values in wb[MARKER_SHEET].iter_rows(max_col=2, values_only=True):
        if len(values) == 2 and values[0] is not None:
            marker[str(values[0])] = "" if values[1] is None else str(values[1])
    return marker


def _check_marker(db, wb, round_id: str, iso3: str) -> None:
    marker = _read_marker(wb)
    if marker.get("format") != FORMAT:
        raise OfflineImportError(
            [
                _(
                    "This is not an offline questionnaire downloaded from the survey (its hidden "
                    "marker is missing). Download the offline file from your questionnaire page, "
                    "fill that file and upload it."
                )
            ]
        )
    problems = []
    if marker.get("state") != iso3:
        names = {
            r["iso3"]: state_name(r)
            for r in db.query(
                "SELECT * FROM states WHERE iso3 IN (?, ?)", [marker.get("state"), iso3]
            )
        }
        other = marker.get("state") or "?"
        problems.append(
            _(
                "This file was downloaded for %(other)s (%(other_code)s); it cannot be imported "
                "for %(state)s (%(code)s). Download the offline file for %(code)s and enter the "
                "answers there.",
                other=names.get(other, other),
                other_code=other,
                state=names.get(iso3, iso3),
                code=iso3,
            )
        )
    if marker.get("round") != round_id:
        problems.append(
            _(
                "This file is for round %(file_round)s, not round %(round)s. Download the "
                "offline file of round %(round)s.",
                file_round=marker.get("round") or "?",
                round=round_id,
            )
        )
    if problems:
        raise OfflineImportError(problems)


def _read_answers(wb, model, instruments: list[str], round_id: str):
    """Every answer row of the file, checked: (rows, problems as (sheet order, row, col, text))."""
    rows: list[_Row] = []
    problems: list[tuple] = []
    codes = {inst.code for inst in model.instruments}
    sheets = [name for name in wb.sheetnames if name in codes]
    for order, name in enumerate(wb.sheetnames):
        if name in codes and name not in instruments:
            problems.append(
                (
                    order,
                    0,
                    "A",
                    _(
                        "%(sheet)s: your State does not answer %(sheet)s in round %(round)s; "
                        "delete this sheet.",
                        sheet=name,
                        round=round_id,
                    ),
                )
            )
    if not any(name in instruments for name in sheets):
        problems.append(
            (
                0,
                0,
                "A",
                _(
                    "The file has no questionnaire sheet (%(sheets)s).",
                    sheets=", ".join(instruments),
                ),
            )
        )
    for order, name in enumerate(wb.sheetnames):
        if name not in instruments:
            continue
        seen: dict[tuple[str, str], int] = {}
        for number, values in _sheet_rows(wb[name]):
            pid, raw, key, token = (
                values[PROVISION_COL - 1],
                values[ANSWER_COL - 1],
                values[KEY_COL - 1],
                values[TOKEN_COL - 1],
            )
            if pid is None and key is None:
                if raw is not None and str(raw).strip():
                    problems.append(
                        (
                            order,
                            number,
                            ANSWER_LETTER,
                            _(
                                "%(cell)s: this answer is on a row without a question; rows must "
                                "not be inserted or moved.",
                                cell=f"{name}!{ANSWER_LETTER}{number}",
                            ),
                        )
                    )
                continue
            pid, key = cell_text(pid), cell_text(key)
            provision = model.provisions.get(pid or "")
            if provision is None or provision.instrument != name:
                message = (
                    _(
                        "%(cell)s: '%(id)s' is not a provision of %(sheet)s; rows must not be "
                        "edited, inserted or moved.",
                        cell=f"{name}!A{number}",
                        id=pid,
                        sheet=name,
                    )
                    if provision is None
                    else _(
                        "%(cell)s: '%(id)s' is not a provision of %(sheet)s (it belongs to "
                        "%(instrument)s); rows must not be edited, inserted or moved.",
                        cell=f"{name}!A{number}",
                        id=pid,
                        sheet=name,
                        instrument=provision.instrument,
                    )
                )
                problems.append((order, number, "A", message))
                continue
            question = provision.question(key or "")
            if question is None:
                problems.append(
                    (
                        order,
                        number,
                        "H",
                        _(
                            "%(cell)s: the hidden question key '%(key)s' is not a question of "
                            "%(id)s; download a new file.",
                            cell=f"{name}!H{number}",
                            key=key,
                            id=pid,
                        ),
                    )
                )
                continue
            if (pid, key) in seen:
                problems.append(
                    (
                        order,
                        number,
                        "A",
                        _(
                            "%(cell)s: %(id)s '%(key)s' appears twice (also row %(other)s); keep "
                            "one row per question.",
                            cell=f"{name}!A{number}",
                            id=pid,
                            key=key,
                            other=seen[(pid, key)],
                        ),
                    )
                )
                continue
            seen[(pid, key)] = number
            text = cell_text(raw)
            if question.type == "text" and text and TRUNCATED.search(text.strip()):
                rows.append(_Row(name, number, provision, question, None, None, text))
                continue
            try:
                value = parse_answer(question, raw)
            except AnswerError as exc:
                problems.append(
                    (order, number, ANSWER_LETTER, f"{name}!{ANSWER_LETTER}{number}: {exc}")
                )
                continue
            rows.append(_Row(name, number, provision, question, value, cell_text(token)))
    return rows, problems


def _describe(value) -> str:
    if value is None:
        return "no answer"
    text = "; ".join(value) if isinstance(value, list) else str(value)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


def _edits(rows: list[_Row], stored, order: dict[str, int], *, lang: str):
    """Edits for the save service (base = the token in the file), and problems with long texts."""
    edits: list[Edit] = []
    cells: dict[tuple[str, str], _Row] = {}
    problems = []
    for row in rows:
        current = stored.get(row.provision.id, {}).get(row.question.name)
        current_value = current.value if current else None
        if row.truncated_text is not None:
            if display_value(row.question, current_value, lang) != row.truncated_text.strip():
                problems.append(
                    (
                        order[row.sheet],
                        row.row,
                        ANSWER_LETTER,
                        _(
                            "%(cell)s: this answer is longer than an Excel cell and cannot be "
                            "changed in the file; edit it on the web, or replace the whole cell "
                            "(without the '… [truncated' note) with the new answer.",
                            cell=row.cell,
                        ),
                    )
                )
            continue
        edits.append(Edit(row.provision.id, row.question.name, row.value, row.token))
        cells[(row.provision.id, row.question.name)] = row
    return edits, cells, problems


def _conflict_problem(row: _Row, conflict, order: dict[str, int]):
    values = {
        "cell": row.cell,
        "who": conflict.theirs_by,
        "when": conflict.theirs_at,
        "theirs": _describe(conflict.theirs),
        "ours": _describe(row.value),
    }
    if conflict.theirs_by and conflict.theirs_at:
        message = _(
            "%(cell)s: this answer was changed on the web by %(who)s on %(when)s after the file "
            "was downloaded (it is now %(theirs)s; the file says %(ours)s). Keep the newer answer "
            "by restoring the cell, or upload again choosing to replace newer answers.",
            **values,
        )
    else:
        message = _(
            "%(cell)s: this answer was changed on the web after the file was downloaded (it is "
            "now %(theirs)s; the file says %(ours)s). Keep the newer answer by restoring the "
            "cell, or upload again choosing to replace newer answers.",
            **{k: v for k, v in values.items() if k not in ("who", "when")},
        )
    return (order[row.sheet], row.row, ANSWER_LETTER, message)


def _open_workbook(data: bytes):
    try:
        with warnings.catch_warnings():
            # openpyxl warns about features it drops (extensions, styles); they do not matter here.
            warnings.simplefilter("ignore")
            return load_workbook(
                io.BytesIO(data), read_only=True, data_only=False, keep_links=False
            )
    except Exception as exc:  # openpyxl raises many types for malformed files
        raise OfflineImportError(
            [
                _(
                    "The file could not be read as an Excel workbook (%(error)s). Save it again "
                    "as .xlsx from Excel or LibreOffice.",
                    error=f"{type(exc).__name__}: {exc}",
                )
            ]
        ) from None


def import_offline(
    db,
    model,
    round_id: str,
    iso3: str,
    file,
    *,
    user_id: int | None,
    overwrite: bool = False,
    force: bool = False,
    max_bytes: int = MAX_UPLOAD_BYTES,
) -> OfflineImportResult:
    """Import a filled offline questionnaire for the State `iso3` (given by the caller, never the file).

    The whole file is checked first; any problem raises OfflineImportError listing them all and
    nothing is written. Otherwise the answers that differ from the file as downloaded are saved in
    one transaction through survey.responding.save_answers (source 'offline'). An answer changed on the web since
    the download is a problem unless `overwrite`; a submitted response or a closed round refuses
    the import unless `force` (secretariat use).
    """
    data = read_upload(file, max_bytes=max_bytes)
    check_xlsx(data)
    round_ = get_round(db, round_id)
    if round_ is None:
        raise OfflineImportError([_("There is no round '%(round)s'.", round=round_id)])
    iso3 = (iso3 or "").upper()
    if not db.execute("SELECT 1 FROM states WHERE iso3 = ?", [iso3]).fetchone():
        raise OfflineImportError(
            [_("'%(code)s' is not the ISO3 code of a UN Member State.", code=iso3)]
        )
    instruments = state_instruments(db, round_id, iso3)
    wb = _open_workbook(data)
    try:
        _check_marker(db, wb, round_id, iso3)
        lang = _read_marker(wb).get("language") or "en"
        rows, problems = _read_answers(wb, model, instruments, round_id)
        order = {name: i for i, name in enumerate(wb.sheetnames)}
    except OfflineImportError:
        raise
    except Exception as exc:  # a part openpyxl only parses while reading rows may be malformed
        raise OfflineImportError(
            [
                _(
                    "The file could not be read (%(error)s). Save it again as .xlsx.",
                    error=f"{type(exc).__name__}: {exc}",
                )
            ]
        ) from None
    finally:
        wb.close()
    result = OfflineImportResult()
    with transaction(db):
        response = find_response(db, round_id, iso3)
        stored = load_answers(db, response["id"]) if response else {}
        edits, cells, long_texts = _edits(rows, stored, order, lang=lang)
        problems = problems + long_texts
        if problems:  # nothing is saved from a file with any bad cell
            raise OfflineImportError([p[3] for p in sorted(problems, key=lambda p: p[:3])])
        if response is None and all(edit.value is None for edit in edits):
            return result  # an empty file for a State that has not started: nothing to create
        response = response or get_or_create_response(db, round_id, iso3)
        result.response_id = response["id"]
        try:
            outcome = save_answers(
                db,
                response["id"],
                edits,
                user_id=user_id,
                source="offline",
                overwrite=overwrite,
                require_editable=not force,
            )
        except SaveRefused as exc:
            raise OfflineImportError([exc.message]) from None
        problems += [
            _conflict_problem(cells[(c.provision_id, c.question)], c, order)
            for c in outcome.conflicts
        ]
        if problems:
            # Raising inside the transaction rolls back whatever the save wrote.
            raise OfflineImportError([p[3] for p in sorted(problems, key=lambda p: p[:3])])
        result.changed = len(outcome.changed)
        result.changes = list(outcome.changed)
        result.provisions = len({pid for pid, _q in outcome.changed})
    return result
