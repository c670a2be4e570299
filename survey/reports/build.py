"""Report data: each function returns plain dicts and lists that pages, JSON, HTML and Excel share."""

from __future__ import annotations

import html
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..i18n import _
from ..scoring import (
    COUNTED_STATUSES,
    index_by,
    round_changes,
    score_state,
    selection_groups,
    state_index,
)
from ..storage.responses import find_response, progress_values
from ..storage.rounds import state_instruments
from ..storage.states import grouping_label, region_expression, region_label
from .cache import REPORT_CACHE, regional_priorities

STATUS_ORDER = ("not started", "draft", "returned", "submitted", "validated")
STATUS_COLORS = {
    "not started": "#b8c0c8",
    "draft": "#9ecae1",
    "returned": "#f0a33a",
    "submitted": "#3182bd",
    "validated": "#2e8b57",
}


def _plain(text) -> str:
    """Text for chart labels and hover: plotly renders a subset of HTML, so escape everything."""
    return html.escape(str(text), quote=False)


def _wrapped(text, width: int = 42) -> str:
    """A whole label on several lines (plotly never wraps, and cuts nothing only if we do)."""
    lines = textwrap.wrap(str(text), width, break_long_words=False) or [""]
    return "<br>".join(_plain(line) for line in lines)


def generated_stamp() -> str:
    """The moment a report was generated, as stored stamps are written (UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SMALL_REGION = 3  # fewer counted States than this: shares move by a third with one State


@dataclass(frozen=True)
class ReportFilter:
    """Which provisions a report covers: everything, one instrument, or one chapter."""

    instrument: str | None = None
    chapter: str | None = None  # a chapter key, 'UNCAC/criminalization'

    def matches(self, provision) -> bool:
        if self.chapter is not None:
            return f"{provision.instrument}/{provision.chapter}" == self.chapter
        return self.instrument is None or provision.instrument == self.instrument

    @property
    def is_all(self) -> bool:
        return self.instrument is None and self.chapter is None

    def args(self) -> dict:
        """Query arguments that reproduce this filter in a link."""
        return {k: v for k, v in (("instrument", self.instrument), ("chapter", self.chapter)) if v}

    def slug(self) -> str:
        """For file names: '' or '-UNCAC' or '-UNCAC-criminalization'."""
        return "".join(
            f"-{part}" for part in (self.chapter or self.instrument or "").split("/") if part
        )

    def label(self, model, lang: str = "en") -> str:
        if self.chapter is not None:
            return chapter_label(model.chapters[self.chapter], lang)
        if self.instrument is not None:
            return model.instrument(self.instrument).title.get(lang)
        return _("All instruments and chapters")


def chapter_label(chapter, lang: str = "en") -> str:
    number = f"{chapter.number}. " if chapter.number else ""
    return f"{chapter.instrument} {number}{chapter.title.get(lang)}"


class ReportFilterError(ValueError):
    """A report's filter or population that does not exist; the message, in the user's language,
    names the valid values."""


def report_filter(model, instrument: str | None, chapter: str | None) -> ReportFilter:
    """A validated filter; ReportFilterError with a message naming the valid values otherwise."""
    instrument = instrument or None
    chapter = chapter or None
    codes = [i.code for i in model.instruments]
    if instrument is not None and instrument not in codes:
        raise ReportFilterError(
            _(
                "Unknown instrument '%(value)s'. Use one of: %(valid)s.",
                value=instrument,
                valid=", ".join(codes),
            )
        )
    if chapter is not None:
        if chapter not in model.chapters:
            raise ReportFilterError(
                _(
                    "Unknown chapter '%(value)s'. Use one of: %(valid)s.",
                    value=chapter,
                    valid=", ".join(model.chapters),
                )
            )
        # A chapter belongs to one instrument; a contradicting instrument is a stale link.
        instrument = model.chapters[chapter].instrument
    return ReportFilter(instrument, chapter)


@dataclass(frozen=True)
class Paging:
    """One page of a ranked list: page numbers count from 1."""

    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        """Position (1-based) of the page's first row; 0 on an empty list."""
        return 0 if not self.total else (self.number - 1) * self.size + 1

    @property
    def last(self) -> int:
        return min(self.total, self.number * self.size)

    def rows(self, items: list) -> list:
        return items[(self.number - 1) * self.size : self.number * self.size]


