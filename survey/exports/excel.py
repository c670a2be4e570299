"""The analyst workbook of a round: About, Codebook, Answers, Wide, Scores, Priorities, TA demand.

Written by a small streaming writer (xlsx_stream.py), so rows stream from the database into the
zip and memory stays bounded however large the round. Numbers and dates are real Excel values; ids, codes and
answers are text cells that Excel never evaluates, even when they start with = + - @ (see
`_text`); text longer than an Excel cell is cut with a visible marker.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from openpyxl.utils import column_index_from_string

from ..scoring import all_priorities, regional_priorities, scores_rows, ta_demand
from ..storage.responses import STATUSES
from ..storage.states import GROUPINGS, region_label, state_name
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
from .xlsx_stream import (
    ILLEGAL_XML,
    STYLE_DATE,
    STYLE_SHARE,
    StreamingWorkbook,
    excel_serial,
    number_xml,
    text_xml,
)

SHEETS = ("About", "Codebook", "Answers", "Wide", "Scores", "Priorities", "TA demand")
MAX_CELL = 32_767  # Excel's limit on the characters in one cell
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def truncation_marker(total: int) -> str:
    return f"… [truncated: {total:,} characters in total; full text in the CSV/JSON export]"


def fit_text(text: str) -> str:
    """Text that fits one Excel cell: characters XML cannot hold removed, overlong text cut with a marker."""
    if ILLEGAL_XML.search(text):
        text = ILLEGAL_XML.sub("", text)
    if len(text) > MAX_CELL:
        marker = truncation_marker(len(text))
        text = text[: MAX_CELL - len(marker)] + marker
    return text


def parse_timestamp(text: str | None) -> datetime | None:
    """The database's ISO 8601 UTC text as a naive UTC datetime (Excel has no time zones)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _text(ref: str, value) -> str:
    """Every text is an inline string: Excel never evaluates it, whatever it starts with."""
    return text_xml(ref, fit_text(value if isinstance(value, str) else str(value)))


def _number(ref: str, value) -> str:
    return number_xml(ref, int(value) if isinstance(value, bool) else value)


def _share(ref: str, value) -> str:
    return number_xml(ref, float(value), STYLE_SHARE)


def _date(ref: str, value) -> str:
    moment = value if isinstance(value, datetime) else parse_timestamp(value)
    if moment is None:
        return _text(ref, value)
    return number_xml(ref, excel_serial(moment), STYLE_DATE)


def _auto(ref: str, value) -> str:
    if isinstance(value, datetime):
        return _date(ref, value)
    if isinstance(value, int | float):
        return _number(ref, value)
    return _text(ref, value)


CONVERTERS = {"text": _text, "number": _number, "share": _share, "date": _date, "auto": _auto}


@dataclass(frozen=True)
class Column:
    name: str
    width: float = 14
    kind: str = "text"  # a key of CONVERTERS


def write_sheet(wb: StreamingWorkbook, title: str, columns, rows, *, freeze: str = "A2") -> int:
    """Stream rows into a new sheet with a bold frozen header and an autofilter; return the row count."""
    freeze_column = column_index_from_string("".join(ch for ch in freeze if ch.isalpha())) - 1
    return wb.add_sheet(
        title,
        [c.name for c in columns],
        [c.width for c in columns],
        rows,
        [CONVERTERS[c.kind] for c in columns],
        freeze_column=freeze_column,
    )


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
        f"An Excel cell holds at most {MAX_CELL:,} characters; a longer text ends with "
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
) -> dict[str, int]:
    """Write the analyst workbook to `out` (a path or a binary file); return the row count per sheet.

    Filters: `grouping` and `region` limit the States (and Priorities/TA demand to that grouping),
    `instrument` the provisions, `status` (one status or several) the responses. Answers and Wide
    include every status unless filtered; Scores, Priorities and TA demand count only submitted
    and validated responses (within the status filter), as the scoring method says.
    Raises ExportError for an unknown round or filter value.
    """
    round_ = round_or_error(db, round_id)
    filters = make_filters(
        db, model, grouping=grouping, region=region, instrument=instrument, status=status
    )
    provisions = export_provisions(db, model, round_, filters)
    generated = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    wb = StreamingWorkbook(out)
    counts = {}
    counts["About"] = write_sheet(
        wb,
        "About",
        [Column("item", 44), Column("value", 110, "auto")],
        _about_rows(db, model, round_, filters, lang, generated),
    )
    counts["Codebook"] = write_sheet(
        wb, "Codebook", CODEBOOK, _codebook_rows(model, provisions, lang)
    )
    counts["Answers"] = write_sheet(
        wb, "Answers", ANSWERS, answer_rows(db, model, round_id, filters, lang=lang)
    )
    wide = [
        Column(name, 24 if i == 2 else 14 if i >= 6 else 11)
        for i, name in enumerate(wide_columns(provisions))
    ]
    counts["Wide"] = write_sheet(
        wb,
        "Wide",
        wide,
        wide_rows(db, model, round_id, filters, provisions, lang=lang),
        freeze="D2",
    )
    counts["Scores"] = write_sheet(
        wb, "Scores", SCORES, _scores_rows(db, model, round_id, filters, lang)
    )
    counts["Priorities"] = write_sheet(
        wb, "Priorities", PRIORITIES, _priority_rows(db, model, round_id, filters)
    )
    counts["TA demand"] = write_sheet(
        wb, "TA demand", TA_DEMAND, _ta_demand_rows(db, model, round_id, filters, lang)
    )
    wb.close()
    return counts
