"""Scoring answers against articles (docs/scoring.md): pure Python for one State, SQL for aggregates.

The Python functions here are also the reference implementation the SQL aggregation is tested
against, so the method is written down once in plain code.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
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
#
# What counts is decided by ONE rule, shared by every aggregate (priorities, scores, TA demand,
# the heatmap, the round comparison, and through them the pages, CSVs, API and workbook):
# the compliance answers of counted responses (status in `statuses`, by default submitted or
# validated) for provisions of the current questionnaire. `counted_provision` is the rule in
# Python, COUNTED_COMPLIANCE in SQL; every other answer of a provision (TA, types, challenges)
# is reached only through a counted compliance answer of that provision. Answers stored for a
# provision no longer in the questionnaire are kept in the database (and in the Answers export)
# but never counted.

COUNTED_STATUSES = ("submitted", "validated")


def counted_provision(model, provision_id: str) -> bool:
    """Whether answers stored for `provision_id` count in aggregates: it is a provision of the
    current questionnaire (exact id). The Python side of COUNTED_COMPLIANCE."""
    return provision_id in model.provisions


# FROM-clause fragment: one row per (counted response, compliance answer of a current provision),
# as `c` (the `counted` CTE: response_id, state_iso3, region...), `a` (the answer) and `p`
# (temp.q_provisions). CROSS JOIN keeps SQLite's join order: counted responses first, then
# their answers through the covering index answers_by_question, so the plan reads only the
# rounds asked for, however many rounds the database holds.
COUNTED_COMPLIANCE = """counted c
        CROSS JOIN answers a ON a.question = 'compliance' AND a.response_id = c.response_id
        CROSS JOIN temp.q_provisions p ON p.provision_id = a.provision_id"""


def _provisions_temp(db, model) -> None:
    """A temp table of the questionnaire's provisions with weights and order (and q_codes),
    built once per connection and questionnaire: a request that aggregates several times (the
    coverage page runs three queries) builds it once (about 1 ms each time)."""
    built = db.__dict__.get("_scoring_tables")
    if built is not None and built[0] is model and _built_token(db) == built[1]:
        return
    conn = db.conn
    conn.execute("DROP TABLE IF EXISTS temp.q_provisions")
    conn.execute(
        "CREATE TEMP TABLE q_provisions (provision_id TEXT PRIMARY KEY, instrument TEXT, chapter TEXT,"
        " obligation TEXT, weight REAL, ord INTEGER, article INTEGER)"
    )
    weights = model.scoring.weight
    conn.executemany(
        "INSERT INTO temp.q_provisions VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (p.id, p.instrument, p.chapter, p.obligation, weights[p.obligation], p.order, p.article)
            for p in model.provisions.values()
        ],
    )
    _codes_temp(db, model)
    # A token written with the tables: a transaction rolled back after a rebuild brings the
    # earlier tables (or none) back, and their token (or its absence) no longer matches.
    token = next(_BUILDS)
    conn.execute("DROP TABLE IF EXISTS temp.q_built")
    conn.execute("CREATE TEMP TABLE q_built (token INTEGER)")
    conn.execute("INSERT INTO temp.q_built VALUES (?)", [token])
    db._scoring_tables = (model, token)


_BUILDS = itertools.count(1)


def _built_token(db) -> int | None:
    """The token of the temp tables as they stand in this connection (None: none built)."""
    try:
        row = db.conn.execute("SELECT token FROM temp.q_built").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


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
        " challenges_asked INTEGER, received_asked INTEGER)"
    )
    block = {q.name: q for q in model.standard_block}
    codes = block["compliance"].choices.codes if block["compliance"].choices else ()
    ta, challenges = set(asked_codes(model, "ta_needed")), set(asked_codes(model, "challenges"))
    received = set(asked_codes(model, "ta_received")) if "ta_received" in block else set()
    score = model.scoring.score
    conn.executemany(
        "INSERT INTO temp.q_codes VALUES (?, ?, ?, ?, ?)",
        [
            (
                json.dumps(c),
                score.get(c),
                json.dumps(c) in ta,
                json.dumps(c) in challenges,
                json.dumps(c) in received,
            )
            for c in codes
        ],
    )


def _status_params(statuses) -> tuple[str, dict]:
    names = [f":st{i}" for i in range(len(statuses))]
    return ", ".join(names), {f"st{i}": s for i, s in enumerate(statuses)}


def _counted_cte(grouping: str, statuses, round_param: str = ":round") -> tuple[str, dict]:
    from .storage.states import region_expression

    expr = region_expression(grouping)
    marks, params = _status_params(statuses)
    sql = f"""counted AS MATERIALIZED (
        SELECT r.id AS response_id, r.state_iso3, {expr} AS region
        FROM responses r JOIN states ON states.iso3 = r.state_iso3
        WHERE r.round_id = {round_param} AND r.status IN ({marks})
    )"""
    return sql, params


def _score_params(model) -> dict:
    ta = model.scoring.ta
    return {"ta_yes": ta["requested"], "ta_no": ta["not_requested"]}


# One row per (counted State, scored provision). The covering index answers_by_question
# (migration 0002) serves both the compliance scan and the ta_needed look-up; temp.q_codes holds
# each code's score and whether it asks ta_needed, so no code is written into the SQL.
SCORED_CTE = f"""scored AS MATERIALIZED (
        SELECT c.*, a.provision_id, p.weight, p.ord, p.instrument, p.chapter, k.s AS s,
               k.ta_asked AND t.value IS NOT NULL AS ta
        FROM {COUNTED_COMPLIANCE}
        JOIN temp.q_codes k ON k.code = a.value AND k.s IS NOT NULL
        LEFT JOIN answers t ON t.question = 'ta_needed' AND t.response_id = a.response_id
            AND t.provision_id = a.provision_id AND t.value = '"yes"'
    )"""


# A scored answer's priority term, w x (1 - s) x the TA factor, over the columns of `scored`
# (docs/scoring.md): averaged per region it is the regional priority.
PRIORITY_TERM = "weight * (1 - s) * CASE WHEN ta THEN :ta_yes ELSE :ta_no END"
# `scored` read once, straight from the scan (an aggregate over one grouping).
SCORED_ONCE = SCORED_CTE.replace("MATERIALIZED", "NOT MATERIALIZED", 1)


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
    marks, params = _status_params(statuses)
    columns = ", ".join(f"{region_expression(g)} AS g{i}" for i, g in enumerate(groupings))
    # One region of one grouping: only its States are scored (a national report's context, a
    # region's page), rather than every State of the round filtered afterwards.
    one_region = (
        f"AND {region_expression(groupings[0])} = :region"
        if region is not None and len(groupings) == 1
        else ""
    )
    counted = f"""counted AS MATERIALIZED (
        SELECT r.id AS response_id, {columns}
        FROM responses r JOIN states ON states.iso3 = r.state_iso3
        WHERE r.round_id = :round AND r.status IN ({marks}) {one_region}
    )"""
    where = "WHERE {col} = :region" if region is not None else ""
    parts = [
        f"""SELECT '{g}' AS grouping, g{i} AS region, provision_id, min(ord) AS ord, count(*) AS n_resp,
                   sum(s < 1) AS n_gap, avg(s < 1) AS gap_share, avg(ta) AS ta_share,
                   avg({PRIORITY_TERM}) AS priority
            FROM scored {where.format(col=f"g{i}")} GROUP BY g{i}, provision_id"""
        for i, g in enumerate(groupings)
    ]
    # One grouping reads `scored` once: not materialized, SQLite aggregates straight from the
    # scan (15-20% faster); several groupings read it once each, so it is stored once.
    scored = SCORED_CTE if len(groupings) > 1 else SCORED_ONCE
    sql = f"""WITH {counted}, {scored}, agg AS ({" UNION ALL ".join(parts)})
        SELECT grouping, region, provision_id, n_resp, n_gap, gap_share, ta_share, priority,
               row_number() OVER (PARTITION BY grouping, region
                                  ORDER BY round(priority, 9) DESC, n_gap DESC, ord) AS rank
        FROM agg ORDER BY grouping, region, rank"""
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


def _asked(
    model, db, round_id, grouping, region, instrument, statuses, *, received: bool = False
) -> tuple[str, dict]:
    """The WITH clause of the counted compliance answers whose form asks for TA types or
    challenges, or with `received` also whether TA is already received (`asked`: region,
    state_iso3, response_id, provision_id, ta_asked, challenges_asked, received_asked), under
    the one counting rule (COUNTED_COMPLIANCE), and its parameters."""
    _provisions_temp(db, model)
    counted, params = _counted_cte(grouping, statuses)
    where = []
    if region is not None:
        where.append("c.region = :region")
    if instrument is not None:
        where.append("p.instrument = :instrument")
    # Every selection is reached from a counted compliance answer by index look-ups keyed by
    # (question, response_id, provision_id): the plan reads only the counted responses of this
    # round, so it does not grow with the number of rounds in the database.
    sql = f"""WITH {counted},
        asked AS MATERIALIZED (
            SELECT c.region, c.state_iso3, a.response_id, a.provision_id, k.ta_asked,
                   k.challenges_asked, k.received_asked
            FROM {COUNTED_COMPLIANCE}
            CROSS JOIN temp.q_codes k ON k.code = a.value
            WHERE (k.ta_asked OR k.challenges_asked {"OR k.received_asked" if received else ""})
                {"AND " + " AND ".join(where) if where else ""}
        )"""
    params.update(round=round_id, region=region, instrument=instrument)
    return sql, params


# Both ways a selection counts, in one SELECT: each selected TA type where TA is needed and the
# compliance answer asks it, and each selected challenge where it asks them. Rows: region,
# state_iso3, provision_id, kind ('ta_type' or 'challenge'), code. One SELECT rather than a
# UNION ALL of one per kind: where the database holds ANALYZE statistics, SQLite planned the
# later branch's join into `answers` with a Bloom filter, which reads the table itself instead
# of its covering index (a region's selections took 81 ms instead of 46).
SELECTIONS = """SELECT g.region, g.state_iso3, g.provision_id,
            CASE a.question WHEN 'ta_types' THEN 'ta_type' ELSE 'challenge' END AS kind,
            j.value AS code
        FROM asked g
        CROSS JOIN answers a ON a.question IN ('ta_types', 'challenges')
            AND a.response_id = g.response_id AND a.provision_id = g.provision_id
        CROSS JOIN json_each(a.value) j
        WHERE CASE a.question WHEN 'challenges' THEN g.challenges_asked
            ELSE g.ta_asked AND EXISTS (
                SELECT 1 FROM answers t WHERE t.question = 'ta_needed'
                    AND t.response_id = g.response_id AND t.provision_id = g.provision_id
                    AND t.value = '"yes"') END"""


def selection_groups(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    region: str | None = None,
    statuses=COUNTED_STATUSES,
) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """Every counted TA-type and challenge selection, under the same rule as `ta_demand` (which
    aggregates them), grouped: (kind 'ta_type' or 'challenge', provision id, code, the ISO3
    codes of the States selecting it there), one row per (kind, provision, code) selected at
    least once. A State selects a code on a provision at most once (one answer per provision
    and question, a code at most once in it), so the tuple's length is the number of
    selections."""
    sql, params = _asked(model, db, round_id, grouping, region, None, statuses)
    sql += f"""
        SELECT kind, provision_id, code, group_concat(DISTINCT state_iso3)
        FROM ({SELECTIONS}) GROUP BY kind, provision_id, code"""
    return [
        (kind, pid, code, tuple(states.split(",")))
        for kind, pid, code, states in db.execute(sql, params)
    ]


def article_needs(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    instrument: str | None = None,
    statuses=COUNTED_STATUSES,
) -> list[tuple]:
    """Counts for the TA needs by article table, aggregated in SQL under the one counting rule
    (memory does not grow with the number of States). Rows (region, what, instrument, article,
    code, n) where `what` is 'respondents' (counted States of the region that scored any
    provision; instrument, article and code None), 'scored' (States that scored a provision of
    the article), 'need' (of those, States reporting a TA need on one) or 'type' (States
    selecting TA type `code` on one). With `instrument`, only its articles (not respondents)."""
    _provisions_temp(db, model)
    counted, params = _counted_cte(grouping, statuses)
    only = "WHERE g.instrument = :instrument" if instrument is not None else ""
    # The TA types of a need are read in the scan, by a scalar look-up, so no branch of the
    # UNION ALL below joins `answers`: SQLite plans such a join in a later branch with a Bloom
    # filter where the database holds statistics, reading the table instead of its covering
    # index (152 to 112 ms for every region of the demo).
    sql = f"""WITH {counted},
        scored AS MATERIALIZED (
            SELECT c.region, c.state_iso3, a.response_id, a.provision_id, p.instrument,
                   p.article, k.ta_asked AND t.value IS NOT NULL AS need,
                   CASE WHEN k.ta_asked AND t.value IS NOT NULL
                       AND (:instrument IS NULL OR p.instrument = :instrument) THEN (
                       SELECT v.value FROM answers v INDEXED BY answers_by_question
                       WHERE v.question = 'ta_types' AND v.response_id = a.response_id
                           AND v.provision_id = a.provision_id) END AS ta_types
            FROM {COUNTED_COMPLIANCE}
            CROSS JOIN temp.q_codes k ON k.code = a.value AND k.s IS NOT NULL
            LEFT JOIN answers t ON t.question = 'ta_needed' AND t.response_id = a.response_id
                AND t.provision_id = a.provision_id AND t.value = '"yes"'
        )
        SELECT region, 'respondents', NULL, NULL, NULL, count(DISTINCT state_iso3)
        FROM scored GROUP BY region
        UNION ALL
        SELECT g.region, 'scored', g.instrument, g.article, NULL, count(DISTINCT g.state_iso3)
        FROM scored g {only} GROUP BY g.region, g.instrument, g.article
        UNION ALL
        SELECT g.region, 'need', g.instrument, g.article, NULL, count(DISTINCT g.state_iso3)
        FROM scored g WHERE g.need {only.replace("WHERE", "AND")}
        GROUP BY g.region, g.instrument, g.article
        UNION ALL
        SELECT g.region, 'type', g.instrument, g.article, j.value, count(DISTINCT g.state_iso3)
        FROM scored g CROSS JOIN json_each(g.ta_types) j
        WHERE g.need {only.replace("WHERE", "AND")}
        GROUP BY g.region, g.instrument, g.article, j.value"""
    params.update(round=round_id, instrument=instrument)
    return db.execute(sql, params).fetchall()


def ta_coverage_rows(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    region: str | None = None,
    instrument: str | None = None,
    providers: bool = True,
    statuses=COUNTED_STATUSES,
) -> tuple[list[tuple], list[tuple[str, str, str, str]]]:
    """Unmet TA demand and the providers already helping, counted in SQL in one pass under the
    rule of `ta_demand` (memory does not grow with the number of States); `region` and
    `instrument` filter as in `ta_demand`. Returns (counts, providers):

    counts: rows (region, provision id, code, requested, received, uncovered): with a TA type
    `code`, the States requesting it and those of them already receiving TA on the provision
    (uncovered None); with code None, the provision's totals over all types and `uncovered` the
    ISO3 codes of requesting States not receiving TA, space separated (unordered).

    providers: every counted "TA already received" that names its provider: rows (region,
    State ISO3, provision id, provider text as the State wrote it); [] when `providers` is
    False. TA received counts where the compliance answer asks it."""
    sql, params = _asked(model, db, round_id, grouping, region, instrument, statuses, received=True)
    provider = (
        """CASE WHEN rec THEN (SELECT v.value FROM answers v INDEXED BY answers_by_question
            WHERE v.question = 'ta_provider' AND v.response_id = l.response_id
                AND v.provision_id = l.provision_id) END"""
        if providers
        else "NULL"
    )
    # Each asked answer once, with what the three results need looked up by index: the TA
    # types where TA is needed, whether TA is already received, and the provider named. The
    # results then read this table only: no branch of the UNION ALL joins `answers`, which
    # SQLite would plan with a Bloom filter where the database holds statistics (reading the
    # table instead of its covering index: twice as slow).
    sql += f""",
        looked AS MATERIALIZED (
            SELECT g.region, g.state_iso3, g.provision_id, g.response_id,
                   CASE WHEN g.ta_asked AND EXISTS (
                           SELECT 1 FROM answers t WHERE t.question = 'ta_needed'
                               AND t.response_id = g.response_id
                               AND t.provision_id = g.provision_id AND t.value = '"yes"')
                       THEN (SELECT v.value FROM answers v INDEXED BY answers_by_question
                           WHERE v.question = 'ta_types' AND v.response_id = g.response_id
                               AND v.provision_id = g.provision_id) END AS types,
                   g.received_asked AND EXISTS (
                       SELECT 1 FROM answers r WHERE r.question = 'ta_received'
                           AND r.response_id = g.response_id AND r.provision_id = g.provision_id
                           AND r.value = '"yes"') AS rec
            FROM asked g WHERE g.ta_asked OR g.received_asked
        ),
        base AS MATERIALIZED (SELECT l.*, {provider} AS provider FROM looked l)
        SELECT 'type', region, provision_id, j.value, count(DISTINCT state_iso3),
               count(DISTINCT CASE WHEN rec THEN state_iso3 END), NULL
        FROM base CROSS JOIN json_each(base.types) j
        GROUP BY region, provision_id, j.value
        UNION ALL
        SELECT 'total', region, provision_id, NULL, count(*), sum(rec),
               group_concat(CASE WHEN NOT rec THEN state_iso3 END, ' ')
        FROM base WHERE json_array_length(types) > 0
        GROUP BY region, provision_id
        UNION ALL
        SELECT 'provider', region, provision_id, state_iso3, NULL, NULL, provider
        FROM base WHERE provider IS NOT NULL"""
    from .storage.responses import decode

    counts, named = [], []
    for kind, region_, pid, code, requested, received, text in db.execute(sql, params):
        if kind == "provider":
            named.append((region_, code, pid, decode(text)))
        else:
            counts.append((region_, pid, code, requested, received, text))
    return counts, named


def counted_states(
    db, round_id: str, grouping: str, *, statuses=COUNTED_STATUSES
) -> dict[str, int]:
    """Region -> number of States whose response in `round_id` counts (the `counted` CTE)."""
    counted, params = _counted_cte(grouping, statuses)
    sql = f"WITH {counted} SELECT region, count(DISTINCT state_iso3) FROM counted GROUP BY region"
    return dict(db.execute(sql, {**params, "round": round_id}).fetchall())


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

    Returns one dict per (region, kind, code): `region`, `kind` ('ta_type' or 'challenge'),
    `code` (the choice code), `n_states` (counted States of the region that selected it for at
    least one provision) and `n_selections` (number of (State, provision) selections), ordered by
    region, kind, n_selections descending, code. Only selections the form asks count: TA types
    where `ta_needed` is 'yes' and the compliance answer asks it, challenges where the compliance
    answer asks them; only on provisions of the current questionnaire (COUNTED_COMPLIANCE).
    With `instrument` (an instrument code, exact), only that instrument's provisions count; an
    unknown code gives []. Raises ValueError for an unknown grouping.
    """
    sql, params = _asked(model, db, round_id, grouping, region, instrument, statuses)
    sql += f"""
        SELECT region, kind, code, count(DISTINCT state_iso3) AS n_states,
               count(*) AS n_selections
        FROM ({SELECTIONS})
        GROUP BY region, kind, code
        ORDER BY region, kind, n_selections DESC, code"""
    cursor = db.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor]