def paging(total: int, number: int = 1, size: int = 50) -> Paging:
    """Clamped to the pages that exist, so a stale page link shows the last page."""
    pages = max(1, -(-total // size))
    return Paging(min(max(1, number), pages), size, total)


@dataclass(frozen=True)
class DemandRow:
    """One TA type or challenge in one region: States that chose it, and selections."""

    kind: str  # 'ta_type' or 'challenge'
    code: str
    label: str
    n_states: int
    share_states: float  # of the region's counted States
    n_selections: int  # (State, provision) pairs


@dataclass(frozen=True)
class DemandByChapter:
    """Selections of one kind per chapter and code (for the stacked chart and its table)."""

    kind: str
    chapters: list[tuple[str, str]]  # (key, label)
    codes: list[tuple[str, str]]  # (code, label), most selected first
    selections: dict[tuple[str, str], int] = field(default_factory=dict)  # (chapter, code) -> n
    states: dict[tuple[str, str], int] = field(default_factory=dict)


def dashboard(db, round_id: str, grouping: str) -> dict:
    """Response status counts by region and the response rate (submitted or validated / States)."""
    expr = region_expression(grouping)
    rows = db.execute(
        f"""SELECT {expr} AS region, coalesce(r.status, 'not started') AS status, count(*)
            FROM states LEFT JOIN responses r ON r.state_iso3 = states.iso3 AND r.round_id = ?
            GROUP BY 1, 2""",
        [round_id],
    ).fetchall()
    table: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUS_ORDER, 0))
    for region, status, count in rows:
        table[region][status] += count
    out = []
    for region in sorted(table):
        counts = table[region]
        total = sum(counts.values())
        counted = counts["submitted"] + counts["validated"]
        out.append(
            {
                "region": region,
                "label": region_label(grouping, region),
                **counts,
                "states": total,
                "response_rate": counted / total if total else 0.0,
            }
        )
    totals = {s: sum(r[s] for r in out) for s in STATUS_ORDER}
    states = sum(totals.values())
    counted = totals["submitted"] + totals["validated"]
    figure = {
        "data": [
            {
                "type": "bar",
                "name": _plain(_(status)),
                "marker": {"color": STATUS_COLORS[status]},
                "x": [_plain(r["label"]) for r in out],
                "y": [r[status] for r in out],
            }
            for status in STATUS_ORDER
        ],
        "layout": {
            "barmode": "stack",
            "title": {"text": _plain(_("Responses by status and region"))},
            "yaxis": {"title": {"text": _plain(_("States"))}},
            "legend": {"orientation": "h", "y": 1.12, "traceorder": "normal"},
            "margin": {"b": 140, "t": 100},
            "xaxis": {"automargin": True},
        },
    }
    return {
        "round": round_id,
        "grouping": grouping,
        "generated_at": generated_stamp(),
        "rows": out,
        "totals": {
            **totals,
            "states": states,
            "response_rate": counted / states if states else 0.0,
        },
        "figure": figure,
        "columns": ["label", *STATUS_ORDER, "states", "response_rate"],
    }


def _ta_labels(model):
    shared = model.choice_list("ta_types")
    challenges = model.choice_list("challenges")
    return shared, challenges


@dataclass
class _Selections:
    """A region's counted selections, tallied in one pass (a region has tens of thousands):
    per kind and code, and per kind, chapter key and code, the selecting States and the number
    of (State, provision) selections; per provision, the States selecting each TA type."""

    states: dict = field(default_factory=lambda: defaultdict(set))  # (kind, code) -> ISO3s
    counts: dict = field(default_factory=lambda: defaultdict(int))  # (kind, code) -> n
    chapter_states: dict = field(default_factory=lambda: defaultdict(set))  # (kind, ch, code)
    chapter_counts: dict = field(default_factory=lambda: defaultdict(int))  # (kind, ch, code)
    ta_states: dict = field(default_factory=lambda: defaultdict(dict))  # pid -> code -> ISO3s


def _selections(db, model, round_id: str, grouping: str, region: str, provisions) -> _Selections:
    """Every counted TA-type and challenge selection of a region on the provisions the filter
    covers, under the one counting rule of survey.scoring (docs/scoring.md), tallied from
    SQL's groups per (kind, provision, code) (a few thousand rows instead of one per
    selection)."""
    chapter_key = {
        pid: f"{p.instrument}/{p.chapter}"
        for pid, p in model.provisions.items()
        if provisions.matches(p)
    }
    tally = _Selections()
    for kind, pid, code, states in selection_groups(db, model, round_id, grouping, region=region):
        chapter = chapter_key.get(pid)
        if chapter is None:
            continue
        tally.states[kind, code].update(states)
        tally.counts[kind, code] += len(states)
        tally.chapter_states[kind, chapter, code].update(states)
        tally.chapter_counts[kind, chapter, code] += len(states)
        if kind == "ta_type":
            tally.ta_states[pid][code] = states
    return tally


def _demand(tally: _Selections, kind, labels, respondents, lang: str = "en") -> list[DemandRow]:
    rows = [
        DemandRow(
            kind,
            code,
            labels.label(code, lang),
            len(tally.states[k, code]),
            len(tally.states[k, code]) / respondents if respondents else 0.0,
            n,
        )
        for (k, code), n in tally.counts.items()
        if k == kind
    ]
    return sorted(rows, key=lambda r: (-r.n_selections, -r.n_states, r.code))


