"""Report data: each function returns plain dicts and lists that pages, JSON, HTML and Excel share."""

from __future__ import annotations

import html
import json
from collections import defaultdict

from ..i18n import _
from ..scoring import (
    COUNTED_STATUSES,
    asked_codes,
    chapter_gap_shares,
    index_by,
    round_changes,
    score_state,
    state_index,
)
from ..storage.responses import answer_values, find_response, load_answers
from ..storage.rounds import state_instruments
from ..storage.states import grouping_label, region_expression, region_label
from .cache import REPORT_CACHE, regional_priorities, ta_demand

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


def priority_report(
    db, model, round_id: str, grouping: str, region: str, *, top: int = 25, lang: str = "en"
) -> dict:
    """The ranked provisions of one region with the most requested TA types, and TA demand."""
    rows = regional_priorities(db, model, round_id, grouping, region=region)
    demand = ta_demand(db, model, round_id, grouping, region=region)
    ta_list, challenge_list = _ta_labels(model)
    # Most requested TA types per provision in this region (relevant selections only).
    counted_sql = f"""
        SELECT a.provision_id, j.value, count(*) FROM responses r JOIN states ON states.iso3 = r.state_iso3
        JOIN answers a ON a.response_id = r.id AND a.question = 'ta_types', json_each(a.value) j
        WHERE r.round_id = ? AND r.status IN ('submitted', 'validated') AND {region_expression(grouping)} = ?
          AND EXISTS (SELECT 1 FROM answers t WHERE t.response_id = a.response_id AND t.provision_id = a.provision_id
                      AND t.question = 'ta_needed' AND t.value = '"yes"')
          AND EXISTS (SELECT 1 FROM answers c WHERE c.response_id = a.response_id AND c.provision_id = a.provision_id
                      AND c.question = 'compliance' AND c.value IN (SELECT value FROM json_each(?)))
        GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2"""
    ta_by_provision: dict[str, list] = defaultdict(list)
    ta_codes = json.dumps(asked_codes(model, "ta_needed"))
    for pid, code, count in db.execute(counted_sql, [round_id, region, ta_codes]):
        ta_by_provision[pid].append({"code": code, "label": ta_list.label(code), "states": count})
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
        provision = model.provisions[row["provision_id"]]
        ranked.append(
            {
                **row,
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
    ta_rows = [dict(r, label=ta_list.label(r["code"])) for r in demand if r["kind"] == "ta_type"]
    challenge_rows = [
        dict(r, label=challenge_list.label(r["code"])) for r in demand if r["kind"] == "challenge"
    ]
    return {
        "round": round_id,
        "grouping": grouping,
        "grouping_label": grouping_label(grouping),
        "region": region,
        "region_label": region_label(grouping, region),
        "respondents": respondents,
        "states": states_in_region,
        "priorities": ranked,
        "top": top_rows,
        "ta_demand": ta_rows,
        "challenges": challenge_rows,
        "constants": {
            "scores": model.scoring.score,
            "weights": model.scoring.weight,
            "ta_factor": model.scoring.ta,
        },
        "figures": {
            "priorities": {
                "data": [
                    {
                        "type": "bar",
                        "orientation": "h",
                        "x": [r["priority"] for r in reversed(top_rows)],
                        "y": [r["provision_id"] for r in reversed(top_rows)],
                        "hovertext": [
                            _plain(
                                f"{r['provision_id']} {r['title']}: gap share {r['gap_share']:.0%}, TA share {r['ta_share']:.0%}"
                            )
                            for r in reversed(top_rows)
                        ],
                        "hoverinfo": "text",
                    }
                ],
                "layout": {
                    "title": {
                        "text": _plain(
                            _("Top priorities: %(region)s", region=region_label(grouping, region))
                        )
                    },
                    "xaxis": {"title": {"text": _plain(_("Priority"))}},
                    "height": max(320, 22 * len(top_rows) + 120),
                    "margin": {"l": 110},
                },
            },
            "ta_demand": _bar(ta_rows, _("Technical assistance requested (States)")),
            "challenges": _bar(challenge_rows, _("Challenges reported (States)")),
        },
    }


def _bar(rows, title):
    return {
        "data": [
            {
                "type": "bar",
                "x": [_plain(r["label"]) for r in rows],
                "y": [r["n_states"] for r in rows],
                "customdata": [r["n_selections"] for r in rows],
                "hovertemplate": "%{x}: %{y} States, %{customdata} selections<extra></extra>",
            }
        ],
        "layout": {
            "title": {"text": _plain(title)},
            "yaxis": {"title": {"text": _plain(_("States"))}},
            "margin": {"b": 160},
        },
    }


def heatmap(db, model, round_id: str, grouping: str, *, lang: str = "en") -> dict:
    """Gap share per region x chapter (pooled over the chapter's provisions)."""
    rows = regional_priorities(db, model, round_id, grouping)
    shares = chapter_gap_shares(rows, model)
    regions = sorted({r for r, _ in shares})
    chapters = [c for c in model.chapters.values()]
    z = [[shares.get((region, c.key)) for c in chapters] for region in regions]
    labels = [
        f"{c.instrument} {c.number + '. ' if c.number else ''}{c.title.get(lang)}" for c in chapters
    ]
    return {
        "round": round_id,
        "grouping": grouping,
        "regions": [{"region": r, "label": region_label(grouping, r)} for r in regions],
        "chapters": [
            {"key": c.key, "label": label} for c, label in zip(chapters, labels, strict=True)
        ],
        "z": z,
        "figure": {
            "data": [
                {
                    "type": "heatmap",
                    "z": z,
                    "x": [_plain(label) for label in labels],
                    "y": [_plain(region_label(grouping, r)) for r in regions],
                    "zmin": 0,
                    "zmax": 1,
                    "colorscale": "YlOrRd",
                    "reversescale": True,  # plotly's YlOrRd runs dark to light; more gaps = darker red
                    "hovertemplate": "%{y}<br>%{x}<br>"
                    + _plain(_("Gap share"))
                    + " %{z:.0%}<extra></extra>",
                    "colorbar": {"title": {"text": _plain(_("Gap share"))}, "tickformat": ".0%"},
                }
            ],
            "layout": {
                "title": {"text": _plain(_("Share of responding States with a gap, by chapter"))},
                "height": 260 + 40 * len(regions),
                "margin": {"b": 40},
                "xaxis": {"tickangle": -45, "automargin": True},
                "yaxis": {"automargin": True},
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
    changes = []
    for row in data["provisions"]:
        provision = model.provisions[row["provision_id"]]
        changes.append(
            {
                **row,
                "region_label": region_label(grouping, row["region"]),
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
    states = [dict(s, region_label=region_label(grouping, s["region"])) for s in data["states"]]
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


def _gap(row: dict) -> dict:
    return {
        k: row[k] for k in ("state_iso3", "provision_id", "region", "score_before", "score_now")
    }


def state_scores(db, model, round_id: str, iso3: str) -> dict | None:
    """One State's scores: per provision, and indexes by instrument and chapter."""
    response = find_response(db, round_id, iso3)
    if response is None:
        return None
    values = {pid: answer_values(a) for pid, a in load_answers(db, response["id"]).items()}
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
