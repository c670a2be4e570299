"""The analyst workbook of a round: About, Codebook, Answers, Wide, Scores, Priorities, TA demand,
TA needs by article, Uncovered TA needs.

Written with XlsxWriter in `constant_memory` mode: rows stream from the database into the file one
at a time, so memory does not grow with the number of States. Numbers and dates are real Excel
values; ids, codes and answers are text cells that Excel never evaluates, whatever they start
with (= + - @, a URL, a number-like text). Excel's limits are one rule for every workbook
(survey.exports.cells): a text longer than a cell ends with a visible marker, a sheet longer than
Excel allows continues on a second sheet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from ..reports.coverage import ta_coverage_needs, uncovered_rows
from ..reports.needs import csv_rows as needs_csv_rows
from ..reports.needs import needs_by_article
from ..scoring import all_priorities, regional_priorities, scores_rows, ta_demand
from ..storage.db import bounded_memory
from ..storage.responses import STATUSES
from ..storage.states import GROUPINGS, region_expression, region_label, state_name
from .cells import MAX_CELL_UNITS, finite_number, fit_cell, naive_utc, rows_per_sheet
from .rows import (
    ANSWER_COLUMNS,
    Filters,
    answer_rows,
    choice_label,
    export_provisions,
    make_filters,
    responses_in_scope,
    round_or_error,
    wide_columns,
    wide_rows,
)
from .xlsx import Book, write_text

SHEETS = (
    "About",
    "Codebook",
    "Answers",
    "Wide",
    "Scores",
    "Priorities",
    "TA demand",
    "TA needs by article",
    "Uncovered TA needs",
)
HEADER_FORMAT = {"bold": True, "bg_color": "#DCE3EC", "valign": "top"}
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
SHARE_FORMAT = "0.0%"


def truncation_marker(total: int) -> str:
    return f"… [truncated: {total:,} characters in total; full text in the CSV/JSON export]"


def fit_text(text: str) -> str:
    """Text that fits one cell of the analyst workbook (survey.exports.cells.fit_cell)."""
    return fit_cell(text, truncation_marker)


def parse_timestamp(text: str | None) -> datetime | None:
    """The database's ISO 8601 UTC text as a naive UTC datetime (Excel has no time zones)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return naive_utc(moment)


class SheetWriter:
    """Cell writers for one workbook: each takes (worksheet, row, column, value)."""

    def __init__(self, book):
        self.book = book
        self.date = book.add_format({"num_format": DATE_FORMAT})
        self.share_format = book.add_format({"num_format": SHARE_FORMAT})
        self.header = book.add_format(HEADER_FORMAT)

    def text(self, ws, r, c, value, fmt=None):
        """Always a string cell, cut to fit with the marker (xlsx.write_text)."""
        write_text(ws, r, c, fit_text(value if isinstance(value, str) else str(value)), fmt)

    def number(self, ws, r, c, value, fmt=None):
        number = finite_number(value)
        if number is not None:
            ws.write_number(r, c, number, fmt)
        elif isinstance(value, str):
            self.text(ws, r, c, value)
        # NaN and infinities have no Excel value: the cell stays empty

    def share(self, ws, r, c, value):
        self.number(ws, r, c, value, self.share_format)

    def datetime(self, ws, r, c, value):
        moment = value if isinstance(value, datetime) else parse_timestamp(value)
        if moment is None:
            self.text(ws, r, c, value)
        else:
            ws.write_datetime(r, c, naive_utc(moment), self.date)

    def auto(self, ws, r, c, value):
        if isinstance(value, datetime):
            self.datetime(ws, r, c, value)
        elif finite_number(value) is not None:
            self.number(ws, r, c, value)
        else:
            self.text(ws, r, c, value)


@dataclass(frozen=True)
class Column:
    name: str
    width: float = 14
    kind: str = "text"  # text, number, share, date (a datetime) or auto


PROGRESS_STEP = 2000  # rows between two progress reports


