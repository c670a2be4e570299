"""The offline questionnaire: a workbook a ministry fills in Excel or LibreOffice, and its import.

Export writes one protected sheet per instrument the State answers, one row per question, with the
current answers filled in and only the answer cells editable. Import checks the upload (size, a
real xlsx, no zip bomb, no XML entity tricks), then the whole file, and reports every problem as
`SHEET!CELL: message`; only when nothing is wrong does it write the changed answers, all in one
transaction through the same history as a web edit (source 'offline').
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill, Protection
from openpyxl.worksheet.datavalidation import DataValidation

from ..answers import MAX_TEXT, AnswerError, clean_value
from ..responding import Edit, SaveRefused, answer_token, save_answers
from ..storage.db import transaction
from ..storage.migrations import now
from ..storage.responses import find_response, get_or_create_response, load_answers
from ..storage.rounds import get_round, state_instruments
from ..storage.states import state_name
from .rows import ExportError

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

MAX_CELL = 32_767
MULTI_SEPARATORS = re.compile(r"[;\n]")

# Columns of an instrument sheet (1-based); H and I are hidden and identify the question.
COLUMNS = (
    ("Provision", 13),
    ("Article", 16),
    ("Title", 30),
    ("Obligation", 12),
    ("Question", 55),
    ("Answer", 55),
    ("Guidance", 60),
    ("question key", 12),
    ("answer at download", 12),
)
PROVISION_COL, ANSWER_COL, KEY_COL, TOKEN_COL = 1, 6, 8, 9
ANSWER_LETTER = "F"

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DCE3EC")
ANSWER_FILL = PatternFill("solid", fgColor="FFF7D6")
LOCKED_FILL = PatternFill("solid", fgColor="EEEEEE")
WRAP = Alignment(wrap_text=True, vertical="top")
TOP = Alignment(vertical="top")


class OfflineImportError(ValueError):
    """The file cannot be imported; `messages` lists every problem found, each one actionable."""

    def __init__(self, messages):
        self.messages = list(messages)
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
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    if len(text) > MAX_CELL:
        marker = truncation_marker(len(text))
        text = text[: MAX_CELL - len(marker)] + marker
    return text


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
        return value
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


def _text(cell, value, *, alignment=TOP):
    """Write text that stays text: a leading '=' must never become a formula."""
    if value is None:
        return cell
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    cell.data_type = "s"
    cell.alignment = alignment
    return cell


def _guidance(provision, question, lang: str, long_text: bool) -> str:
    parts = []
    if question.name == "compliance":
        parts.append(f"What the provision asks: {provision.summary.get(lang)}")
    if question.relevant_source:
        parts.append(f"Only if: {question.relevant_source}.")
    if question.hint:
        parts.append(question.hint.get(lang))
    if question.is_multiple:
        labels = "; ".join(f"{c.label.get(lang)} ({c.name})" for c in question.choices.choices)
        parts.append(f"One or more, separated by ';' (labels or codes): {labels}.")
    elif question.choices is not None:
        parts.append("Choose from the list.")
    else:
        parts.append(f"Text, up to {MAX_TEXT:,} characters.")
    if question.required:
        parts.append("Required before submission.")
    if long_text:
        parts.append(
            f"This answer is longer than an Excel cell ({MAX_CELL:,} characters): it is shown "
            "shortened and locked. Edit it on the web."
        )
    return "\n".join(parts)


def _lists_sheet(wb, instruments, lang: str) -> dict[str, str]:
    """A hidden sheet with the labels of every single-choice list; returns list name -> range."""
    ws = wb.create_sheet(LISTS_SHEET)
    ranges: dict[str, str] = {}
    column = 0
    for inst in instruments:
        for provision in inst.provisions:
            for question in provision.questions:
                choices = question.choices
                if choices is None or question.is_multiple or choices.name in ranges:
                    continue
                column += 1
                letter = ws.cell(1, column).column_letter
                _text(ws.cell(1, column), choices.name)
                for row, choice in enumerate(choices.choices, 2):
                    _text(ws.cell(row, column), choice.label.get(lang))
                ranges[choices.name] = (
                    f"{LISTS_SHEET}!${letter}$2:${letter}${len(choices.choices) + 1}"
                )
    ws.sheet_state = "hidden"
    ws.protection.sheet = True
    return ranges


def _instrument_sheet(wb, inst, stored, ranges, lang: str) -> None:
    ws = wb.create_sheet(inst.code)
    for i, (name, width) in enumerate(COLUMNS, 1):
        cell = _text(ws.cell(1, i), name)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        ws.column_dimensions[cell.column_letter].width = width
    for letter in ("H", "I"):
        ws.column_dimensions[letter].hidden = True
    ws.freeze_panes = "A2"
    validations: dict[str, DataValidation] = {}
    row = 1
    for provision in inst.provisions:
        answers = stored.get(provision.id, {})
        for index, question in enumerate(provision.questions):
            row += 1
            answer = answers.get(question.name)
            value = answer.value if answer else None
            shown = display_value(question, value, lang)
            long_text = isinstance(shown, str) and bool(TRUNCATED.search(shown))
            first = _text(ws.cell(row, 1), provision.id)
            if index == 0:
                first.font = HEADER_FONT
            _text(ws.cell(row, 2), provision.reference)
            _text(ws.cell(row, 3), provision.title, alignment=WRAP)
            _text(ws.cell(row, 4), provision.obligation)
            _text(ws.cell(row, 5), question.label.get(lang), alignment=WRAP)
            cell = ws.cell(row, ANSWER_COL)
            _text(cell, shown, alignment=WRAP)
            cell.number_format = "@"  # what the user types stays text: '=1+1', '0012'
            if long_text:
                cell.fill = LOCKED_FILL
            else:
                cell.fill = ANSWER_FILL
                cell.protection = Protection(locked=False)
                if question.choices is not None and not question.is_multiple:
                    name = question.choices.name
                    if name not in validations:
                        validations[name] = DataValidation(
                            type="list",
                            formula1=ranges[name],
                            allow_blank=True,
                            showErrorMessage=True,
                            errorTitle="Not an answer in the list",
                            error="Choose an answer from the list, or leave the cell empty.",
                        )
                        ws.add_data_validation(validations[name])
                    validations[name].add(cell.coordinate)
            _text(ws.cell(row, 7), _guidance(provision, question, lang, long_text), alignment=WRAP)
            _text(ws.cell(row, KEY_COL), question.name)
            _text(ws.cell(row, TOKEN_COL), value_digest(value))
    ws.auto_filter.ref = f"A1:G{row}"
    protection = ws.protection
    protection.sheet = True
    # Locked cells stay read-only; resizing rows and columns and filtering remain allowed.
    protection.formatColumns = False
    protection.formatRows = False
    protection.autoFilter = False


def _instructions(ws, state: dict, round_: dict, response, instruments, lang: str) -> None:
    ws.title = INSTRUCTIONS_SHEET
    ws.column_dimensions["A"].width = 120
    status = response["status"] if response else "not started"
    codes = ", ".join(inst.code for inst in instruments)
    lines = [
        f"Offline questionnaire: {state_name(state, lang)} ({state['iso3']}), {round_['title']}",
        f"Downloaded {now()} (UTC). Status of your response at download: {status}.",
        "",
        f"One sheet per instrument your State answers: {codes}. Each row is one question of a "
        "provision. Type or choose your answer in the yellow Answer column (F); every other "
        "column is locked.",
        "Questions with one answer: choose from the drop-down list (the codes shown in the "
        "Guidance column are accepted too).",
        "Questions with several answers (challenges, forms of technical assistance): type the "
        "labels or the codes, separated by ';', e.g. 'Legal advice; capacity_building'.",
        f"Text answers: up to {MAX_TEXT:,} characters. An answer already longer than an Excel "
        f"cell ({MAX_CELL:,} characters) is shown shortened and locked; edit it on the web.",
        "Emptying a filled-in answer deletes that answer when the file is uploaded. Rows you "
        "leave as they were change nothing.",
        "The Guidance column says when a question applies "
        "('Only if: compliance in [partly, not_yet, not_yet_considered]'). Answers to questions "
        "that do not apply are kept but not used.",
        "",
        "Upload the file from your questionnaire page ('Upload a filled Excel file') or send it to "
        "the secretariat. The whole file is checked first: every problem is listed with its sheet "
        "and cell (e.g. UNCAC!F14) and nothing is saved until the file has no problem. Then only "
        "the answers you changed are saved, with the same history as answers typed on the web.",
        "If someone changed an answer on the web after you downloaded this file and you changed "
        "it here too, the upload lists it rather than overwriting it silently.",
        "",
        "Do not rename the sheets or insert, delete or move rows: hidden columns H and I identify "
        "each question. The sheets are protected without a password (Review > Unprotect Sheet) "
        "only so that answers go in the right cells.",
        f"This file is for {state_name(state, lang)} and round {round_['id']} only; it cannot be "
        "uploaded for another State or round.",
    ]
    for row, line in enumerate(lines, 1):
        cell = _text(ws.cell(row, 1), line or None, alignment=WRAP)
        if row == 1:
            cell.font = Font(bold=True, size=14)
    ws.protection.sheet = True


def _marker(wb, model, round_id: str, iso3: str, lang: str) -> None:
    ws = wb.create_sheet(MARKER_SHEET)
    rows = [
        ("format", FORMAT),
        ("round", round_id),
        ("state", iso3),
        ("questionnaire", model.id),
        ("version", model.version),
        ("language", lang),
        ("exported_at", now()),
    ]
    for row, (key, value) in enumerate(rows, 1):
        _text(ws.cell(row, 1), key)
        _text(ws.cell(row, 2), value)
    ws.sheet_state = "veryHidden"
    ws.protection.sheet = True


def export_offline(db, model, round_id: str, iso3: str, out, *, lang: str = "en") -> int:
    """Write the State's offline questionnaire to `out` (path or binary file); return the question rows.

    Raises ExportError for an unknown round or State.
    """
    round_ = get_round(db, round_id)
    if round_ is None:
        raise ExportError(f"no round '{round_id}'; see `survey rounds list`")
    iso3 = (iso3 or "").upper()
    states = list(db.query("SELECT * FROM states WHERE iso3 = ?", [iso3]))
    if not states:
        raise ExportError(f"'{iso3}' is not the ISO3 code of a UN Member State")
    codes = state_instruments(db, round_id, iso3)
    instruments = [inst for inst in model.instruments if inst.code in codes]
    response = find_response(db, round_id, iso3)
    stored = load_answers(db, response["id"]) if response else {}
    wb = Workbook()
    _instructions(wb.active, states[0], round_, response, instruments, lang)
    ranges = _lists_sheet(wb, instruments, lang)
    for inst in instruments:
        _instrument_sheet(wb, inst, stored, ranges, lang)
    wb.move_sheet(LISTS_SHEET, offset=len(instruments))
    _marker(wb, model, round_id, iso3, lang)
    wb.active = 0
    wb.save(out)
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
            raise OfflineImportError([f"The file cannot be read: {exc.strerror or exc}."]) from None
    else:
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise OfflineImportError(
            [
                f"The file is larger than the {_megabytes(max_bytes)} limit. An offline questionnaire "
                "is much smaller: upload the .xlsx file downloaded from the survey, without added "
                "pictures or sheets."
            ]
        )
    if not data:
        raise OfflineImportError(["The file is empty."])
    return data


def _scan_xml(stream, name: str) -> str | None:
    """A problem if an XML part declares a DOCTYPE or ENTITY (entity expansion, external entities)."""
    tail = b""
    first = True
    while chunk := stream.read(64 * 1024):
        if first and (chunk.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in chunk[:512]):
            return f"The part {name} is not UTF-8 XML; the file was not saved by Excel or LibreOffice as .xlsx."
        first = False
        window = (tail + chunk).lower()
        if b"<!doctype" in window or b"<!entity" in window:
            return (
                f"The part {name} contains a DOCTYPE or ENTITY declaration, which Excel never "
                "writes; the file is refused for safety. Save it again as .xlsx from Excel or "
                "LibreOffice."
            )
        tail = window[-16:]
    return None


def check_xlsx(data: bytes) -> None:
    """Refuse anything that is not a plain .xlsx: other formats, zip bombs, XML entity tricks."""
    not_xlsx = "Save it as an Excel Workbook (.xlsx) and upload again."
    if data.startswith(OLE_MAGIC):
        raise OfflineImportError(
            [f"This is an old-format .xls file or a password-protected workbook. {not_xlsx}"]
        )
    if not data.startswith(b"PK"):
        raise OfflineImportError([f"This file is not an Excel workbook (.xlsx). {not_xlsx}"])
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise OfflineImportError(
            [f"This file is damaged or not an Excel workbook ({exc}). {not_xlsx}"]
        ) from None
    names = {info.filename for info in infos}
    if "xl/workbook.xml" not in names:
        kind = (
            "an OpenDocument spreadsheet (.ods)"
            if "content.xml" in names
            else "a zip archive, not an Excel workbook"
        )
        raise OfflineImportError([f"This file is {kind}. {not_xlsx}"])
    if len(infos) > MAX_ZIP_ENTRIES:
        raise OfflineImportError(
            [f"The file holds {len(infos):,} parts, far more than an offline questionnaire."]
        )
    total = sum(info.file_size for info in infos)
    if total > MAX_UNCOMPRESSED_BYTES:
        raise OfflineImportError(
            [
                f"The file would expand to {_megabytes(total)} (limit {_megabytes(MAX_UNCOMPRESSED_BYTES)}); "
                "it is refused as a possible zip bomb."
            ]
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise OfflineImportError([f"The part {info.filename} is encrypted. {not_xlsx}"])
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > MAX_COMPRESSION_RATIO:
            raise OfflineImportError(
                [
                    f"The part {info.filename} is compressed {ratio:,.0f} to 1; it is refused as a "
                    "possible zip bomb."
                ]
            )
    try:
        for info in infos:
            if info.filename.lower().endswith((".xml", ".rels", ".vml")):
                with archive.open(info) as stream:
                    problem = _scan_xml(stream, info.filename)
                if problem:
                    raise OfflineImportError([problem])
    except OfflineImportError:
        raise
    except Exception as exc:  # zipfile raises several types for damaged archives
        raise OfflineImportError(
            [f"This file is damaged ({type(exc).__name__}: {exc}). {not_xlsx}"]
        ) from None


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
                "This is not an offline questionnaire downloaded from the survey (its hidden "
                "marker is missing). Download the offline file from your questionnaire page, fill "
                "that file and upload it."
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
            f"This file was downloaded for {names.get(other, other)} ({other}); it cannot be "
            f"imported for {names.get(iso3, iso3)} ({iso3}). Download the offline file for "
            f"{iso3} and enter the answers there."
        )
    if marker.get("round") != round_id:
        problems.append(
            f"This file is for round {marker.get('round') or '?'}, not round {round_id}. "
            f"Download the offline file of round {round_id}."
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
                    f"{name}: your State does not answer {name} in round {round_id}; delete this sheet.",
                )
            )
    if not any(name in instruments for name in sheets):
        problems.append(
            (0, 0, "A", f"The file has no questionnaire sheet ({', '.join(instruments)}).")
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
                            f"{name}!{ANSWER_LETTER}{number}: this answer is on a row without a question; rows must not be inserted or moved.",
                        )
                    )
                continue
            pid, key = cell_text(pid), cell_text(key)
            provision = model.provisions.get(pid or "")
            if provision is None or provision.instrument != name:
                where = "" if provision is None else f" (it belongs to {provision.instrument})"
                problems.append(
                    (
                        order,
                        number,
                        "A",
                        f"{name}!A{number}: '{pid}' is not a provision of {name}{where}; rows must not be edited, inserted or moved.",
                    )
                )
                continue
            question = provision.question(key or "")
            if question is None:
                problems.append(
                    (
                        order,
                        number,
                        "H",
                        f"{name}!H{number}: the hidden question key '{key}' is not a question of {pid}; download a new file.",
                    )
                )
                continue
            if (pid, key) in seen:
                problems.append(
                    (
                        order,
                        number,
                        "A",
                        f"{name}!A{number}: {pid} '{key}' appears twice (also row {seen[(pid, key)]}); keep one row per question.",
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
                        f"{row.cell}: this answer is longer than an Excel cell and cannot be changed in the file; edit it on the web, or replace the whole cell (without the '… [truncated' note) with the new answer.",
                    )
                )
            continue
        edits.append(Edit(row.provision.id, row.question.name, row.value, row.token))
        cells[(row.provision.id, row.question.name)] = row
    return edits, cells, problems


def _conflict_problem(row: _Row, conflict, order: dict[str, int]):
    who = f" by {conflict.theirs_by}" if conflict.theirs_by else ""
    when = f" on {conflict.theirs_at}" if conflict.theirs_at else ""
    return (
        order[row.sheet],
        row.row,
        ANSWER_LETTER,
        f"{row.cell}: this answer was changed on the web{who}{when} after the file was downloaded (it is now {_describe(conflict.theirs)}; the file says {_describe(row.value)}). Keep the newer answer by restoring the cell, or upload again choosing to replace newer answers.",
    )


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
                f"The file could not be read as an Excel workbook ({type(exc).__name__}: {exc}). "
                "Save it again as .xlsx from Excel or LibreOffice."
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
        raise OfflineImportError([f"There is no round '{round_id}'."])
    iso3 = (iso3 or "").upper()
    if not db.execute("SELECT 1 FROM states WHERE iso3 = ?", [iso3]).fetchone():
        raise OfflineImportError([f"'{iso3}' is not the ISO3 code of a UN Member State."])
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
            [f"The file could not be read ({type(exc).__name__}: {exc}). Save it again as .xlsx."]
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