def _demand_by_chapter(model, tally: _Selections, kind, rows: list[DemandRow], lang):
    selected = {(ch, code): n for (k, ch, code), n in tally.chapter_counts.items() if k == kind}
    keys = {ch for ch, _code in selected}
    ordered = [c for key, c in model.chapters.items() if key in keys]
    return DemandByChapter(
        kind,
        [(c.key, chapter_label(c, lang)) for c in ordered],
        [(r.code, r.label) for r in rows],
        selected,
        {(ch, code): len(v) for (k, ch, code), v in tally.chapter_states.items() if k == kind},
    )


def priority_report(
    db,
    model,
    round_id: str,
    grouping: str,
    region: str,
    *,
    top: int = 25,
    lang: str = "en",
    provisions: ReportFilter | None = None,
    page: int = 1,
    page_size: int = 50,
) -> dict:
    """The ranked provisions of one region (all of them, paged) with the most requested TA types,
    and TA demand and challenges by type and by chapter, for the provisions the filter covers.
    Cached per filters, language and version of the round's counted responses (reports/cache.py);
    `generated_at` is when it was computed."""
    provisions = provisions or ReportFilter()
    return REPORT_CACHE.get_or_compute(
        "priority_report",
        db,
        model,
        (round_id,),
        {
            "grouping": grouping,
            "region": region,
            "top": top,
            "lang": lang,
            "provisions": repr(provisions),
            "page": page,
            "page_size": page_size,
        },
        lambda: _priority_report(
            db, model, round_id, grouping, region, top, lang, provisions, page, page_size
        ),
    )


def _priority_report(db, model, round_id, grouping, region, top, lang, provisions, page, page_size):
    rows = regional_priorities(db, model, round_id, grouping, region=region)
    ta_list, challenge_list = _ta_labels(model)
    selections = _selections(db, model, round_id, grouping, region, provisions)
    # Most requested TA types per provision in this region.
    ta_by_provision = {
        pid: sorted(
            (
                {"code": code, "label": ta_list.label(code, lang), "states": len(states)}
                for code, states in by_code.items()
            ),
            key=lambda t: (-t["states"], t["code"]),
        )
        for pid, by_code in selections.ta_states.items()
    }
    respondents = db.execute(
        f"""SELECT count(*) FROM responses r JOIN states ON states.iso3 = r.state_iso3
            WHERE r.round_id = ? AND r.status IN ('submitted', 'validated') AND {region_expression(grouping)} = ?""",
        [round_id, region],
    ).fetchone()[0]
    states_in_region = db.execute(
        f"SELECT count(*) FROM states WHERE {region_expression(grouping)} = ?", [region]
    ).fetchone()[0]
    ranked = []
    for row in rows:
        provision = model.provisions.get(row["provision_id"])
        if provision is None or not provisions.matches(provision):
            continue
        ranked.append(
            {
                **row,
                "overall_rank": row["rank"],
                "rank": len(ranked) + 1,
                "instrument": provision.instrument,
                "article": provision.article,
                "reference": provision.reference,
                "title": provision.title,
                "obligation": provision.obligation,
                "chapter": model.chapter_of(provision).title.get(lang),
                "top_ta_types": ta_by_provision.get(provision.id, [])[:3],
            }
        )
    top_rows = ranked[:top]
    pages = paging(len(ranked), page, page_size)
    ta_rows = _demand(selections, "ta_type", ta_list, respondents, lang)
    challenge_rows = _demand(selections, "challenge", challenge_list, respondents, lang)
    ta_chapters = _demand_by_chapter(model, selections, "ta_type", ta_rows, lang)
    challenge_chapters = _demand_by_chapter(model, selections, "challenge", challenge_rows, lang)
    region_name = region_label(grouping, region)
    return {
        "round": round_id,
        "grouping": grouping,
        "grouping_label": grouping_label(grouping),
        "region": region,
        "region_label": region_name,
        "filter": provisions,
        "filter_label": provisions.label(model, lang),
        "generated_at": generated_stamp(),
        "respondents": respondents,
        "states": states_in_region,
        "small_region": respondents < SMALL_REGION,
        "priorities": ranked,
        "top": top_rows,
        "paging": pages,
        "page": pages.rows(ranked),
        "ta_demand": ta_rows,
        "challenges": challenge_rows,
        "ta_by_chapter": ta_chapters,
        "challenges_by_chapter": challenge_chapters,
        "constants": {
            "scores": model.scoring.score,
            "weights": model.scoring.weight,
            "ta_factor": model.scoring.ta,
        },
        "figures": {
            "priorities": _priority_figure(top_rows, region_name),
            "ta_demand": _demand_figure(ta_rows, _("Technical assistance requested"), respondents),
            "ta_by_chapter": _by_chapter_figure(
                ta_chapters, _("Technical assistance requested by chapter (selections)")
            ),
            "challenges": _demand_figure(challenge_rows, _("Challenges reported"), respondents),
            "challenges_by_chapter": _by_chapter_figure(
                challenge_chapters, _("Challenges reported by chapter (selections)")
            ),
        },
    }