class Workbook:
    """An XlsxWriter workbook written sheet after sheet; `close()` finishes the file."""

    def __init__(self, out, *, right_to_left: bool = False, progress=None):
        self.book = Book(out)
        self.cells = SheetWriter(self.book)
        self.right_to_left = right_to_left
        self.progress = progress  # called with the rows written so far, every PROGRESS_STEP
        self.rows_written = 0

    def _new_sheet(self, title: str, columns, freeze_column: int):
        ws = self.book.add_sheet(title, right_to_left=self.right_to_left)
        for i, column in enumerate(columns):
            ws.set_column(i, i, column.width)
            self.cells.text(ws, 0, i, column.name, self.cells.header)
        ws.freeze_panes(1, freeze_column)
        return ws

    def write_sheet(self, title: str, columns, rows, *, freeze_column: int = 0) -> int:
        """Stream rows into a sheet with a bold frozen header, widths and an autofilter; a sheet
        that reaches Excel's row limit continues on '<title> (2)', and so on. Returns the number
        of data rows written."""
        kinds = {
            "text": self.cells.text,
            "number": self.cells.number,
            "share": self.cells.share,
            "date": self.cells.datetime,
            "auto": self.cells.auto,
        }
        writers = [kinds[c.kind] for c in columns]
        per_sheet = rows_per_sheet()
        ws = self._new_sheet(title, columns, freeze_column)
        count = r = 0
        for row in rows:
            if r == per_sheet:
                ws.autofilter(0, 0, r, len(columns) - 1)
                ws = self._new_sheet(title, columns, freeze_column)
                r = 0
            r += 1
            count += 1
            for c, (write, value) in enumerate(zip(writers, row, strict=True)):
                if value is not None:
                    write(ws, r, c, value)
            if self.progress is not None and count % PROGRESS_STEP == 0:
                self.progress(self.rows_written + count)
        ws.autofilter(0, 0, r, len(columns) - 1)
        self.rows_written += count
        if self.progress is not None:
            self.progress(self.rows_written)
        return count

    def close(self) -> None:
        self.book.close()


# -- the sheets ----------------------------------------------------------------------------------

_ANSWER_WIDTHS = {"state": 24, "un_regional_group": 22, "provision_id": 16, "value": 40}
_ANSWER_WIDTHS |= {"value_label": 30, "updated_by": 26, "question": 13, "updated_at": 19}
ANSWERS = [
    Column(name, _ANSWER_WIDTHS.get(name, 11), "date" if name == "updated_at" else "text")
    for name in ANSWER_COLUMNS
]

CODEBOOK = [
    Column("provision_id", 16),
    Column("instrument", 10),
    Column("chapter", 20),
    Column("article", 18),
    Column("title", 40),
    Column("obligation", 11),
    Column("weight", 8, "number"),
    Column("question", 13),
    Column("type", 15),
    Column("required", 9),
    Column("relevant", 26),
    Column("label", 50),
    Column("hint", 40),
    Column("choices", 60),
]

SCORES = [
    Column("round", 10),
    Column("state_iso3", 10),
    Column("state", 24),
    Column("un_regional_group", 22),
    Column("m49_region", 12),
    Column("status", 11),
    Column("provision_id", 16),
    Column("instrument", 10),
    Column("chapter", 20),
    Column("obligation", 11),
    Column("score", 8, "number"),
    Column("weight", 8, "number"),
    Column("severity", 9, "number"),
    Column("ta_needed", 10, "number"),
]

PRIORITIES = [
    Column("grouping", 18),
    Column("region", 22),
    Column("region_label", 30),
    Column("rank", 7, "number"),
    Column("provision_id", 16),
    Column("instrument", 10),
    Column("article", 18),
    Column("title", 40),
    Column("obligation", 11),
    Column("n_resp", 8, "number"),
    Column("n_gap", 8, "number"),
    Column("gap_share", 10, "share"),
    Column("ta_share", 10, "share"),
    Column("priority", 9, "number"),
]

