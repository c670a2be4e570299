"""The scoring queries and their floors: each floor fetches, with one plain SELECT into Python
tuples, exactly the input rows its query reads (same responses, same answers, same columns),
and does nothing else. product / floor is then what the query adds to merely reading its data.
"""

from __future__ import annotations

from survey.scoring import COUNTED_STATUSES, all_priorities, ta_demand
from survey.storage.states import GROUPINGS, region_expression

GROUPING = "un_regional_group"  # the report pages' default grouping
_STATUSES = ", ".join(f"'{s}'" for s in COUNTED_STATUSES)


def aggregation(db, model, round_id: str):
    """Product: the regional priorities of every grouping at once (what the workbook and the
    report pages rank)."""
    return all_priorities(db, model, round_id)


def aggregation_floor(
    db, round_id: str, *, rounds=None, groupings=GROUPINGS, region_of=None, region=None
):
    """Floor: the counted responses' compliance answers with each State's regions and the
    ta_needed answer of the same provision, the rows the aggregation's scored CTE reads (with
    `region_of`, an ISO3 code: only the States in that State's region of the first grouping;
    with `region`, a region code of the first grouping: only its States)."""
    rounds = rounds or [round_id]
    regions = ", ".join(region_expression(g) for g in groupings)
    marks = ", ".join("?" for _ in rounds)
    params = list(rounds)
    only = ""
    if region_of is not None:
        column = region_expression(groupings[0])
        only = f" AND {column} = (SELECT {column} FROM states WHERE iso3 = ?)"
        params.append(region_of)
    elif region is not None:
        only = f" AND {region_expression(groupings[0])} = ?"
        params.append(region)
    sql = f"""SELECT r.round_id, r.id, r.state_iso3, {regions}, a.provision_id, a.value, t.value
        FROM responses r JOIN states ON states.iso3 = r.state_iso3
        JOIN answers a ON a.question = 'compliance' AND a.response_id = r.id
        LEFT JOIN answers t ON t.question = 'ta_needed' AND t.response_id = a.response_id
            AND t.provision_id = a.provision_id
        WHERE r.round_id IN ({marks}) AND r.status IN ({_STATUSES}){only}"""
    return db.execute(sql, params).fetchall()


def demand(db, model, round_id: str):
    """Product: TA types and challenges per region of the default grouping (the priorities page
    runs it per region, the workbook per grouping)."""
    return ta_demand(db, model, round_id, GROUPING)


def _answers_floor(db, round_id: str, questions, region):
    """The counted responses' answers to `questions` with the State's region (of GROUPING),
    only the States of `region` when given."""
    expr = region_expression(GROUPING)
    marks = ", ".join(f"'{q}'" for q in questions)
    only, params = ("", [round_id]) if region is None else (f" AND {expr} = ?", [round_id, region])
    sql = f"""SELECT r.state_iso3, {expr}, a.provision_id, a.question, a.value
        FROM responses r JOIN states ON states.iso3 = r.state_iso3
        JOIN answers a ON a.response_id = r.id AND a.question IN ({marks})
        WHERE r.round_id = ? AND r.status IN ({_STATUSES}){only}"""
    return db.execute(sql, params).fetchall()


def demand_floor(db, round_id: str, *, region=None):
    """Floor: the counted responses' compliance, ta_needed, ta_types and challenges answers with
    the State's region, the rows ta_demand reads (before it unpacks the JSON lists); with
    `region`, only its States."""
    return _answers_floor(
        db, round_id, ("compliance", "ta_needed", "ta_types", "challenges"), region
    )


def coverage_floor(db, round_id: str, *, region=None):
    """Floor of the unmet-demand report: the counted responses' compliance, ta_needed, ta_types,
    ta_received and ta_provider answers with the State's region (what ta_coverage_rows reads),
    plus the aggregation's rows it ranks the needs by; with `region`, only its States."""
    questions = ("compliance", "ta_needed", "ta_types", "ta_received", "ta_provider")
    return _answers_floor(db, round_id, questions, region) + aggregation_floor(
        db, round_id, groupings=[GROUPING], region=region
    )


def comparison(db, model, round_id: str, previous: str):
    """Product: the round comparison page's data (the panel's gap shares, ranks and TA shares of
    both rounds, closed and opened gaps), computed cold: the report cache is off, or every
    round after the warm-up would time a cache hit."""
    from survey.reports import comparison as compare
    from survey.reports.cache import REPORT_CACHE

    REPORT_CACHE.enabled = False
    try:
        return compare(db, model, round_id, previous, GROUPING)
    finally:
        REPORT_CACHE.enabled = True


def comparison_warm(db, model, round_id: str, previous: str):
    """The same through the report cache (a hit after the first call: the version query and a
    copy of the stored result)."""
    from survey.reports import comparison as compare

    return compare(db, model, round_id, previous, GROUPING)


def comparison_floor(db, round_id: str, previous: str):
    """Floor: the aggregation's input rows of both rounds, for the default grouping."""
    return aggregation_floor(db, round_id, rounds=[round_id, previous], groupings=[GROUPING])


def state_scores(db, model, round_id: str, iso3: str):
    from survey.reports import state_scores as scores

    return scores(db, model, round_id, iso3)


def state_scores_floor(db, round_id: str, iso3: str):
    """Floor: the State's answer rows of the round (what state_scores decodes and scores)."""
    return db.execute(
        "SELECT a.provision_id, a.question, a.value FROM answers a"
        " JOIN responses r ON r.id = a.response_id WHERE r.round_id = ? AND r.state_iso3 = ?",
        [round_id, iso3],
    ).fetchall()