def _label_margin(labels: list[str]) -> int:
    """A left margin wide enough for the longest label line (12 px type). plotly's own automargin
    measures text in a box that inherits the page's direction, and in an RTL page it measures
    short and cuts the labels off, so the margin is set here."""
    import unicodedata

    def px(line: str) -> float:
        line = html.unescape(line.replace("<b>", "").replace("</b>", ""))
        return sum(12 if unicodedata.east_asian_width(ch) in "WF" else 7 for ch in line)

    lines = [line for label in labels for line in label.split("<br>")]
    return int(max((px(line) for line in lines), default=40)) + 24


def _bar_heights(labels: list[str], line: int = 16, minimum: int = 26) -> int:
    """Pixels for the bars of a horizontal bar chart. Plotly gives every category the same
    band, so each band must hold the label with the most lines, or long labels overlap."""
    lines = max((label.count("<br>") + 1 for label in labels), default=1)
    return len(labels) * max(minimum, line * lines + 10)


def _priority_figure(top_rows, region_name) -> dict:
    rows = list(reversed(top_rows))  # plotly draws the first bar at the bottom
    labels = [_wrapped(f"{r['provision_id']} {r['title']}", 48) for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [r["priority"] for r in rows],
                "y": labels,
                "customdata": [
                    [r["rank"], r["gap_share"], r["ta_share"], r["n_gap"], r["n_resp"]]
                    for r in rows
                ],
                "hovertemplate": "#%{customdata[0]} %{y}<br>"
                + _plain(_("Priority"))
                + " %{x:.3f} · "
                + _plain(_("Gap share"))
                + " %{customdata[1]:.0%} (%{customdata[3]}/%{customdata[4]}) · "
                + _plain(_("TA share"))
                + " %{customdata[2]:.0%}<extra></extra>",
                "marker": {"color": "#c0392b"},
            }
        ],
        "layout": {
            "title": {"text": _plain(_("Top priorities: %(region)s", region=region_name))},
            "xaxis": {"title": {"text": _plain(_("Priority"))}},
            "yaxis": {"automargin": True, "tickfont": {"size": 12}},
            "margin": {"l": _label_margin(labels)},
            "height": 140 + _bar_heights(labels),
        },
    }


def _demand_figure(rows: list[DemandRow], title: str, respondents: int) -> dict:
    """Two panels on one set of full labels: share of counted States, and selections."""
    rows = list(reversed(rows))  # most selected on top
    labels = [_wrapped(r.label, 36) for r in rows]
    hover = (
        "%{y}<br>"
        + _plain(_("States"))
        + " %{customdata[0]} / "
        + str(respondents)
        + " (%{customdata[1]:.0%}) · "
        + _plain(_("Selections"))
        + " %{customdata[2]}<extra></extra>"
    )
    custom = [[r.n_states, r.share_states, r.n_selections] for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": _plain(_("Share of counted States")),
                "x": [r.share_states for r in rows],
                "y": labels,
                "xaxis": "x",
                "customdata": custom,
                "hovertemplate": hover,
                "marker": {"color": "#6baed6"},
                "text": [f"{r.share_states:.0%}" for r in rows],
                "textposition": "auto",
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": _plain(_("Selections (State × provision)")),
                "x": [r.n_selections for r in rows],
                "y": labels,
                "xaxis": "x2",
                "customdata": custom,
                "hovertemplate": hover,
                "marker": {"color": "#08519c"},
                "text": [str(r.n_selections) for r in rows],
                "textposition": "auto",
            },
        ],
        "layout": {
            "title": {"text": _plain(title)},
            "showlegend": False,
            "xaxis": {
                "domain": [0, 0.46],
                "range": [0, 1],
                "tickformat": ".0%",
                "title": {"text": _plain(_("Share of counted States (n = %(n)s)", n=respondents))},
            },
            "xaxis2": {
                "domain": [0.54, 1],
                "anchor": "y",
                "title": {"text": _plain(_("Selections (State × provision)"))},
            },
            "yaxis": {"automargin": True, "tickfont": {"size": 12}},
            "margin": {"l": _label_margin(labels)},
            "height": 150 + _bar_heights(labels),
        },
    }