TA_DEMAND = [
    Column("grouping", 18),
    Column("region", 22),
    Column("region_label", 30),
    Column("kind", 10),
    Column("code", 22),
    Column("label", 45),
    Column("n_states", 9, "number"),
    Column("n_selections", 12, "number"),
]

SHEET_GUIDE = {
    "About": "This sheet: the round, the filters, the scoring constants and this guide.",
    "Codebook": "One row per question of each provision: article, obligation, weight, question key, type, label and the choices as code = label.",
    "Answers": "Long format, one row per answer (a multiple choice gives one row per selected code): value is the code or the text, value_label its label.",
    "Wide": "One row per State (without a status filter every State in scope, those not started with empty cells): for each provision, <provision_id>.compliance (the code) and <provision_id>.ta_types (selected codes joined with ';').",
    "Scores": "One row per counted State and scored provision: score s, weight w, severity g = w x (1 - s), ta_needed (1 = TA requested for a gap).",
    "Priorities": "One row per grouping, region and provision scored in the region: n_resp, n_gap, gap_share, ta_share, priority and rank (docs/scoring.md).",
    "TA demand": "Per grouping and region, for each TA type and challenge: n_states (States selecting it at least once) and n_selections ((State, provision) selections).",
    "Uncovered TA needs": "Per grouping and region, the provisions on which counted States request TA (ta_needed yes, types selected) and do not yet receive any (ta_received not yes), ranked by the number of such States, then by regional_priority: requested, received, uncovered, uncovered_states, and uncovered_<type> per TA type.",
    "TA needs by article": "Per grouping, region and article: n (counted States that scored a provision of the article), n_ta_need and share_ta_need (those reporting a TA need on it), and per TA type n_<type> and share_<type>.",
}


def _status_summary(responses) -> str:
    counts = {s: 0 for s in STATUSES}
    for r in responses:
        counts[r["status"]] += 1
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return f"{len(responses)} ({', '.join(parts)})" if parts else "0"


def _about_rows(db, model, round_, filters: Filters, lang: str, generated: datetime):
    constants = model.scoring
    described = filters.describe()
    in_scope = responses_in_scope(db, round_["id"], filters)
    counted = responses_in_scope(db, round_["id"], filters, statuses=filters.counted)
    yield ["Round", round_["id"]]
    yield ["Round title", round_["title"]]
    yield ["Round status", round_["status"]]
    yield [
        "Questionnaire",
        f"{round_['questionnaire_id']} version {round_['questionnaire_version']}",
    ]
    if (model.id, model.version) != (round_["questionnaire_id"], round_["questionnaire_version"]):
        yield ["Labels and codebook from", f"{model.id} version {model.version}"]
    yield ["Language of labels", lang]
    yield ["Generated at (UTC)", generated]
    yield ["Filter: grouping", described["grouping"]]
    yield ["Filter: region", described["region"]]
    yield ["Filter: instrument", described["instrument"]]
    yield ["Filter: status", described["status"]]
    yield ["Responses in Answers and Wide", _status_summary(in_scope)]
    yield [
        "Responses counted in Scores, Priorities and TA demand",
        _status_summary(counted)
        + " · only submitted and validated responses count; drafts never do",
    ]
    for code, value in constants.scores:
        yield [f"Score s for '{code}'", value]
    yield ["Score s for 'na' or unanswered", "no score: left out of every denominator"]
    for level, value in constants.weights:
        yield [f"Weight w for '{level}' obligations", value]
    yield ["Priority factor when TA is requested", constants.ta["requested"]]
    yield ["Priority factor when TA is not requested", constants.ta["not_requested"]]
    yield [
        "Method",
        "A gap is a scored provision with s < 1; its severity g = w x (1 - s). For a region and "
        "provision, over the counted States of the region that scored it: gap_share = n_gap / n_resp, "
        "ta_share = share requesting TA, priority = mean of g x the TA factor. Ranked by priority, "
        "then n_gap, then questionnaire order. Full method: docs/scoring.md.",
    ]
    yield ["Dates", "updated_at and the generation time are UTC date-times."]
    yield [
        "Answers shown",
        "As the State sees them: answers hidden by the questionnaire's relevance rules (left over "
        "after the compliance answer changed) are not exported and never counted.",
    ]
    yield [
        "Long texts",
        f"An Excel cell holds at most {MAX_CELL_UNITS:,} characters (UTF-16 units: an emoji counts as two); a longer text ends with "
        "'… [truncated: N characters in total; …]'. The CSV and JSON exports have every text in full.",
    ]
    yield [
        "Text cells",
        "Answers are stored as text cells, never as formulas, even when they start with = + - or @.",
    ]
    if filters.instrument:
        yield [
            "Instrument filter",
            f"Codebook, Answers, Wide, Scores, Priorities and TA demand show {filters.instrument} "
            "only; Priorities keeps the rank among all provisions of the round.",
        ]
    yield [None, None]
    yield ["Sheet", "What it holds"]
    for name in SHEETS:
        yield [name, SHEET_GUIDE[name]]