POPULATIONS = ("panel", "all")


def round_changes(
    db,
    model,
    round_id: str,
    previous_round: str,
    grouping: str,
    *,
    region: str | None = None,
    population: str = "panel",
    statuses=COUNTED_STATUSES,
) -> dict:
    """The regional aggregate of two rounds side by side, computed in SQL (docs/scoring.md).

    `population` 'panel' (default) counts only the States counted in both rounds, so a change is
    a change of the same States; 'all' counts every State counted in each round. Returns::

        {"states": [{"region", "n_before", "n_now"}, ...],      # counted States per region
         "provisions": [{"region", "provision_id", "ord",
                         "n_resp_before", "n_resp_now", "n_gap_before", "n_gap_now",
                         "gap_share_before", "gap_share_now",      # 0..1
                         "n_ta_before", "n_ta_now", "ta_share_before", "ta_share_now",
                         "priority_before", "priority_now",
                         "rank_before", "rank_now"}, ...],         # rank 1 = highest priority
         "gaps": [{"region", "state_iso3", "provision_id", "score_before", "score_now",
                   "closed": bool}, ...]}                          # closed, or opened when False

    `provisions` holds every (region, provision) scored in both rounds, ordered by region and
    questionnaire order; ranks are those of each round's own ranking over the same population
    (rank_now < rank_before: the provision moved up). `gaps` lists the (State, provision)
    pairs whose gap closed (score < 1 before, 1 now) or opened (1 before, < 1 now). Raises
    ValueError for an unknown grouping or population.
    """
    from .storage.states import region_expression

    if population not in POPULATIONS:
        raise ValueError(f"unknown population '{population}'; use one of {', '.join(POPULATIONS)}")
    expr = region_expression(grouping)
    _provisions_temp(db, model)
    marks, params = _status_params(statuses)
    params.update(_score_params(model), now=round_id, before=previous_round, region=region)
    region_filter = f"AND {expr} = :region" if region is not None else ""
    panel_filter = (
        "WHERE state_iso3 IN (SELECT state_iso3 FROM sides GROUP BY state_iso3 HAVING min(side) = 0 AND max(side) = 1)"
        if population == "panel"
        else ""
    )
    sides = f"""sides AS (
            SELECT 1 AS side, r.id AS response_id, r.state_iso3, {expr} AS region
            FROM responses r JOIN states ON states.iso3 = r.state_iso3
            WHERE r.round_id = :now AND r.status IN ({marks}) {region_filter}
            UNION ALL
            SELECT 0, r.id, r.state_iso3, {expr}
            FROM responses r JOIN states ON states.iso3 = r.state_iso3
            WHERE r.round_id = :before AND r.status IN ({marks}) {region_filter}
        ),
        counted AS MATERIALIZED (SELECT * FROM sides {panel_filter})"""
    states = _dicts(
        db.execute(
            f"""WITH {sides}
            SELECT region, sum(side = 0) AS n_before, sum(side = 1) AS n_now
            FROM counted GROUP BY region ORDER BY region""",
            params,
        )
    )
    # One pass over the scored answers of both rounds (side 1 is `round_id`, side 0
    # `previous_round`), grouped by (region, provision) with each round's figures side by side;
    # each round ranks the provisions it scored (those it did not sort last).
    provisions = _dicts(
        db.execute(
            f"""WITH {sides}, {SCORED_ONCE},
            pivot AS (
                SELECT region, provision_id, min(ord) AS ord,
                       sum(side = 0) AS n_resp_before, sum(side = 1) AS n_resp_now,
                       sum(side = 0 AND s < 1) AS n_gap_before,
                       sum(side = 1 AND s < 1) AS n_gap_now,
                       sum(side = 0 AND ta) AS n_ta_before, sum(side = 1 AND ta) AS n_ta_now,
                       total(CASE WHEN side = 0 THEN {PRIORITY_TERM} END) AS sum_before,
                       total(CASE WHEN side = 1 THEN {PRIORITY_TERM} END) AS sum_now
                FROM scored GROUP BY region, provision_id
            ), shares AS (
                SELECT region, provision_id, ord, n_resp_before, n_resp_now,
                       n_gap_before, n_gap_now,
                       n_gap_before * 1.0 / n_resp_before AS gap_share_before,
                       n_gap_now * 1.0 / n_resp_now AS gap_share_now,
                       n_ta_before, n_ta_now,
                       n_ta_before * 1.0 / n_resp_before AS ta_share_before,
                       n_ta_now * 1.0 / n_resp_now AS ta_share_now,
                       sum_before / n_resp_before AS priority_before,
                       sum_now / n_resp_now AS priority_now
                FROM pivot
            ), ranked AS (
                SELECT *,
                    row_number() OVER (PARTITION BY region ORDER BY n_resp_before = 0,
                        round(priority_before, 9) DESC, n_gap_before DESC, ord) AS rank_before,
                    row_number() OVER (PARTITION BY region ORDER BY n_resp_now = 0,
                        round(priority_now, 9) DESC, n_gap_now DESC, ord) AS rank_now
                FROM shares
            )
            SELECT * FROM ranked WHERE n_resp_before > 0 AND n_resp_now > 0
            ORDER BY region, ord""",
            params,
        )
    )
    # Gaps closed or opened: each scored answer of this round of a State counted in both
    # rounds (in either population) with the same provision's scored answer of the previous
    # round, looked up by index; no grouping of both rounds' rows. The answers drive the
    # query and the previous answer is a scalar look-up so that no join into `answers` is
    # planned with a Bloom filter (SQLite does that where the database holds statistics, and
    # then reads the table instead of the covering index: seven times slower for one region).
    gaps = _dicts(
        db.execute(
            f"""WITH {sides},
            pairs AS MATERIALIZED (
                SELECT n.region, n.state_iso3, n.response_id AS now_id, b.response_id AS before_id
                FROM counted n JOIN counted b ON b.state_iso3 = n.state_iso3 AND b.side = 0
                WHERE n.side = 1
            )
            SELECT x.region, x.state_iso3, a.provision_id, kb.s AS score_before,
                   kn.s AS score_now, kn.s >= 1 AS closed
            FROM answers a INDEXED BY answers_by_question
            CROSS JOIN pairs x ON x.now_id = a.response_id
            CROSS JOIN temp.q_provisions p ON p.provision_id = a.provision_id
            CROSS JOIN temp.q_codes kn ON kn.code = a.value
            CROSS JOIN temp.q_codes kb ON kb.code = (
                SELECT ab.value FROM answers ab INDEXED BY answers_by_question
                WHERE ab.question = 'compliance' AND ab.response_id = x.before_id
                    AND ab.provision_id = a.provision_id)
            WHERE a.question = 'compliance' AND a.response_id IN (SELECT now_id FROM pairs)
                AND (kb.s < 1) != (kn.s < 1)
            ORDER BY x.region, x.state_iso3, p.ord""",
            params,
        )
    )
    for row in gaps:
        row["closed"] = bool(row["closed"])
    return {"states": states, "provisions": provisions, "gaps": gaps}


def _dicts(cursor) -> list[dict]:
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
    {"region", "state", "status", "answers": {provision_id: {question: value}}}; answers for a
    provision not in the questionnaire are left out (counted_provision), as in the SQL."""
    rows: dict[tuple[str, str], list] = {}
    ta_factor = model.scoring.ta
    for response in responses:
        if response["status"] not in COUNTED_STATUSES:
            continue
        for pid, answers in response["answers"].items():
            if not counted_provision(model, pid):
                continue
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
