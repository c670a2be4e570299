"""Excel's limits, one rule for every workbook the project writes (analyst workbook, offline file).

- A cell holds at most 32,767 characters as Excel counts them: UTF-16 code units, so a character
  outside the Basic Multilingual Plane (an emoji, a rare CJK ideograph) counts twice. A longer text
  is cut at a character boundary and ends with a visible marker saying how long it was.
- XML 1.0 cannot hold most C0 control characters, lone surrogates or U+FFFE/U+FFFF: they are
  removed (answers are cleaned the same way when saved, survey.answers.clean_text).
- A sheet holds 1,048,576 rows (one of them the header here); a sheet title is 1-31 characters
  without : \\ / ? * [ ], does not start or end with an apostrophe, is unique in the workbook
  ignoring case, and is not "History" (reserved by Excel).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

MAX_CELL_UNITS = 32_767  # UTF-16 code units in one cell (Excel specifications and limits)
MAX_ROWS = 1_048_576  # rows in one worksheet, header included
MAX_SHEET_TITLE = 31
# Characters XML 1.0 cannot hold (a spreadsheet would refuse the file).
ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TITLE_FORBIDDEN = re.compile(r"[:\\/?*\[\]]")


class ExcelLimitError(ValueError):
    """Data that no Excel worksheet can hold; the message says what and what to do instead."""


def utf16_units(text: str) -> int:
    """Length of `text` as Excel counts it (UTF-16 code units)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _cut(text: str, units: int) -> str:
    """The longest prefix of `text` of at most `units` UTF-16 units (never half a character)."""
    if len(text) <= units // 2 or utf16_units(text) <= units:
        return text
    used = 0
    for i, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > units:
            return text[:i]
    return text


def fit_cell(text: str, marker) -> str:
    """Text that one cell holds: characters XML cannot hold removed; if still longer than
    32,767 UTF-16 units, cut so that `marker(total characters)` fits after it."""
    if ILLEGAL_XML.search(text):
        text = ILLEGAL_XML.sub("", text)
    # A text of at most half the limit fits whatever its characters (2 units at most each).
    if len(text) <= MAX_CELL_UNITS // 2 or utf16_units(text) <= MAX_CELL_UNITS:
        return text
    end = marker(len(text))
    return _cut(text, MAX_CELL_UNITS - utf16_units(end)) + end


def was_cut(text: str) -> bool:
    """Whether `fit_cell` would shorten `text` (not counting removed control characters)."""
    return utf16_units(ILLEGAL_XML.sub("", text)) > MAX_CELL_UNITS


def finite_number(value) -> int | float | None:
    """A number Excel can store (bool as 0/1), or None for NaN, infinities and non-numbers."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if abs(value) < 1e15 else None  # beyond Excel's 15 significant digits
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return None


def naive_utc(moment: datetime) -> datetime:
    """A datetime Excel can store: aware times converted to UTC, then the zone dropped."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def sheet_title(wanted: str, taken: set[str]) -> str:
    """A valid worksheet title close to `wanted`, unique against `taken` (casefolded titles,
    updated in place): forbidden characters become '-', the text is cut to 31 characters, and
    a repeated title gets ' (2)', ' (3)'... within the limit."""
    title = _TITLE_FORBIDDEN.sub("-", ILLEGAL_XML.sub("", wanted)).strip().strip("'").strip()
    if not title or title.casefold() == "history":
        title = f"{title or 'Sheet'} sheet".strip()
    title = title[:MAX_SHEET_TITLE].rstrip("'")
    candidate, n = title, 1
    while candidate.casefold() in taken:
        n += 1
        suffix = f" ({n})"
        candidate = title[: MAX_SHEET_TITLE - len(suffix)].rstrip("'") + suffix
    taken.add(candidate.casefold())
    return candidate


def rows_per_sheet(header_rows: int = 1) -> int:
    """How many data rows fit in one worksheet below `header_rows` header rows."""
    return MAX_ROWS - header_rows