def _codebook_rows(model, provisions, lang: str):
    weights = model.scoring.weight
    for p in provisions:
        for q in p.questions:
            choices = (
                "; ".join(f"{c.name} = {c.label.get(lang)}" for c in q.choices.choices)
                if q.choices
                else None
            )
            yield [
                p.id,
                p.instrument,
                p.chapter,
                p.reference,
                p.title,
                p.obligation,
                weights[p.obligation],
                q.name,
                q.type,
                "yes" if q.required else "no",
                q.relevant_source,
                q.label.get(lang),
                q.hint.get(lang) if q.hint else None,
                choices,
            ]


def _scores_rows(db, model, round_id: str, filters: Filters, lang: str):
    if not filters.counted:
        return
    states = {
        r["iso3"]: r for r in responses_in_scope(db, round_id, filters, statuses=filters.counted)
    }
    for row in scores_rows(
        db, model, round_id, statuses=filters.counted, grouping=filters.grouping or "global"
    ):
        region, iso3, pid, instrument, chapter, score, weight, severity, ta_needed, _ord = row
        state = states.get(iso3)
        if state is None or (filters.instrument and instrument != filters.instrument):
            continue
        if filters.region is not None and region != filters.region:
            continue
        yield [
            round_id,
            iso3,
            state_name(state, lang),
            state["un_regional_group"],
            state["m49_region"],
            state["status"],
            pid,
            instrument,
            chapter,
            model.provisions[pid].obligation,
            score,
            weight,
            severity,
            int(ta_needed),
        ]


def _groupings(filters: Filters) -> tuple[str, ...]:
    return (filters.grouping,) if filters.grouping else GROUPINGS


def _priority_rows(db, model, round_id: str, filters: Filters):
    if not filters.counted:
        return
    if filters.grouping:
        rows = (
            {"grouping": filters.grouping, **row}
            for row in regional_priorities(
                db,
                model,
                round_id,
                filters.grouping,
                region=filters.region,
                statuses=filters.counted,
            )
        )
    else:
        rows = all_priorities(db, model, round_id, statuses=filters.counted)
    for row in rows:
        provision = model.provisions[row["provision_id"]]
        if filters.instrument and provision.instrument != filters.instrument:
            continue
        yield [
            row["grouping"],
            row["region"],
            region_label(row["grouping"], row["region"]),
            row["rank"],
            provision.id,
            provision.instrument,
            provision.reference,
            provision.title,
            provision.obligation,
            row["n_resp"],
            row["n_gap"],
            row["gap_share"],
            row["ta_share"],
            row["priority"],
        ]


