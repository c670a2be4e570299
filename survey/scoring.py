"""Scoring answers against articles (docs/scoring.md): pure Python for one State, SQL for aggregates.

The Python functions here are also the reference implementation the SQL aggregation is tested
against, so the method is written down once in plain code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .answers import relevant_answers


@dataclass(frozen=True)
class ProvisionScore:
    provision_id: str
    instrument: str
    chapter: str
    obligation: str
    compliance: str | None
    score: (
        float | None
    )  # None: 'na', unanswered or a code without a score (left out of every denominator)
    weight: float
    ta_needed: bool
    ta_types: tuple[str, ...]
    challenges: tuple[str, ...]

    @property
    def scored(self) -> bool:
        return self.score is not None

    @property
    def is_gap(self) -> bool:
        return self.score is not None and self.score < 1

    @property
    def severity(self) -> float | None:
        return None if self.score is None else self.weight * (1 - self.score)


def score_provision(model, provision, answers: dict) -> ProvisionScore:
    """The score of one provision. The code's score comes from the scoring constants (one code,
    one scale: codes are unique across obligation levels); technical assistance and challenges
    count exactly where the questionnaire's relevance rules ask them."""
    constants = model.scoring
    compliance = answers.get("compliance")
    score = constants.score.get(compliance) if compliance else None
    kept = relevant_answers(provision, answers)
    ta_needed = kept.get("ta_needed") == "yes"
    ta_types = tuple(kept.get("ta_types") or ()) if ta_needed else ()
    challenges = tuple(kept.get("challenges") or ())
    return ProvisionScore(
        provision.id,
        provision.instrument,
        provision.chapter,
        provision.obligation,
        compliance,
        score,
        constants.weight[provision.obligation],
        ta_needed,
        ta_types,
        challenges,
    )


def score_state(model, values: dict[str, dict], instruments=None) -> list[ProvisionScore]:
    """One ProvisionScore per provision of the instruments a State answers, in questionnaire order."""
    return [
        score_provision(model, p, values.get(p.id, {}))
        for inst in model.instruments
        if instruments is None or inst.code in instruments
        for p in inst.provisions
    ]


@dataclass(frozen=True)
class Index:
    index: float | None  # 0-100, None when nothing is scored
    scored: int
    applicable: int
    gaps: int

    @property
    def coverage(self) -> float | None:
        return None if not self.applicable else self.scored / self.applicable


def state_index(scores) -> Index:
    """100 x sum(w x s) / sum(w) over scored provisions; coverage = scored / applicable."""
    scores = list(scores)
    scored = [s for s in scores if s.scored]
    total_weight = sum(s.weight for s in scored)
    index = (
        None if not total_weight else 100 * sum(s.weight * s.score for s in scored) / total_weight
    )
    return Index(index, len(scored), len(scores), sum(1 for s in scored if s.is_gap))


def index_by(scores, key) -> dict:
    groups: dict = {}
    for s in scores:
        groups.setdefault(key(s), []).append(s)
    return {k: state_index(v) for k, v in groups.items()}


# -- aggregation in SQL ---------------------------------------------------------------------
#
# The SQL below implements the same method as score_provision/state_index above for many States at
# once. It relies on the standard block's relevance: ta_needed and challenges count only for the
# compliance codes whose answer shows them (asked_codes), and ta_types only where ta_needed is 'yes'.

COUNTED_STATUSES = ("submitted", "validated")


def _provisions_temp(db, model) -> None:
    """A temp table of the questionnaire's provisions with weights and order, built per connection."""
    conn = db.conn
    # Rebuilt on every call: a few hundred rows, cheaper than tracking which connection has it.
    conn.execute("DROP TABLE IF EXISTS temp.q_provisions")
    conn.execute(
        "CREATE TEMP TABLE q_provisions (provision_id TEXT PRIMARY KEY, instrument TEXT, chapter TEXT,"
        " obligation TEXT, weight REAL, ord INTEGER)"
    )
    weights = model.scoring.weight
    conn.executemany(
        "INSERT INTO temp.q_provisions VALUES (?, ?, ?, ?, ?, ?)",
        [
            (p.id, p.instrument, p.chapter, p.obligation, weights[p.obligation], p.order)
            for p in model.provisions.values()
        ],
    )
    _codes_temp(db, model)


def asked_codes(model, question: str) -> list[str]:
    """The compliance codes (JSON-encoded, as stored) for which a standard question is shown.

    Read off the question's relevance rule, so the SQL counts what the form asks. The rule must
    depend on `compliance` alone, or the answer would need more than one code to decide.
    """
    block = {q.name: q for q in model.standard_block}
    rule = block[question].relevant
    compliance = block["compliance"].choices
    if rule is not None and set(rule.questions()) - {"compliance"}:
        raise ValueError(
            f"the relevance of '{question}' must depend on compliance alone for SQL scoring"
        )
    codes = compliance.codes if compliance else ()
    return [json.dumps(c) for c in codes if rule is None or rule.evaluate({"compliance": c})]


