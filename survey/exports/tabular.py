"""The Answers data of a round for scripts: long-format CSV and JSON, streamed row by row.

Both hold the same rows as the workbook's Answers sheet (one per answer, one per selected code of
a multiple choice), with every text in full. The CSV follows survey.exports.safe (UTF-8 with a
BOM, CRLF, and the leading-apostrophe rule for text a spreadsheet would run as a formula); JSON
values are exactly as stored.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from .rows import ANSWER_COLUMNS, answer_rows, make_filters, round_or_error
from .safe import csv_cell


@contextlib.contextmanager
def _text_out(out):
    """A UTF-8 text stream over a path or a binary file (left open for the caller)."""
    if isinstance(out, str | Path):
        with open(out, "w", encoding="utf-8", newline="") as stream:
            yield stream
        return
    stream = io.TextIOWrapper(out, encoding="utf-8", newline="")
    try:
        yield stream
    finally:
        stream.flush()
        stream.detach()


def write_csv(
    db,
    model,
    round_id: str,
    out,
    *,
    grouping=None,
    region=None,
    instrument=None,
    status=None,
    lang: str = "en",
) -> int:
    """Long-format CSV of the answers (same rows as the Answers sheet); return the row count."""
    round_or_error(db, round_id)
    filters = make_filters(
        db, model, grouping=grouping, region=region, instrument=instrument, status=status
    )
    count = 0
    with _text_out(out) as stream:
        # The same format as safe.csv_text, written as it goes instead of built in memory.
        stream.write("\ufeff")
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(ANSWER_COLUMNS)
        for row in answer_rows(db, model, round_id, filters, lang=lang):
            writer.writerow([csv_cell(v) for v in row])
            count += 1
    return count


def write_json(
    db,
    model,
    round_id: str,
    out,
    *,
    grouping=None,
    region=None,
    instrument=None,
    status=None,
    lang: str = "en",
) -> int:
    """{"round", "questionnaire", "filters", "generated_at", "columns", "answers": [{...}]}; return the answer count."""
    round_ = round_or_error(db, round_id)
    filters = make_filters(
        db, model, grouping=grouping, region=region, instrument=instrument, status=status
    )
    head = {
        "round": round_["id"],
        "questionnaire": {
            "id": round_["questionnaire_id"],
            "version": round_["questionnaire_version"],
        },
        "filters": {
            "grouping": filters.grouping,
            "region": filters.region,
            "instrument": filters.instrument,
            "status": list(filters.statuses) if filters.statuses else None,
        },
        "language": lang,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "columns": list(ANSWER_COLUMNS),
    }
    count = 0
    with _text_out(out) as stream:
        stream.write(json.dumps(head, ensure_ascii=False, indent=1)[:-2])
        stream.write(',\n "answers": [')
        for row in answer_rows(db, model, round_id, filters, lang=lang):
            stream.write("\n  " if count == 0 else ",\n  ")
            stream.write(
                json.dumps(dict(zip(ANSWER_COLUMNS, row, strict=True)), ensure_ascii=False)
            )
            count += 1
        stream.write("\n ]\n}\n")
    return count