def _ta_demand_rows(db, model, round_id: str, filters: Filters, lang: str):
    if not filters.counted:
        return
    for grouping in _groupings(filters):
        for row in ta_demand(
            db,
            model,
            round_id,
            grouping,
            region=filters.region,
            instrument=filters.instrument,
            statuses=filters.counted,
        ):
            list_name = "ta_types" if row["kind"] == "ta_type" else "challenges"
            yield [
                grouping,
                row["region"],
                region_label(grouping, row["region"]),
                row["kind"],
                row["code"],
                choice_label(model, list_name, row["code"], lang),
                row["n_states"],
                row["n_selections"],
            ]


def _needs_columns(model) -> list[Column]:
    codes = model.choice_list("ta_types").codes if model.choice_list("ta_types") else ()
    return [
        Column("grouping", 18),
        Column("region", 22),
        Column("region_label", 30),
        Column("instrument", 10),
        Column("article", 8, "number"),
        Column("title", 40),
        Column("provisions", 30),
        Column("n", 6, "number"),
        Column("n_ta_need", 10, "number"),
        Column("share_ta_need", 13, "share"),
        *(Column(f"n_{code}", 10, "number") for code in codes),
        *(Column(f"share_{code}", 12, "share") for code in codes),
    ]


def _needs_rows(db, model, round_id: str, filters: Filters, lang: str):
    """survey.reports.needs for each grouping in scope (rows as its CSV download)."""
    if not filters.counted:
        return
    for grouping in _groupings(filters):
        table = needs_by_article(
            db,
            model,
            round_id,
            grouping,
            instrument=filters.instrument,
            lang=lang,
            statuses=filters.counted,
        )
        for row in needs_csv_rows(table):
            if filters.region is None or row[0] == filters.region:
                yield [grouping, *row]


def _uncovered_columns(model) -> list[Column]:
    codes = model.choice_list("ta_types").codes if model.choice_list("ta_types") else ()
    return [
        Column("grouping", 18),
        Column("region", 22),
        Column("region_label", 30),
        Column("rank", 7, "number"),
        Column("provision_id", 16),
        Column("instrument", 10),
        Column("article", 18),
        Column("title", 40),
        Column("requested", 10, "number"),
        Column("received", 10, "number"),
        Column("uncovered", 10, "number"),
        Column("regional_priority", 10, "number"),
        Column("regional_rank", 10, "number"),
        Column("uncovered_states", 30),
        *(Column(f"uncovered_{code}", 12, "number") for code in codes),
    ]


def _uncovered_rows(db, model, round_id: str, filters: Filters, lang: str):
    """survey.reports.coverage's ranked uncovered needs per grouping (rows as its CSV download)."""
    if not filters.counted:
        return
    for grouping in _groupings(filters):
        report = ta_coverage_needs(
            db,
            model,
            round_id,
            grouping,
            region=filters.region,
            instrument=filters.instrument,
            lang=lang,
            statuses=filters.counted,
        )
        for row in uncovered_rows(report):
            yield [grouping, *row]


def write_workbook(
    db,
    model,
    round_id: str,
    out,
    *,
    grouping: str | None = None,
    region: str | None = None,
    instrument: str | None = None,
    status=None,
    lang: str = "en",
    progress=None,
) -> dict[str, int]:
    """Write the analyst workbook to `out` (a path or a binary file); return the row count per sheet.

    Filters: `grouping` and `region` limit the States (and Priorities/TA demand to that grouping),
    `instrument` the provisions, `status` (one status or several) the responses. Answers and Wide
    include every status unless filtered; Scores, Priorities and TA demand count only submitted
    and validated responses (within the status filter), as the scoring method says.
    `progress(rows)`, if given, is called with the number of rows written so far (see
    `expected_rows` for the total). Raises ExportError for an unknown round or filter value.
    """
    with bounded_memory(db):
        return _write_workbook(
            db, model, round_id, out, grouping, region, instrument, status, lang, progress
        )


