"""The 193 UN Member States shipped with the package, and region groupings over them."""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources

from ..i18n import N_, _
from .db import transaction

GROUPINGS = ("un_regional_group", "m49_region", "m49_subregion", "global")
GROUPING_LABELS = {
    "un_regional_group": N_("UN regional group"),
    "m49_region": N_("M49 region"),
    "m49_subregion": N_("M49 sub-region"),
    "global": N_("Global"),
}
UN_GROUP_LABELS = {
    "AFRICAN_GROUP": N_("African Group"),
    "ASIA_PACIFIC_GROUP": N_("Asia-Pacific Group"),
    "EASTERN_EUROPEAN_GROUP": N_("Eastern European Group"),
    "GRULAC": N_("Latin American and Caribbean Group"),
    "WEOG": N_("Western European and other States Group"),
}
GLOBAL = "World"


@cache
def reference_states() -> tuple[dict, ...]:
    """The shipped States reference data (survey/data/states.csv), one dict per State."""
    text = resources.files("survey").joinpath("data/states.csv").read_text(encoding="utf-8")
    rows = []
    for row in csv.DictReader(text.splitlines()):
        row["m49"] = int(row["m49"])
        rows.append({k: (v if v != "" else None) if k != "m49" else v for k, v in row.items()})
    return tuple(rows)


def load_states(db) -> int:
    """Insert or refresh the States table from the shipped reference data; return the count."""
    rows = reference_states()
    columns = list(rows[0])
    sql = (
        f"INSERT INTO states ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT(iso3) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in columns[1:])}"
    )
    with transaction(db):
        db.conn.executemany(sql, [[row[c] for c in columns] for row in rows])
    return len(rows)


def state_name(state: dict, lang: str = "en") -> str:
    return state.get(f"name_{lang}") or state["name_en"]


def region_label(grouping: str, region: str) -> str:
    """A region's name for people (translated when a translator is installed)."""
    if grouping == "un_regional_group":
        return _(UN_GROUP_LABELS[region]) if region in UN_GROUP_LABELS else region
    if grouping == "global":
        return _("World")
    return region


def grouping_label(grouping: str) -> str:
    return _(GROUPING_LABELS[grouping]) if grouping in GROUPING_LABELS else grouping


def region_expression(grouping: str) -> str:
    """SQL expression over the `states` table giving the region of a State in a grouping."""
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping '{grouping}'; use one of {', '.join(GROUPINGS)}")
    return f"'{GLOBAL}'" if grouping == "global" else f"states.{grouping}"


def regions(db, grouping: str) -> list[str]:
    expr = region_expression(grouping)
    return [r[0] for r in db.execute(f"SELECT DISTINCT {expr} FROM states ORDER BY 1")]


def get_state(db, iso3: str) -> dict | None:
    """The Member State row for an ISO3 code (any case), or None."""
    rows = list(db.query("SELECT * FROM states WHERE iso3 = ?", [(iso3 or "").upper()]))
    return rows[0] if rows else None


def list_states(db) -> list[dict]:
    """Every Member State, by English name."""
    return list(db.query("SELECT * FROM states ORDER BY name_en"))