def _codes_temp(db, model) -> None:
    """A temp table of compliance codes (as stored): score (NULL: no score) and what each asks."""
    conn = db.conn
    conn.execute("DROP TABLE IF EXISTS temp.q_codes")
    conn.execute(
        "CREATE TEMP TABLE q_codes (code TEXT PRIMARY KEY, s REAL, ta_asked INTEGER,"
        " challenges_asked INTEGER)"
    )
    block = {q.name: q for q in model.standard_block}
    codes = block["compliance"].choices.codes if block["compliance"].choices else ()
    ta, challenges = set(asked_codes(model, "ta_needed")), set(asked_codes(model, "challenges"))
    score = model.scoring.score
    conn.executemany(
        "INSERT INTO temp.q_codes VALUES (?, ?, ?, ?)",
        [
            (json.dumps(c), score.get(c), json.dumps(c) in ta, json.dumps(c) in challenges)
            for c in codes
        ],
    )


def _counted_cte(grouping: str, statuses, round_param: str = ":round") -> tuple[str, dict]:
    from .storage.states import region_expression

    expr = region_expression(grouping)
    names = [f":st{i}" for i in range(len(statuses))]
    sql = f"""counted AS (
        SELECT r.id AS response_id, r.state_iso3, {expr} AS region
        FROM responses r JOIN states ON states.iso3 = r.state_iso3
        WHERE r.round_id = {round_param} AND r.status IN ({", ".join(names)})
    )"""
    return sql, {f"st{i}": s for i, s in enumerate(statuses)}


def _score_params(model) -> dict:
    ta = model.scoring.ta
    return {"ta_yes": ta["requested"], "ta_no": ta["not_requested"]}


# One row per (counted State, scored provision). The covering index answers_by_question
# (migration 0002) serves both the compliance scan and the ta_needed look-up; temp.q_codes holds
# each code's score and whether it asks ta_needed, so no code is written into the SQL.
SCORED_CTE = """scored AS MATERIALIZED (
        SELECT c.*, a.provision_id, p.weight, p.ord, p.instrument, p.chapter, k.s AS s,
               k.ta_asked AND t.value IS NOT NULL AS ta
        FROM counted c
        JOIN answers a ON a.question = 'compliance' AND a.response_id = c.response_id
        JOIN temp.q_codes k ON k.code = a.value AND k.s IS NOT NULL
        JOIN temp.q_provisions p ON p.provision_id = a.provision_id
        LEFT JOIN answers t ON t.question = 'ta_needed' AND t.response_id = a.response_id
            AND t.provision_id = a.provision_id AND t.value = '"yes"'
    )"""


def scores_rows(db, model, round_id: str, *, statuses=COUNTED_STATUSES, grouping: str = "global"):
    """One row per (State, scored provision): region, state_iso3, provision_id, instrument,
    chapter, score, weight, severity, ta_needed, ord; an iterator over the query, so a caller
    that streams (the workbook's Scores sheet) never holds every row of a round."""
    _provisions_temp(db, model)
    counted, params = _counted_cte(grouping, statuses)
    sql = f"""WITH {counted}, {SCORED_CTE}
        SELECT region, state_iso3, provision_id, instrument, chapter, s AS score, weight,
               weight * (1 - s) AS severity, ta AS ta_needed, ord
        FROM scored ORDER BY state_iso3, ord"""
    return iter(db.execute(sql, {**params, **_score_params(model), "round": round_id}))


def _priorities(db, model, round_id, groupings, region, statuses) -> list[dict]:
    """Ranked regional aggregates for several groupings in one pass over the answers."""
    from .storage.states import region_expression

    _provisions_temp(db, model)
    names = [f":st{i}" for i in range(len(statuses))]
    columns = ", ".join(f"{region_expression(g)} AS g{i}" for i, g in enumerate(groupings))
    counted = f"""counted AS (
        SELECT r.id AS response_id, {columns}
        FROM responses r JOIN states ON states.iso3 = r.state_iso3
        WHERE r.round_id = :round AND r.status IN ({", ".join(names)})
    )"""
    where = "WHERE {col} = :region" if region is not None else ""
    parts = [
        f"""SELECT '{g}' AS grouping, g{i} AS region, provision_id, min(ord) AS ord, count(*) AS n_resp,
                   sum(s < 1) AS n_gap, avg(s < 1) AS gap_share, avg(ta) AS ta_share,
                   avg(weight * (1 - s) * CASE WHEN ta THEN :ta_yes ELSE :ta_no END) AS priority
            FROM scored {where.format(col=f"g{i}")} GROUP BY g{i}, provision_id"""
        for i, g in enumerate(groupings)
    ]
    sql = f"""WITH {counted}, {SCORED_CTE}, agg AS ({" UNION ALL ".join(parts)})
        SELECT grouping, region, provision_id, n_resp, n_gap, gap_share, ta_share, priority,
               row_number() OVER (PARTITION BY grouping, region
                                  ORDER BY round(priority, 9) DESC, n_gap DESC, ord) AS rank
        FROM agg ORDER BY grouping, region, rank"""
    params = {f"st{i}": s for i, s in enumerate(statuses)}
    params.update(_score_params(model), round=round_id, region=region)
    cursor = db.execute(sql, params)
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def regional_priorities(
    db, model, round_id: str, grouping: str, *, region: str | None = None, statuses=COUNTED_STATUSES
) -> list[dict]:
    """The regional aggregate per (region, provision), ranked inside each region (docs/scoring.md)."""
    rows = _priorities(db, model, round_id, [grouping], region, statuses)
    for row in rows:
        del row["grouping"]
    return rows