def _write_workbook(db, model, round_id, out, grouping, region, instrument, status, lang, progress):
    round_ = round_or_error(db, round_id)
    filters = make_filters(
        db, model, grouping=grouping, region=region, instrument=instrument, status=status
    )
    provisions = export_provisions(db, model, round_, filters)
    generated = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    wb = Workbook(out, right_to_left=lang == "ar", progress=progress)
    counts = {}
    counts["About"] = wb.write_sheet(
        "About",
        [Column("item", 44), Column("value", 110, "auto")],
        _about_rows(db, model, round_, filters, lang, generated),
    )
    counts["Codebook"] = wb.write_sheet(
        "Codebook", CODEBOOK, _codebook_rows(model, provisions, lang)
    )
    counts["Answers"] = wb.write_sheet(
        "Answers", ANSWERS, answer_rows(db, model, round_id, filters, lang=lang)
    )
    wide = [
        Column(name, 24 if i == 2 else 14 if i >= 6 else 11)
        for i, name in enumerate(wide_columns(provisions))
    ]
    counts["Wide"] = wb.write_sheet(
        "Wide",
        wide,
        wide_rows(db, model, round_id, filters, provisions, lang=lang),
        freeze_column=3,
    )
    counts["Scores"] = wb.write_sheet(
        "Scores", SCORES, _scores_rows(db, model, round_id, filters, lang)
    )
    counts["Priorities"] = wb.write_sheet(
        "Priorities", PRIORITIES, _priority_rows(db, model, round_id, filters)
    )
    counts["TA demand"] = wb.write_sheet(
        "TA demand", TA_DEMAND, _ta_demand_rows(db, model, round_id, filters, lang)
    )
    counts["TA needs by article"] = wb.write_sheet(
        "TA needs by article",
        _needs_columns(model),
        _needs_rows(db, model, round_id, filters, lang),
    )
    counts["Uncovered TA needs"] = wb.write_sheet(
        "Uncovered TA needs",
        _uncovered_columns(model),
        _uncovered_rows(db, model, round_id, filters, lang),
    )
    wb.close()
    return counts


def expected_rows(
    db,
    model,
    round_id: str,
    *,
    grouping: str | None = None,
    region: str | None = None,
    instrument: str | None = None,
    status=None,
    lang: str = "en",
) -> int:
    """About how many rows `write_workbook` writes with these filters, from cheap counts: the
    total of a progress bar (a multiple choice with several codes makes the real count a little
    higher; callers show at most 99% until the file is done). Raises ExportError as the writer."""
    round_ = round_or_error(db, round_id)
    filters = make_filters(
        db, model, grouping=grouping, region=region, instrument=instrument, status=status
    )
    provisions = export_provisions(db, model, round_, filters)
    ids = {p.id for p in provisions}
    in_scope = responses_in_scope(db, round_id, filters)
    counted = (
        {
            r["response_id"]
            for r in responses_in_scope(db, round_id, filters, statuses=filters.counted)
        }
        if filters.counted
        else set()
    )
    answers = scored = 0
    for response in in_scope:
        rows = db.execute(
            "SELECT provision_id, question FROM answers WHERE response_id = ?",
            [response["response_id"]],
        )
        for provision_id, question in rows:
            if provision_id in ids:
                answers += 1
                if question == "compliance" and response["response_id"] in counted:
                    scored += 1
    states = (
        len(in_scope)
        if filters.statuses is not None
        else db.execute("SELECT count(*) FROM states").fetchone()[0]
    )
    groupings = (filters.grouping,) if filters.grouping else GROUPINGS
    regions = sum(
        db.execute(f"SELECT count(DISTINCT {region_expression(g)}) FROM states").fetchone()[0]
        for g in groupings
    )
    codebook = sum(len(p.questions) for p in provisions)
    articles = len({(p.instrument, p.article) for p in provisions})
    return (
        40
        + codebook
        + answers
        + states
        + scored
        + regions * len(provisions)
        + regions * 20
        + regions * articles
        + regions * len(provisions) // 2  # Uncovered TA needs: at most one row per provision
    )