def _by_chapter_figure(table: DemandByChapter, title: str) -> dict:
    """Stacked horizontal bars: one per chapter, one coloured segment per type."""
    chapters = list(reversed(table.chapters))
    labels = [_wrapped(label, 40) for _key, label in chapters]
    # Ten distinct colours (plotly's D3 palette) so each type keeps its own.
    palette = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    # The legend sits in a bottom margin sized to hold it, starting 70 px below the plot area
    # (under the tick labels and the axis title). Plotly places a legend in fractions of the
    # plot area's height, so the fraction is worked out from pixels: a fixed fraction ran into
    # the axis title on short charts.
    plot_area = _bar_heights(labels) + 40
    bottom = 70 + 40 * ((len(table.codes) + 2) // 3)  # three entries a row, up to two lines
    legend_y = -70 / plot_area
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": _wrapped(label, 30),
                "x": [table.selections.get((key, code), 0) for key, _label in chapters],
                "y": labels,
                "customdata": [table.states.get((key, code), 0) for key, _label in chapters],
                "marker": {"color": palette[i % len(palette)]},
                "hovertemplate": "%{y}<br>"
                + _plain(label)
                + ": %{x} "
                + _plain(_("selections"))
                + ", %{customdata} "
                + _plain(_("States"))
                + "<extra></extra>",
            }
            for i, (code, label) in enumerate(table.codes)
        ],
        "layout": {
            "title": {"text": _plain(title)},
            "barmode": "stack",
            "xaxis": {"title": {"text": _plain(_("Selections (State × provision)"))}},
            "yaxis": {"automargin": True, "tickfont": {"size": 12}},
            "legend": {"orientation": "h", "y": legend_y, "yanchor": "top", "traceorder": "normal"},
            "height": 100 + plot_area + bottom,
            "margin": {"b": bottom, "t": 100, "l": _label_margin(labels)},
        },
    }


@dataclass(frozen=True)
class HeatCell:
    """One region x chapter: gaps among the scored (State, provision) answers, pooled."""

    region: str
    chapter: str
    n_gaps: int
    n_answers: int
    n_states: int  # counted States of the region

    @property
    def gap_share(self) -> float | None:
        return self.n_gaps / self.n_answers if self.n_answers else None


def heatmap(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    lang: str = "en",
    provisions: ReportFilter | None = None,
) -> dict:
    """Gaps per region x chapter, pooled over the chapter's (State, provision) answers, with n."""
    provisions = provisions or ReportFilter()
    rows = regional_priorities(db, model, round_id, grouping)
    pooled: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        provision = model.provisions.get(row["provision_id"])
        if provision is None or not provisions.matches(provision):
            continue
        acc = pooled[row["region"], f"{provision.instrument}/{provision.chapter}"]
        acc[0] += row["n_gap"]
        acc[1] += row["n_resp"]
    counted = dict(
        db.execute(
            f"""SELECT {region_expression(grouping)}, count(*) FROM responses r
                JOIN states ON states.iso3 = r.state_iso3
                WHERE r.round_id = ? AND r.status IN ('submitted', 'validated') GROUP BY 1""",
            [round_id],
        ).fetchall()
    )
    regions = sorted({r for r, _c in pooled})
    chapters = [
        c for c in model.chapters.values() if any(provisions.matches(p) for p in c.provisions)
    ]
    cells = [
        [
            HeatCell(region, c.key, *pooled.get((region, c.key), (0, 0)), counted.get(region, 0))
            for region in regions
        ]
        for c in chapters
    ]
    labels = [chapter_label(c, lang) for c in chapters]
    region_rows = [
        {
            "region": r,
            "label": region_label(grouping, r),
            "states": counted.get(r, 0),
            "small": counted.get(r, 0) < SMALL_REGION,
        }
        for r in regions
    ]

    # Column labels stay horizontal and whole: wrapped to the width a column gets; with many
    # regions (sub-regions) the chart gets 80 px a column and scrolls sideways on a narrow page.
    many = len(region_rows) > 8
    width = 11 if many else 18

    def column(r):
        name = _wrapped(r["label"], width)
        note = _plain(f"n={r['states']}")
        return f"{name}<br><b>⚠ {note}</b>" if r["small"] else f"{name}<br>{note}"

    columns = [column(r) for r in region_rows]
    label_lines = max((c.count("<br>") + 1 for c in columns), default=1)
    # Rows top to bottom in questionnaire order (plotly puts the first row at the bottom).
    shown = list(reversed(list(zip(labels, cells, strict=True))))
    z = [[cell.gap_share for cell in row] for _label, row in shown]
    y_labels = [_wrapped(label, 44) for label, _row in shown]
    n_rows = len(shown)
    return {
        "round": round_id,
        "grouping": grouping,
        "filter": provisions,
        "filter_label": provisions.label(model, lang),
        "generated_at": generated_stamp(),
        "small_region": SMALL_REGION,
        "regions": region_rows,
        "chapters": [
            {"key": c.key, "label": label} for c, label in zip(chapters, labels, strict=True)
        ],
        "cells": cells,  # [chapter][region]
        "figure": {
            "data": [
                {
                    "type": "heatmap",
                    "z": z,
                    "x": columns,
                    "y": y_labels,
                    "customdata": [
                        [[c.n_gaps, c.n_answers, c.n_states] for c in row] for _l, row in shown
                    ],
                    "zmin": 0,
                    "zmax": 1,
                    "xgap": 2,
                    "ygap": 2,
                    "colorscale": "YlOrRd",
                    "reversescale": True,  # plotly's YlOrRd runs dark to light; more gaps = darker red
                    "texttemplate": "%{z:.0%}",
                    "hovertemplate": "%{y}<br>%{x}<br>"
                    + _plain(_("Gaps"))
                    + " %{z:.0%}: %{customdata[0]} / %{customdata[1]} "
                    + _plain(_("answers (State × provision)"))
                    + "<extra></extra>",
                    "colorbar": {"title": {"text": _plain(_("Gaps"))}, "tickformat": ".0%"},
                }
            ],
            "layout": {
                "title": {
                    "text": _wrapped(
                        _(
                            "Share of scored answers (State × provision) that are gaps, pooled by chapter"
                        ),
                        80,
                    ),
                    "yref": "container",
                    "y": 1,
                    "yanchor": "top",
                    "x": 0.01,
                    "xanchor": "left",
                    "pad": {"t": 14},
                },
                "height": 160 + 14 * label_lines + 44 * n_rows,
                "margin": {"t": 80 + 14 * label_lines, "l": _label_margin(y_labels)},
                **({"width": 420 + 80 * len(region_rows)} if many else {}),
                "xaxis": {"side": "top", "tickangle": 0, "automargin": True},
                "yaxis": {"automargin": True, "tickfont": {"size": 12}},
            },
        },
    }


