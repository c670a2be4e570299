"""The analyst workbook against its floor: XlsxWriter (constant_memory) writing the same cells.

    python benchmarks/workbook.py [--runs 3] [--db PATH] [--round 2026]

Three series, each run in a fresh, isolated process (so peak memory is the process's own), in
rotating order round after round:

- product: `survey.exports.excel.write_workbook` (XlsxWriter constant_memory with the
  project's cell rules: fitted text, escaping, number/date checks, continuation sheets);
- floor: XlsxWriter with `constant_memory`, fed by the product's own row generators, so the
  database reads, scoring and labels are the same work and the same cells (sheets, rows, values,
  header, widths, frozen pane, autofilter, date and percent formats) are written;
- rows only: the same generators consumed without writing anything, to show how much of either
  figure is the data rather than the writer.

The time is measured inside the child around the work (imports excluded); memory is the child's
peak resident set size (VmHWM). Timings are information, never a test.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from common import demo_database, quiesce, run_measured, stats  # noqa: E402


def analyst_sheets(db, model, round_id: str, lang: str = "en"):
    """(title, columns, rows, freeze column) of the analyst workbook without filters, built from
    the same generators `write_workbook` uses (kept in step with survey/exports/excel.py)."""
    from datetime import UTC, datetime

    from survey.exports import excel
    from survey.exports.rows import (
        answer_rows,
        export_provisions,
        make_filters,
        round_or_error,
        wide_columns,
        wide_rows,
    )

    round_ = round_or_error(db, round_id)
    filters = make_filters(db, model)
    provisions = export_provisions(db, model, round_, filters)
    generated = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    wide = [
        excel.Column(name, 24 if i == 2 else 14 if i >= 6 else 11)
        for i, name in enumerate(wide_columns(provisions))
    ]
    about = [excel.Column("item", 44), excel.Column("value", 110, "auto")]
    return [
        ("About", about, excel._about_rows(db, model, round_, filters, lang, generated), 0),
        ("Codebook", excel.CODEBOOK, excel._codebook_rows(model, provisions, lang), 0),
        ("Answers", excel.ANSWERS, answer_rows(db, model, round_id, filters, lang=lang), 0),
        ("Wide", wide, wide_rows(db, model, round_id, filters, provisions, lang=lang), 3),
        ("Scores", excel.SCORES, excel._scores_rows(db, model, round_id, filters, lang), 0),
        ("Priorities", excel.PRIORITIES, excel._priority_rows(db, model, round_id, filters), 0),
        (
            "TA demand",
            excel.TA_DEMAND,
            excel._ta_demand_rows(db, model, round_id, filters, lang),
            0,
        ),
        (
            "TA needs by article",
            excel._needs_columns(model),
            excel._needs_rows(db, model, round_id, filters, lang),
            0,
        ),
        (
            "Uncovered TA needs",
            excel._uncovered_columns(model),
            excel._uncovered_rows(db, model, round_id, filters, lang),
            0,
        ),
    ]


def write_xlsxwriter(db, model, round_id: str, path: str, lang: str = "en") -> dict[str, int]:
    """The floor: the analyst workbook's cells written the plain XlsxWriter way."""
    import xlsxwriter

    from survey.storage.db import bounded_memory

    book = xlsxwriter.Workbook(
        path,
        {
            "constant_memory": True,
            # Text stays text, as in the product: no formulas, numbers or links guessed from it.
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    counts = {}
    # The product's rows under the product's SQLite memory bound: only the writer differs.
    with bounded_memory(db):
        _write_floor_sheets(book, db, model, round_id, lang, counts)
    book.close()
    return counts


def _write_floor_sheets(book, db, model, round_id, lang, counts):
    from datetime import datetime

    from survey.exports.excel import fit_text, parse_timestamp

    header = book.add_format({"bold": True, "bg_color": "#DCE3EC", "valign": "top"})
    date = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    share = book.add_format({"num_format": "0.0%"})
    for title, columns, rows, freeze in analyst_sheets(db, model, round_id, lang):
        ws = book.add_worksheet(title)
        for i, column in enumerate(columns):
            ws.set_column(i, i, column.width)
        ws.freeze_panes(1, freeze)
        ws.write_row(0, 0, [c.name for c in columns], header)
        kinds = [c.kind for c in columns]
        r = 0
        for r, row in enumerate(rows, 1):
            for c, (value, kind) in enumerate(zip(row, kinds, strict=True)):
                if value is None:
                    continue
                if kind == "auto":
                    kind = (
                        "date"
                        if isinstance(value, datetime)
                        else "number"
                        if isinstance(value, int | float)
                        else "text"
                    )
                if kind == "text":
                    ws.write_string(r, c, fit_text(value if isinstance(value, str) else str(value)))
                elif kind == "number":
                    ws.write_number(r, c, int(value) if isinstance(value, bool) else value)
                elif kind == "share":
                    ws.write_number(r, c, float(value), share)
                else:  # date
                    moment = value if isinstance(value, datetime) else parse_timestamp(value)
                    if moment is None:
                        ws.write_string(r, c, fit_text(str(value)))
                    else:
                        ws.write_datetime(r, c, moment, date)
        ws.autofilter(0, 0, r, len(columns) - 1)
        counts[title] = r


def rows_only(db, model, round_id: str, lang: str = "en") -> dict[str, int]:
    """The same rows generated and dropped: the data share of both writers' time."""
    from survey.storage.db import bounded_memory

    counts = {}
    with bounded_memory(db):
        for title, _columns, rows, _freeze in analyst_sheets(db, model, round_id, lang):
            counts[title] = sum(1 for _ in rows)
    return counts


CHILD = """
import sys, time
sys.path.insert(0, {here!r})
from survey.questionnaire import get_questionnaire
from survey.storage import connect
import workbook
series, db_path, round_id, out = sys.argv[1:5]
model = get_questionnaire()
start = time.perf_counter()
db = connect(db_path, migrate=False)
if series == "product":
    from survey.exports.excel import write_workbook
    with open(out, "wb") as f:
        write_workbook(db, model, round_id, f)
elif series == "floor":
    workbook.write_xlsxwriter(db, model, round_id, out)
else:
    workbook.rows_only(db, model, round_id)
db.conn.close()
WORK_SECONDS = time.perf_counter() - start
"""

SERIES = ("product", "floor", "rows")


def run_one(series: str, db_path: Path, round_id: str, out: Path, block=()) -> dict:
    return run_measured(
        CHILD.format(here=str(HERE)), series, str(db_path), round_id, str(out), block=block
    )


def measure(db_path: Path, round_id: str, runs: int, *, series=SERIES, once=("rows",)) -> dict:
    """Interleaved runs of the series; returns per series time stats, peak memory and the files.
    The series in `once` (informational) run in the first round only, to keep the run short."""
    workdir = Path(tempfile.mkdtemp(prefix="survey-workbook-"))
    outputs = {name: workdir / f"{name}.xlsx" for name in series}
    times: dict[str, list[float]] = {name: [] for name in series}
    peaks: dict[str, list[float]] = {name: [] for name in series}
    loaded: dict[str, dict] = {}
    quiesce(db_path)
    try:
        _rounds(db_path, round_id, runs, series, once, outputs, times, peaks, loaded)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return {
        "workdir": workdir,
        "files": outputs,
        **{
            name: {
                **stats(times[name]),
                "times": times[name],
                "peak_mb": max(peaks[name]),
                "peaks": peaks[name],
                "loaded": loaded[name],
            }
            for name in series
        },
    }


def _rounds(db_path, round_id, runs, series, once, outputs, times, peaks, loaded):
    for number in range(runs):
        shift = number % len(series)
        for name in series[shift:] + series[:shift]:
            if number and name in once:
                continue
            done = run_one(name, db_path, round_id, outputs[name])
            times[name].append(done["work_seconds"])
            peaks[name].append(done["peak_mb"])
            loaded[name] = {"pandas": done["pandas_loaded"], "numpy": done["numpy_loaded"]}


def _same_row(a, b) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-15, abs_tol=1e-300):
                return False
        elif x != y:
            return False
    return True


def same_cells(product: Path, floor: Path) -> tuple[bool, int, str]:
    """Read both files back (python-calamine) and compare every sheet's values; the Generated-at
    time of About may differ by the seconds between the runs and is left out. Numbers are equal
    within 1e-15 relative: XlsxWriter writes 16 significant digits (%.16G), the product repr()."""
    from python_calamine import CalamineWorkbook

    a, b = CalamineWorkbook.from_path(str(product)), CalamineWorkbook.from_path(str(floor))
    if a.sheet_names != b.sheet_names:
        return False, 0, f"sheets differ: {a.sheet_names} vs {b.sheet_names}"
    cells = 0
    for name in a.sheet_names:
        rows_a = a.get_sheet_by_name(name).to_python()
        rows_b = b.get_sheet_by_name(name).to_python()
        if len(rows_a) != len(rows_b):
            return False, cells, f"{name}: {len(rows_a)} rows vs {len(rows_b)}"
        for number, (ra, rb) in enumerate(zip(rows_a, rows_b, strict=True), 1):
            if name == "About" and ra and ra[0] == "Generated at (UTC)":
                continue
            if not _same_row(ra, rb):
                return False, cells, f"{name} row {number}: {ra[:4]}... vs {rb[:4]}..."
            cells += sum(1 for v in ra if v not in (None, ""))
    return True, cells, "same sheets, rows and values"


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", type=Path, help="an existing demo database (copied, not changed)")
    parser.add_argument("--round", default="2026")
    parser.add_argument("--check", action="store_true", help="compare the two files cell by cell")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="survey-workbook-db-"))
    try:
        if args.db:
            db_path = workdir / "survey.db"
            shutil.copy(args.db, db_path)
        else:
            db_path = demo_database(workdir)
        figures = measure(db_path, args.round, args.runs)
        for name in SERIES:
            s = figures[name]
            print(
                f"{name}: median {s['median']:.2f} s (min {s['min']:.2f}, max {s['max']:.2f},"
                f" n={s['runs']}); peak {s['peak_mb']:.0f} MB; imported {s['loaded']}"
            )
        print(
            f"ratio product / floor: {figures['product']['median'] / figures['floor']['median']:.2f}"
        )
        if args.check:
            print(same_cells(figures["files"]["product"], figures["files"]["floor"]))
        shutil.rmtree(figures["workdir"], ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
