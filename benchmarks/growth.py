"""Growth: how the scoring queries, the workbook and the round comparison scale with rounds and States.

Scratch databases are synthesised from the full-size demo database (193 States, rounds 2024 and
2026) by copying its rows under new ids, so the answers' distribution stays the demo's:

- 1 round: round 2024 deleted (its answers, history, events and responses; the append-only
  trigger on answer_history is dropped in the scratch copy only);
- 4 rounds: both rounds copied as closed rounds '<id>c' (responses and answers copied, answer
  history not: nothing measured here reads it);
- 386 and 579 States: every State copied once or twice as '<ISO3>1', '<ISO3>2' (same regions,
  names suffixed), with its responses and answers in both rounds (history not copied).

Each scratch database is ANALYZEd and its WAL checkpointed and truncated before timing. The
measured round is always the current round 2026 (the comparison: 2026 against 2024).
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from common import interleaved, quiesce

CONFIGS = (
    ("1 round, 193 States", 1, 1),
    ("2 rounds, 193 States", 2, 1),
    ("4 rounds, 193 States", 4, 1),
    ("2 rounds, 386 States", 2, 2),
    ("2 rounds, 579 States", 2, 3),
)

_RESPONSE_COLUMNS = (
    "status, created_at, updated_at, submitted_at, validated_at, returned_comment, prefilled_from"
)
_ANSWER_COLUMNS = "provision_id, question, value, version, updated_at, updated_by"


def _copy_round(conn, source: str, new: str) -> None:
    conn.execute(
        "INSERT INTO rounds (id, title, questionnaire_id, questionnaire_version, instruments,"
        " opens_on, closes_on, status, previous_round, created_at)"
        " SELECT ?, title || ' (copy)', questionnaire_id, questionnaire_version, instruments,"
        " opens_on, closes_on, 'closed', NULL, '2000-01-01T00:00:00Z' FROM rounds WHERE id = ?",
        [new, source],
    )
    conn.execute(
        "INSERT INTO round_states SELECT ?, state_iso3, instruments FROM round_states WHERE round_id = ?",
        [new, source],
    )
    conn.execute(
        f"INSERT INTO responses (round_id, state_iso3, {_RESPONSE_COLUMNS})"
        f" SELECT ?, state_iso3, {_RESPONSE_COLUMNS.replace('prefilled_from', 'NULL')}"
        " FROM responses WHERE round_id = ?",
        [new, source],
    )
    conn.execute(
        f"INSERT INTO answers (response_id, {_ANSWER_COLUMNS})"
        f" SELECT n.id, {', '.join('a.' + c.strip() for c in _ANSWER_COLUMNS.split(','))}"
        " FROM answers a JOIN responses o ON o.id = a.response_id"
        " JOIN responses n ON n.round_id = ? AND n.state_iso3 = o.state_iso3 WHERE o.round_id = ?",
        [new, source],
    )


def _copy_states(conn, suffix: str) -> None:
    conn.execute(
        "INSERT INTO states SELECT iso3 || :s, iso2, m49, name_en || ' ' || :s, name_fr || ' ' || :s,"
        " name_es || ' ' || :s, name_ru || ' ' || :s, name_zh || ' ' || :s, name_ar || ' ' || :s,"
        " un_regional_group, un_regional_group_also, m49_region, m49_subregion,"
        " m49_intermediate_region FROM states WHERE length(iso3) = 3",
        {"s": suffix},
    )
    conn.execute(
        "INSERT INTO round_states SELECT round_id, state_iso3 || ?, instruments FROM round_states"
        " WHERE length(state_iso3) = 3",
        [suffix],
    )
    conn.execute(
        f"INSERT INTO responses (round_id, state_iso3, {_RESPONSE_COLUMNS})"
        f" SELECT round_id, state_iso3 || ?, {_RESPONSE_COLUMNS} FROM responses"
        " WHERE length(state_iso3) = 3",
        [suffix],
    )
    conn.execute(
        f"INSERT INTO answers (response_id, {_ANSWER_COLUMNS})"
        f" SELECT n.id, {', '.join('a.' + c.strip() for c in _ANSWER_COLUMNS.split(','))}"
        " FROM answers a JOIN responses o ON o.id = a.response_id AND length(o.state_iso3) = 3"
        " JOIN responses n ON n.round_id = o.round_id AND n.state_iso3 = o.state_iso3 || ?",
        [suffix],
    )


def _drop_round(conn, round_id: str) -> None:
    responses = "SELECT id FROM responses WHERE round_id = ?"
    conn.execute("DROP TRIGGER answer_history_no_delete")
    conn.execute(f"DELETE FROM answer_history WHERE response_id IN ({responses})", [round_id])
    conn.execute(f"DELETE FROM answers WHERE response_id IN ({responses})", [round_id])
    conn.execute(f"DELETE FROM response_events WHERE response_id IN ({responses})", [round_id])
    conn.execute("UPDATE responses SET prefilled_from = NULL WHERE prefilled_from = ?", [round_id])
    conn.execute("DELETE FROM responses WHERE round_id = ?", [round_id])
    conn.execute("DELETE FROM round_states WHERE round_id = ?", [round_id])
    conn.execute("UPDATE rounds SET previous_round = NULL WHERE previous_round = ?", [round_id])
    conn.execute("DELETE FROM rounds WHERE id = ?", [round_id])


def synthesise(source: Path, dest: Path, *, rounds: int, state_copies: int) -> dict:
    """A scratch copy of the demo database with the given rounds and State copies; its sizes."""
    quiesce(source)
    shutil.copy(source, dest)
    conn = sqlite3.connect(str(dest), isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    ids = [r[0] for r in conn.execute("SELECT id FROM rounds ORDER BY created_at, id")]
    if rounds == 1:
        _drop_round(conn, ids[0])
    elif rounds == 4:
        for round_id in ids:
            _copy_round(conn, round_id, f"{round_id}c")
    elif rounds != 2:
        raise ValueError("rounds: 1, 2 or 4")
    for copy in range(1, state_copies):
        _copy_states(conn, str(copy))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    sizes = {
        "rounds": conn.execute("SELECT count(*) FROM rounds").fetchone()[0],
        "states": conn.execute("SELECT count(*) FROM states").fetchone()[0],
        "answers": conn.execute("SELECT count(*) FROM answers").fetchone()[0],
    }
    conn.close()
    quiesce(dest)
    return sizes


def measure(source: Path, workdir: Path, *, runs: int, workbook_runs: int, report=print) -> list:
    """Every configuration: interleaved product/floor of the three queries, then the workbook."""
    import queries
    import workbook

    from survey.questionnaire import get_questionnaire
    from survey.storage import connect

    model = get_questionnaire()
    rows = []
    for label, rounds, copies in CONFIGS:
        path = workdir / f"growth-{rounds}r-{copies}s.db"
        if rounds == 2 and copies == 1:
            shutil.copy(source, path)
            quiesce(path)
            db0 = sqlite3.connect(str(path))
            sizes = {
                "rounds": 2,
                "states": db0.execute("SELECT count(*) FROM states").fetchone()[0],
                "answers": db0.execute("SELECT count(*) FROM answers").fetchone()[0],
            }
            db0.close()
        else:
            sizes = synthesise(source, path, rounds=rounds, state_copies=copies)
        db = connect(path, migrate=False)
        series = {
            "aggregation": lambda db=db: queries.aggregation(db, model, "2026"),
            "aggregation floor": lambda db=db: queries.aggregation_floor(db, "2026"),
            "ta demand": lambda db=db: queries.demand(db, model, "2026"),
            "ta demand floor": lambda db=db: queries.demand_floor(db, "2026"),
        }
        if rounds >= 2:
            series["comparison"] = lambda db=db: queries.comparison(db, model, "2026", "2024")
            series["comparison floor"] = lambda db=db: queries.comparison_floor(db, "2026", "2024")
        timings = interleaved(series, runs)
        db.conn.close()
        book = workbook.measure(path, "2026", workbook_runs, series=("product",))
        shutil.rmtree(book["workdir"], ignore_errors=True)
        row = {"label": label, **sizes, "timings": timings, "workbook": book["product"]}
        rows.append(row)
        report(growth_line(row))
        path.unlink()
        for extra in ("-wal", "-shm"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
    return rows


def _pair(timings, name) -> str:
    if name not in timings:
        return "n/a (one round)"
    p, f = timings[name], timings[f"{name} floor"]
    return f"{p['median'] * 1000:.0f} ms / {f['median'] * 1000:.0f} ms = {p['median'] / f['median']:.1f}x"


def growth_line(row) -> str:
    t, w = row["timings"], row["workbook"]
    return (
        f"- {row['label']} ({row['answers']:,} answers): aggregation {_pair(t, 'aggregation')};"
        f" TA demand {_pair(t, 'ta demand')}; comparison {_pair(t, 'comparison')};"
        f" workbook {w['median']:.1f} s, peak {w['peak_mb']:.0f} MB"
    )


def table(rows) -> list[str]:
    """Markdown: medians, product / floor, with n and the spread of the products."""
    out = [
        "| database | answers | aggregation: product / floor | TA demand: product / floor | round comparison: product / floor | workbook (product only) |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        t, w = row["timings"], row["workbook"]

        def cell(name, t=t):
            if name not in t:
                return "n/a (one round)"
            p, f = t[name], t[f"{name} floor"]
            return (
                f"{p['median'] * 1000:.0f} ms ({p['min'] * 1000:.0f}-{p['max'] * 1000:.0f})"
                f" / {f['median'] * 1000:.0f} ms = **{p['median'] / f['median']:.1f}x**, n={p['runs']}"
            )

        out.append(
            f"| {row['label']} | {row['answers']:,} | {cell('aggregation')} | {cell('ta demand')}"
            f" | {cell('comparison')} | {w['median']:.1f} s ({w['min']:.1f}-{w['max']:.1f}),"
            f" peak {w['peak_mb']:.0f} MB, n={w['runs']} |"
        )
    return out


# "Flat": the workbook's peak at three times the States stays within this share of its peak at
# the demo's 193 (the process's own imports and the XlsxWriter buffers are most of the figure).
FLAT_MEMORY = 0.05


def memory_verdict(rows) -> tuple[str, bool]:
    """One line on whether the workbook's peak memory is flat in the number of States, and
    whether it is (None-safe: ('', True) when either size was not measured)."""
    by_states = {
        row["states"]: row["workbook"]["peak_mb"]
        for row in rows
        if row["rounds"] == 2 and row["workbook"]
    }
    if 193 not in by_states or 579 not in by_states:
        return "", True
    small, large = by_states[193], by_states[579]
    flat = large <= small * (1 + FLAT_MEMORY)
    sizes = ", ".join(f"{n} States {mb:.0f} MB" for n, mb in sorted(by_states.items()))
    return (
        f"Workbook peak memory (two rounds): {sizes}; {'flat' if flat else 'NOT flat'}"
        f" (target: 579 States within {FLAT_MEMORY:.0%} of 193).",
        flat,
    )