def comparison(
    db,
    model,
    round_id: str,
    previous_round: str,
    grouping: str,
    region: str | None = None,
    *,
    population: str = "panel",
    statuses=COUNTED_STATUSES,
) -> dict:
    """Two rounds compared per region and provision, computed in SQL (scoring.round_changes) and
    cached per version of both rounds' counted responses.

    `population`: 'panel' (default) compares the States counted in both rounds, 'all' every
    State counted in each round (the n per round then differ). Returns::

        {"round", "previous_round", "grouping", "region", "population",
         "states": [{"region", "region_label", "n_before", "n_now"}, ...],  # counted States
         "totals": {"n_before", "n_now"},
         "changes": [row, ...],      # every (region, provision) scored in both rounds
         "fell": [row, ...],         # gap share fell, largest fall first
         "rose": [row, ...],         # gap share rose, largest rise first
         "largest": [row, ...],      # the 20 largest changes by size (a chart's bars)
         "closed": [gap, ...], "opened": [gap, ...]}

    Each row: region, region_label, provision_id, title, instrument, reference, n_resp_before,
    n_resp_now (States that scored the provision), n_gap_before/now, gap_share_before/now and
    `change` (now - before, shares 0..1), ta_share_before/now and `ta_change`, n_ta_before/now
    (States requesting TA), priority_before/now, rank_before/now (1 = first priority of the
    region in that round) and `rank_change` (rank_before - rank_now: positive moved up).
    Each gap: region, state_iso3, provision_id, score_before, score_now. Rows with no change
    in gap share are in `changes` only. Raises ValueError for an unknown grouping or population.
    """
    data = REPORT_CACHE.get_or_compute(
        "round_changes",
        db,
        model,
        (round_id, previous_round),
        {"grouping": grouping, "region": region, "population": population},
        lambda: round_changes(
            db,
            model,
            round_id,
            previous_round,
            grouping,
            region=region,
            population=population,
            statuses=statuses,
        ),
        statuses=statuses,
    )
    # One label per region (a gettext call each), not one per row: 1,365 rows on the demo.
    labels = {s["region"]: region_label(grouping, s["region"]) for s in data["states"]}
    changes = []
    for row in data["provisions"]:
        provision = model.provisions[row["provision_id"]]
        changes.append(
            {
                **row,
                "region_label": labels.get(row["region"]) or region_label(grouping, row["region"]),
                "title": provision.title,
                "instrument": provision.instrument,
                "reference": provision.reference,
                "change": row["gap_share_now"] - row["gap_share_before"],
                "ta_change": row["ta_share_now"] - row["ta_share_before"],
                "rank_change": row["rank_before"] - row["rank_now"],
            }
        )
    moved = [c for c in changes if abs(c["change"]) > 1e-9]
    fell = sorted(
        (c for c in moved if c["change"] < 0), key=lambda c: (c["change"], c["region"], c["ord"])
    )
    rose = sorted(
        (c for c in moved if c["change"] > 0), key=lambda c: (-c["change"], c["region"], c["ord"])
    )
    largest = sorted(moved, key=lambda c: (-abs(c["change"]), c["region"], c["ord"]))[:20]
    states = [dict(s, region_label=labels[s["region"]]) for s in data["states"]]
    return {
        "round": round_id,
        "previous_round": previous_round,
        "grouping": grouping,
        "region": region,
        "population": population,
        "states": states,
        "totals": {
            "n_before": sum(s["n_before"] for s in states),
            "n_now": sum(s["n_now"] for s in states),
        },
        "changes": changes,
        "fell": fell,
        "rose": rose,
        "largest": largest,
        "closed": [_gap(g) for g in data["gaps"] if g["closed"]],
        "opened": [_gap(g) for g in data["gaps"] if not g["closed"]],
    }