def all_priorities(
    db, model, round_id: str, *, groupings=None, statuses=COUNTED_STATUSES
) -> list[dict]:
    """regional_priorities for every grouping at once (one scan), each row naming its grouping."""
    from .storage.states import GROUPINGS

    return _priorities(db, model, round_id, list(groupings or GROUPINGS), None, statuses)


def ta_demand(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    region: str | None = None,
    instrument: str | None = None,
    statuses=COUNTED_STATUSES,
) -> list[dict]:
    """Per region, per TA type and per challenge: States selecting it at least once, and selections.

    With `instrument`, only the selections made for that instrument's provisions count.
    """
    _codes_temp(db, model)
    counted, params = _counted_cte(grouping, statuses)
    where = "AND c.region = :region" if region is not None else ""
    if instrument is not None:
        where += " AND a.provision_id LIKE :prefix"
        params["prefix"] = f"{instrument}-%"
    sql = f"""WITH {counted},
        askctx AS (
            SELECT c.region, c.state_iso3, a.response_id, a.provision_id, k.ta_asked,
                   k.challenges_asked FROM counted c
            JOIN answers a ON a.response_id = c.response_id AND a.question = 'compliance' {where}
            JOIN temp.q_codes k ON k.code = a.value
        ),
        gapctx AS (SELECT * FROM askctx WHERE challenges_asked),
        tactx AS (
            SELECT g.* FROM askctx g JOIN answers a ON a.response_id = g.response_id
                AND a.provision_id = g.provision_id AND a.question = 'ta_needed' AND a.value = '"yes"'
            WHERE g.ta_asked
        )
        SELECT g.region, 'ta_type' AS kind, j.value AS code, count(DISTINCT g.state_iso3) AS n_states, count(*) AS n_selections
        FROM tactx g JOIN answers a ON a.response_id = g.response_id AND a.provision_id = g.provision_id
            AND a.question = 'ta_types', json_each(a.value) j
        GROUP BY g.region, j.value
        UNION ALL
        SELECT g.region, 'challenge' AS kind, j.value AS code, count(DISTINCT g.state_iso3), count(*)
        FROM gapctx g JOIN answers a ON a.response_id = g.response_id AND a.provision_id = g.provision_id
            AND a.question = 'challenges', json_each(a.value) j
        GROUP BY g.region, j.value
        ORDER BY 1, 2, 5 DESC, 3"""
    cursor = db.execute(sql, {**params, "round": round_id, "region": region})
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]


def chapter_gap_shares(priorities: list[dict], model) -> dict[tuple[str, str], float]:
    """(region, chapter key) -> pooled gap share (sum n_gap / sum n_resp) for the heatmap."""
    pooled: dict[tuple[str, str], list[int]] = {}
    for row in priorities:
        provision = model.provisions[row["provision_id"]]
        key = (row["region"], f"{provision.instrument}/{provision.chapter}")
        acc = pooled.setdefault(key, [0, 0])
        acc[0] += row["n_gap"]
        acc[1] += row["n_resp"]
    return {k: v[0] / v[1] for k, v in pooled.items() if v[1]}


def reference_priorities(model, responses: list[dict]) -> list[dict]:
    """Plain-Python reference of regional_priorities, for tests: responses are
    {"region", "state", "status", "answers": {provision_id: {question: value}}}."""
    rows: dict[tuple[str, str], list] = {}
    ta_factor = model.scoring.ta
    for response in responses:
        if response["status"] not in COUNTED_STATUSES:
            continue
        for pid, answers in response["answers"].items():
            provision = model.provisions[pid]
            s = score_provision(model, provision, answers)
            if not s.scored:
                continue
            factor = ta_factor["requested"] if s.ta_needed else ta_factor["not_requested"]
            rows.setdefault((response["region"], pid), []).append((s, factor))
    out = []
    for (region, pid), items in rows.items():
        n = len(items)
        out.append(
            {
                "region": region,
                "provision_id": pid,
                "n_resp": n,
                "n_gap": sum(1 for s, _ in items if s.is_gap),
                "gap_share": sum(1 for s, _ in items if s.is_gap) / n,
                "ta_share": sum(1 for s, _ in items if s.ta_needed) / n,
                "priority": sum(s.severity * f for s, f in items) / n,
                "ord": model.provisions[pid].order,
            }
        )
    ranked = []
    for region in sorted({r["region"] for r in out}):
        group = sorted(
            (r for r in out if r["region"] == region),
            key=lambda r: (-round(r["priority"], 9), -r["n_gap"], r["ord"]),
        )
        for rank, row in enumerate(group, 1):
            row["rank"] = rank
            del row["ord"]
            ranked.append(row)
    return ranked