POPULATIONS = ("panel", "all")


@dataclass(frozen=True)
class RegionCount:
    """Counted States of one region in each of the two rounds compared."""

    region: str
    label: str
    n_before: int
    n_now: int

    @property
    def small(self) -> bool:
        return min(self.n_before, self.n_now) < SMALL_REGION


@dataclass(frozen=True)
class ChangeRow:
    """One (region, provision) scored in both rounds: gap share, TA share and rank, each round."""

    region: str
    region_label: str
    n_states_before: int  # counted States of the region in each round (the population's n)
    n_states_now: int
    provision_id: str
    title: str
    instrument: str
    reference: str
    n_resp_before: int
    n_resp_now: int
    n_gap_before: int
    n_gap_now: int
    gap_share_before: float
    gap_share_now: float
    change: float  # gap share, now - before (0..1 scale)
    n_ta_before: int
    n_ta_now: int
    ta_share_before: float
    ta_share_now: float
    ta_change: float
    rank_before: int
    rank_now: int
    rank_change: int  # rank_before - rank_now: positive moved up the priorities


GAPS_SHOWN = 100  # closed and opened gaps listed on the page (all are counted)


@dataclass(frozen=True)
class ComparisonPage:
    """The round comparison as the page and its CSV show it, for one provision filter."""

    round_id: str
    previous_round: str
    grouping: str
    region: str | None
    population: str
    counts: list[RegionCount]
    labels: dict[str, str]  # region code -> label, for the closed and opened gaps
    n_before: int
    n_now: int
    rows: list[ChangeRow]  # every row the filter covers, largest change in gap share first
    moved: int  # rows whose gap share changed
    n_closed: int
    n_opened: int
    closed: list[dict]  # the first GAPS_SHOWN of each, in comparison()'s order
    opened: list[dict]
    figure: dict
    paging: Paging
    page: list[ChangeRow]


def comparison_page(
    db,
    model,
    round_id: str,
    previous_round: str,
    grouping: str,
    region: str | None = None,
    *,
    population: str = "panel",
    provisions: ReportFilter | None = None,
    lang: str = "en",
    page: int = 1,
    page_size: int = 50,
) -> ComparisonPage:
    """`comparison` restricted to the provisions of `provisions`, ordered for reading: largest
    change in gap share first (ties: region, questionnaire order), a chart of the 20 largest.
    Cached per filter and language (`lang` must be the language labels are rendered in) beside
    `comparison`'s own entry, so a warm page unpickles its rows instead of rebuilding them."""
    if population not in POPULATIONS:
        raise ReportFilterError(
            _(
                "Unknown population '%(value)s'. Use one of: %(valid)s.",
                value=population,
                valid=", ".join(POPULATIONS),
            )
        )
    provisions = provisions or ReportFilter()
    built = REPORT_CACHE.get_or_compute(
        "comparison_page",
        db,
        model,
        (round_id, previous_round),
        {
            "grouping": grouping,
            "region": region,
            "population": population,
            "instrument": provisions.instrument,
            "chapter": provisions.chapter,
            "lang": lang,
        },
        lambda: _comparison_rows(
            db, model, round_id, previous_round, grouping, region, population, provisions
        ),
    )
    pages = paging(len(built["rows"]), page, page_size)
    return ComparisonPage(
        round_id=round_id,
        previous_round=previous_round,
        grouping=grouping,
        region=region,
        population=population,
        paging=pages,
        page=pages.rows(built["rows"]),
        **built,
    )


def _comparison_rows(
    db, model, round_id, previous_round, grouping, region, population, provisions
) -> dict:
    data = comparison(db, model, round_id, previous_round, grouping, region, population=population)

    def covered(provision_id: str) -> bool:
        provision = model.provisions.get(provision_id)
        return provision is not None and provisions.matches(provision)

    counts = [
        RegionCount(s["region"], s["region_label"], s["n_before"], s["n_now"])
        for s in data["states"]
    ]
    n_of = {c.region: c for c in counts}
    ordered = sorted(
        (c for c in data["changes"] if covered(c["provision_id"])),
        key=lambda c: (-abs(c["change"]), c["region"], c["ord"]),
    )
    rows = [
        ChangeRow(
            region=c["region"],
            region_label=c["region_label"],
            n_states_before=n_of[c["region"]].n_before if c["region"] in n_of else 0,
            n_states_now=n_of[c["region"]].n_now if c["region"] in n_of else 0,
            provision_id=c["provision_id"],
            title=c["title"],
            instrument=c["instrument"],
            reference=c["reference"],
            n_resp_before=c["n_resp_before"],
            n_resp_now=c["n_resp_now"],
            n_gap_before=c["n_gap_before"],
            n_gap_now=c["n_gap_now"],
            gap_share_before=c["gap_share_before"],
            gap_share_now=c["gap_share_now"],
            change=c["change"],
            n_ta_before=c["n_ta_before"],
            n_ta_now=c["n_ta_now"],
            ta_share_before=c["ta_share_before"],
            ta_share_now=c["ta_share_now"],
            ta_change=c["ta_change"],
            rank_before=c["rank_before"],
            rank_now=c["rank_now"],
            rank_change=c["rank_change"],
        )
        for c in ordered
    ]
    moved = [r for r in rows if abs(r.change) > 1e-9]
    closed = [g for g in data["closed"] if covered(g["provision_id"])]
    opened = [g for g in data["opened"] if covered(g["provision_id"])]
    return {
        "counts": counts,
        "labels": {c.region: c.label for c in counts},
        "n_before": data["totals"]["n_before"],
        "n_now": data["totals"]["n_now"],
        "rows": rows,
        "moved": len(moved),
        "n_closed": len(closed),
        "n_opened": len(opened),
        "closed": closed[:GAPS_SHOWN],
        "opened": opened[:GAPS_SHOWN],
        "figure": _changes_figure(moved[:20], previous_round, round_id, with_region=region is None),
    }


def _changes_figure(
    largest: list[ChangeRow], previous_round: str, round_id: str, *, with_region: bool = True
) -> dict:
    """The largest changes in gap share as horizontal bars: progress (fall) green, rise red.
    `with_region` False (one region chosen, named in the page's table): bars carry the
    provision alone."""
    rows = list(reversed(largest))  # largest on top
    # The region on a line of its own: an Arabic region name and an English title on one line
    # would be reordered by the bidi algorithm into an unreadable mix.
    labels = [
        (f"<b>{_wrapped(r.region_label, 48)}</b><br>" if with_region else "")
        + _wrapped(f"{r.provision_id} {r.title}", 48)
        for r in rows
    ]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "x": [round(100 * r.change, 1) for r in rows],
                "y": labels,
                "marker": {"color": ["#2e8b57" if r.change < 0 else "#c0392b" for r in rows]},
                "customdata": [
                    [
                        r.gap_share_before,
                        r.gap_share_now,
                        r.n_resp_before,
                        r.n_resp_now,
                        r.rank_before,
                        r.rank_now,
                    ]
                    for r in rows
                ],
                "hovertemplate": "%{y}<br>"
                + _plain(_("Gap share"))
                + f" {_plain(previous_round)} %{{customdata[0]:.0%}} (n=%{{customdata[2]}}) → "
                + f"{_plain(round_id)} %{{customdata[1]:.0%}} (n=%{{customdata[3]}})<br>"
                + _plain(_("Rank"))
                + " %{customdata[4]} → %{customdata[5]}<extra></extra>",
            }
        ],
        "layout": {
            "title": {"text": _plain(_("Largest changes in gap share"))},
            "xaxis": {
                "title": {"text": _plain(_("Change in gap share (points; below 0 = progress)"))},
                "zeroline": True,
            },
            "yaxis": {"automargin": True, "tickfont": {"size": 12}},
            "margin": {"l": _label_margin(labels)},
            "height": 150 + _bar_heights(labels),
        },
    }


def _gap(row: dict) -> dict:
    return {
        k: row[k] for k in ("state_iso3", "provision_id", "region", "score_before", "score_now")
    }


def state_scores(db, model, round_id: str, iso3: str) -> dict | None:
    """One State's scores: per provision, and indexes by instrument and chapter."""
    response = find_response(db, round_id, iso3)
    if response is None:
        return None
    # Scores read choice answers and whether a text exists, never the text itself.
    values = progress_values(db, response["id"])
    scores = score_state(model, values, state_instruments(db, round_id, iso3))

    def ix(index):
        return {
            "index": index.index,
            "scored": index.scored,
            "applicable": index.applicable,
            "gaps": index.gaps,
            "coverage": index.coverage,
        }

    return {
        "round": round_id,
        "state_iso3": iso3,
        "status": response["status"],
        "counted": response["status"] in COUNTED_STATUSES,
        "index": ix(state_index(scores)),
        "by_instrument": {k: ix(v) for k, v in index_by(scores, lambda s: s.instrument).items()},
        "by_chapter": {
            k: ix(v) for k, v in index_by(scores, lambda s: f"{s.instrument}/{s.chapter}").items()
        },
        "provisions": [
            {
                "provision_id": s.provision_id,
                "obligation": s.obligation,
                "compliance": s.compliance,
                "score": s.score,
                "weight": s.weight,
                "severity": s.severity,
                "ta_needed": s.ta_needed,
                "ta_types": list(s.ta_types),
            }
            for s in scores
        ],
    }
