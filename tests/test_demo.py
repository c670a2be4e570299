"""The demo dataset: complete, deterministic, plausible, consistent with the storage rules."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from types import SimpleNamespace

import pytest
from werkzeug.security import generate_password_hash

import survey.storage.users as users
from survey.answers import clean_value, relevant_answers
from survey.demo import (
    UNDERLYING,
    DemoError,
    credentials_text,
    demo_accounts,
    ensure_demo,
    generate_demo,
)
from survey.setup import prepare
from survey.storage.responses import decode, encode, get_or_create_response
from survey.storage.rounds import create_round, current_round, get_round, round_titles

# The demo's underlying state of implementation, whatever the provision's answer scale.
SCORE = {code: {"no": 0, "partly": 1, "yes": 2}.get(u) for code, u in UNDERLYING.items()}
SCORE = {code: v for code, v in SCORE.items() if v is not None}


def _fast_hashing(mp):
    fast = lambda pw: generate_password_hash(pw, method="pbkdf2:sha256:1000")  # noqa: E731
    mp.setattr(users, "generate_password_hash", fast)


def _build(tmp_path_factory, questionnaire, seed=2026):
    with pytest.MonkeyPatch.context() as mp:
        _fast_hashing(mp)
        path = tmp_path_factory.mktemp("demo") / "survey.db"
        db, _ = prepare(path)
        default = current_round(db)["id"]
        summary = generate_demo(db, questionnaire, seed=seed)
    return SimpleNamespace(db=db, summary=summary, default=default)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, questionnaire):
    built = _build(tmp_path_factory, questionnaire)
    print(
        f"demo generation: {built.summary['seconds']} s "
        f"(building {built.summary['seconds_building']} s, writing {built.summary['seconds_writing']} s)"
    )
    yield built
    built.db.conn.close()


@pytest.fixture(scope="module")
def current(demo):
    return demo.summary["rounds"]["current"]


@pytest.fixture(scope="module")
def values(demo):
    """{(round, iso3, provision): {question: value}} of the whole dataset."""
    out: dict = defaultdict(dict)
    for round_id, iso3, pid, question, value in demo.db.execute(
        "SELECT r.round_id, r.state_iso3, a.provision_id, a.question, a.value"
        " FROM answers a JOIN responses r ON r.id = a.response_id"
    ):
        out[(round_id, iso3, pid)][question] = json.loads(value)
    return out


def _fingerprint(db) -> str:
    """A hash of the ordered rows (answer_history mirrors answers: see the history test)."""
    digest = hashlib.sha256()
    for table in ("responses", "answers", "response_events"):
        cursor = db.execute(f"SELECT * FROM {table} ORDER BY id")
        while rows := cursor.fetchmany(20_000):
            digest.update(repr(rows).encode())
    return digest.hexdigest()


def test_every_state_has_a_validated_2024_response(demo, current):
    db = demo.db
    states = db.execute("SELECT count(*) FROM states").fetchone()[0]
    assert states == 193
    rows = db.execute(
        "SELECT status, count(*) FROM responses WHERE round_id = '2024' GROUP BY status"
    ).fetchall()
    assert rows == [("validated", 193)]
    without_answers = db.execute(
        "SELECT count(*) FROM responses r WHERE round_id = '2024'"
        " AND NOT EXISTS (SELECT 1 FROM answers a WHERE a.response_id = r.id)"
    ).fetchone()[0]
    assert without_answers == 0
    previous = get_round(db, "2024")
    assert previous["status"] == "closed" and previous["previous_round"] is None
    assert previous["created_at"] < get_round(db, current)["created_at"]


def test_current_round_reuses_the_empty_default_round(demo, current):
    assert demo.summary["reused_round"] is True
    assert current == demo.default
    assert get_round(demo.db, current)["previous_round"] == "2024"
    assert current_round(demo.db)["id"] == current


def test_both_rounds_have_their_title_in_the_six_languages(demo, current):
    previous = round_titles(get_round(demo.db, "2024"))
    assert previous == {
        "en": "Self-assessment 2024",
        "fr": "Auto-évaluation 2024",
        "es": "Autoevaluación 2024",
        "ru": "Самооценка 2024 года",
        "zh": "2024年自评",
        "ar": "التقييم الذاتي لعام 2024",
    }
    assert set(round_titles(get_round(demo.db, current))) == set(previous)


def test_current_round_status_mix(demo, current):
    db = demo.db
    counts = dict(
        db.execute(
            "SELECT status, count(*) FROM responses WHERE round_id = ? GROUP BY status", [current]
        ).fetchall()
    )
    started = sum(counts.values())
    not_started = 193 - started
    done = counts.get("submitted", 0) + counts.get("validated", 0)
    assert 0.65 <= done / 193 <= 0.75
    assert counts.get("draft", 0) >= 10 and counts.get("returned", 0) >= 3
    assert not_started >= 10
    assert demo.summary["status_counts"][current] == {**counts, "not_started": not_started}
    # The respondents' States each show a different stage.
    status = dict(
        db.execute("SELECT state_iso3, status FROM responses WHERE round_id = ?", [current])
    )
    assert status["KEN"] == "draft" and status["BRA"] == "returned"
    assert status["EGY"] == "validated" and status["FRA"] == "submitted"
    assert "IND" not in status


def test_drafts_are_partial_and_others_complete(demo, current, values, questionnaire):
    total = len(questionnaire.provisions)
    answered = Counter()
    for round_id, iso3, _pid in values:
        if round_id == current:
            answered[iso3] += 1
    status = dict(
        demo.db.execute("SELECT state_iso3, status FROM responses WHERE round_id = ?", [current])
    )
    for iso3, st in status.items():
        if st == "draft":
            assert 0.1 * total <= answered[iso3] < total
        else:
            assert answered[iso3] == total


def test_status_events_follow_the_workflow(demo, current):
    db = demo.db
    for rid, status, comment in db.execute(
        "SELECT id, status, returned_comment FROM responses WHERE round_id = ?", [current]
    ).fetchall():
        chain = [
            (f, t)
            for f, t in db.execute(
                "SELECT from_status, to_status FROM response_events WHERE response_id = ? ORDER BY at, id",
                [rid],
            )
        ]
        if status == "draft":
            assert chain == []
            continue
        assert chain[0] == ("draft", "submitted")
        assert chain[-1][1] == status
        for (_, to_status), (from_status, _) in zip(chain, chain[1:], strict=False):
            assert to_status == from_status
        if status == "returned":
            assert comment and comment.startswith("Please revise")
    total = db.execute("SELECT count(*) FROM response_events").fetchone()[0]
    assert total == demo.summary["events"]


def test_same_seed_gives_the_same_data(demo, tmp_path_factory, questionnaire):
    again = _build(tmp_path_factory, questionnaire)
    try:
        assert _fingerprint(again.db) == _fingerprint(demo.db)
        keep = ("rounds", "status_counts", "answers", "history", "events", "accounts")
        assert {k: again.summary[k] for k in keep} == {k: demo.summary[k] for k in keep}
    finally:
        again.db.conn.close()


def test_relevance_rules_are_respected(demo, values, questionnaire):
    db = demo.db
    steps_when_yes = db.execute(
        "SELECT count(*) FROM answers s JOIN answers c ON c.response_id = s.response_id"
        " AND c.provision_id = s.provision_id AND c.question = 'compliance'"
        " WHERE s.question = 'steps' AND c.value = '\"yes\"'"
    ).fetchone()[0]
    assert steps_when_yes == 0
    types_when_not_needed = db.execute(
        "SELECT count(*) FROM answers t LEFT JOIN answers n ON n.response_id = t.response_id"
        " AND n.provision_id = t.provision_id AND n.question = 'ta_needed'"
        " WHERE t.question = 'ta_types' AND (n.value IS NULL OR n.value != '\"yes\"')"
    ).fetchone()[0]
    assert types_when_not_needed == 0
    # The generic rule: what is stored is exactly what is relevant given the stored answers.
    for key, answers in values.items():
        provision = questionnaire.provisions[key[2]]
        assert relevant_answers(provision, answers) == answers, key


def test_values_are_stored_like_the_storage_layer_stores_them(demo, questionnaire):
    db = demo.db
    assert db.execute("SELECT DISTINCT version FROM answers").fetchall() == [(1,)]
    rows = db.execute(
        "SELECT provision_id, question, value FROM answers WHERE id % 37 = 0"
    ).fetchall()
    assert len(rows) > 5000
    for pid, name, text in rows:
        value = decode(text)
        assert encode(value) == text
        question = questionnaire.provisions[pid].question(name)
        assert clean_value(question, value) == value, (pid, name, value)


def test_updated_by_is_the_states_demo_respondent(demo):
    db = demo.db
    by_state = dict(
        db.execute(
            "SELECT r.state_iso3, group_concat(DISTINCT coalesce(a.updated_by, 'null'))"
            " FROM answers a JOIN responses r ON r.id = a.response_id GROUP BY r.state_iso3"
        ).fetchall()
    )
    respondents = dict(
        db.execute(
            "SELECT state_iso3, id FROM users WHERE email LIKE '%@demo.example' AND role = 'respondent'"
        ).fetchall()
    )
    for iso3, who in by_state.items():
        expected = str(respondents[iso3]) if iso3 in respondents else "null"
        assert who == expected, iso3


def test_history_rows_match_answers_per_round(demo):
    db = demo.db
    answers = dict(
        db.execute(
            "SELECT r.round_id, count(*) FROM answers a JOIN responses r ON r.id = a.response_id"
            " GROUP BY r.round_id"
        ).fetchall()
    )
    history = dict(
        db.execute(
            "SELECT r.round_id, count(*) FROM answer_history h JOIN responses r ON r.id = h.response_id"
            " WHERE h.source = 'demo' AND h.old_value IS NULL GROUP BY r.round_id"
        ).fetchall()
    )
    assert answers == history == demo.summary["answers"] == demo.summary["history"]
    assert db.execute("SELECT count(*) FROM answer_history").fetchone()[0] == sum(answers.values())
    unmatched = db.execute(
        "SELECT count(*) FROM answers a LEFT JOIN answer_history h ON h.response_id = a.response_id"
        " AND h.provision_id = a.provision_id AND h.question = a.question AND h.new_value = a.value"
        " AND h.changed_at = a.updated_at WHERE h.id IS NULL"
    ).fetchone()[0]
    assert unmatched == 0


def _yes_share(values, questionnaire, key):
    counts: dict = defaultdict(Counter)
    for (round_id, iso3, pid), answers in values.items():
        if "compliance" in answers and round_id == "2024":
            counts[key(iso3, questionnaire.provisions[pid])][answers["compliance"]] += 1
    full = [code for code, u in UNDERLYING.items() if u == "yes"]
    return {k: sum(c[f] for f in full) / sum(c.values()) for k, c in counts.items()}


def test_mandatory_provisions_are_more_often_in_compliance(values, questionnaire):
    share = _yes_share(values, questionnaire, lambda iso3, p: p.obligation)
    # An option has no "partly": a State using it in part uses it, so optional is compared with
    # mandatory only.
    assert share["mandatory"] > share["consider"] and share["mandatory"] > share["optional"]
    assert share["mandatory"] - share["consider"] > 0.2


def test_regional_groups_differ(demo, values, questionnaire):
    group = dict(demo.db.execute("SELECT iso3, un_regional_group FROM states"))
    share = _yes_share(values, questionnaire, lambda iso3, p: group[iso3])
    assert share["WEOG"] > share["AFRICAN_GROUP"] + 0.2
    assert max(share.values()) - min(share.values()) > 0.2


def _selections(values, questionnaire, question, key):
    """Counter of (key(iso3, provision), code) over the round's relevant selections."""
    counts: Counter = Counter()
    for (round_id, iso3, pid), answers in values.items():
        if round_id != "2026":
            continue
        provision = questionnaire.provisions[pid]
        for code in relevant_answers(provision, answers).get(question) or ():
            if code != "other":
                counts[key(iso3, provision), code] += 1
    return counts


def test_ta_types_and_challenges_are_skewed_by_region_and_chapter(demo, values, questionnaire):
    group = dict(demo.db.execute("SELECT iso3, un_regional_group FROM states"))
    for question in ("ta_types", "challenges"):
        by_region = _selections(values, questionnaire, question, lambda iso3, p: group[iso3])
        for region in set(group.values()):
            counts = [n for (r, _), n in by_region.items() if r == region]
            # The most selected type is selected at least twice as often as the least.
            assert max(counts) >= 2 * min(counts), (question, region)
        # Regions differ in what they ask for most.
        top = {
            region: max((n, code) for (r, code), n in by_region.items() if r == region)[1]
            for region in set(group.values())
        }
        assert len(set(top.values())) >= 2, (question, top)
    by_chapter = _selections(values, questionnaire, "ta_types", lambda iso3, p: p.chapter)

    def share(chapter, code):
        total = sum(n for (c, _), n in by_chapter.items() if c == chapter)
        return by_chapter[chapter, code] / total

    # Criminalization asks for drafting help far more than international cooperation does,
    # which asks for capacity building.
    assert share("criminalization", "legislative_drafting") > 3 * share(
        "international_cooperation", "legislative_drafting"
    )
    assert share("international_cooperation", "capacity_building") > 2 * share(
        "criminalization", "capacity_building"
    )


def test_na_is_used_but_rarely(values):
    compliance = Counter(a.get("compliance") for a in values.values())
    share = compliance["na"] / sum(compliance.values())
    assert 0.01 < share < 0.1


def test_technical_assistance_is_requested_mostly_where_there_is_a_gap(values):
    needed = Counter(
        (UNDERLYING[a["compliance"]], a["ta_needed"]) for a in values.values() if "ta_needed" in a
    )
    assert "na" not in {c for c, _ in needed}  # asked for every answer but 'not applicable'

    def rate(c):
        return needed[(c, "yes")] / (needed[(c, "yes")] + needed[(c, "no")])

    assert rate("no") > rate("partly") > 2 * rate("yes") > 0


def test_demo_declines_some_consider_measures_and_leaves_some_options_unused(values):
    compliance = Counter(a.get("compliance") for a in values.values())
    assert compliance["declined"] > 0 and compliance["not_yet_considered"] > 0
    assert compliance["not_used"] > 0 and compliance["used"] > 0
    assert not {"yes", "no"} & set(compliance)  # only the new scales
    # A draft's last provision is only started (compliance alone), so it has no reason yet.
    finished = [a for a in values.values() if len(a) > 1]
    assert all(a.get("reason") for a in finished if a.get("compliance") == "declined")


def test_states_progress_between_rounds(values, current):
    better = worse = same = 0
    for (round_id, iso3, pid), answers in values.items():
        if round_id != current or answers.get("compliance") not in SCORE:
            continue
        before = values[("2024", iso3, pid)].get("compliance")
        if before not in SCORE:
            continue
        change = SCORE[answers["compliance"]] - SCORE[before]
        better += change > 0
        worse += change < 0
        same += change == 0
    assert better > 3 * worse
    assert same > better


def test_free_text_is_specific(values):
    sample = [a for a in values.values() if a.get("compliance") in ("fully", "adopted")][:2000]
    measures = [a["measures"] for a in sample]
    assert all(len(m) > 40 for m in measures)
    assert sum(any(ch.isdigit() for ch in m) for m in measures) > 0.9 * len(measures)
    assert len(set(measures)) > 0.9 * len(measures)
    steps = [a["steps"] for a in values.values() if "steps" in a][:2000]
    assert sum("month" in s for s in steps) > 0.8 * len(steps)


def test_running_twice_is_refused_and_changes_nothing(demo, questionnaire):
    before = demo.db.execute("SELECT count(*) FROM answers").fetchone()[0]
    with pytest.raises(DemoError, match="already has demo data"):
        generate_demo(demo.db, questionnaire)
    assert demo.db.execute("SELECT count(*) FROM answers").fetchone()[0] == before


def test_ensure_demo_on_a_demo_database_only_prints_the_accounts(demo, current):
    before = demo.db.execute("SELECT count(*) FROM answers").fetchone()[0]
    text = ensure_demo(demo.db)
    assert "already" in text
    for account in demo_accounts():
        assert account["email"] in text and account["password"] in text
    assert f"/responses/{current}/" in text
    assert demo.db.execute("SELECT count(*) FROM answers").fetchone()[0] == before


def test_demo_accounts_can_log_in(demo):
    accounts = demo.summary["accounts"]
    assert {a["role"] for a in accounts} == {"admin", "analyst", "respondent"}
    assert {a["state_iso3"] for a in accounts if a["role"] == "respondent"} == {
        "KEN",
        "FRA",
        "BRA",
        "IND",
        "EGY",
    }
    for account in accounts:
        assert len(account["password"]) >= 10
        user = users.authenticate(demo.db, account["email"], account["password"])
        assert user is not None, account["email"]
        assert user["role"] == account["role"] and user["state_iso3"] == account["state_iso3"]
        assert users.authenticate(demo.db, account["email"], "wrong password!") is None


def test_credentials_text_lists_accounts_and_what_to_open(demo, current):
    text = credentials_text(demo.summary)
    for account in demo.summary["accounts"]:
        assert account["email"] in text and account["password"] in text
    assert "193 States" in text and "http://127.0.0.1:5000/" in text and "/fill/" in text


def test_refused_when_round_2024_exists(db, questionnaire):
    create_round(db, "2024", questionnaire)
    with pytest.raises(DemoError, match="2024"):
        generate_demo(db, questionnaire)
    assert "not added" in ensure_demo(db, questionnaire)
    assert users.get_user_by_email(db, "admin@demo.example") is None
    assert db.execute("SELECT count(*) FROM responses").fetchone()[0] == 0


def test_refused_when_round_2026_is_in_use(db, questionnaire):
    if get_round(db, "2026") is None:
        create_round(db, "2026", questionnaire)
    get_or_create_response(db, "2026", "KEN")
    get_or_create_response(db, current_round(db)["id"], "KEN")
    with pytest.raises(DemoError, match="2026"):
        generate_demo(db, questionnaire)
    assert users.get_user_by_email(db, "admin@demo.example") is None
    assert get_round(db, "2024") is None


# A gap is an answer that says the obligation is not met: a mandatory measure only partly in place
# or not yet, a "shall consider" measure not yet considered. An unused option, a measure
# considered and adopted in part or declined, "not applicable" and a met obligation are never
# gaps (issue 12; docs/scoring.md).
GAP_CODES = {"partly", "not_yet", "not_yet_considered"}
NEVER_GAPS = {"fully", "adopted", "partly_adopted", "declined", "used", "not_used", "na"}


def test_regional_priorities_count_as_gaps_only_unmet_obligations(
    demo, current, values, questionnaire
):
    from survey.scoring import COUNTED_STATUSES, regional_priorities

    status = dict(
        demo.db.execute("SELECT state_iso3, status FROM responses WHERE round_id = ?", [current])
    )
    group = dict(demo.db.execute("SELECT iso3, un_regional_group FROM states"))
    expected: Counter = Counter()
    seen: Counter = Counter()
    for (round_id, iso3, pid), answers in values.items():
        if round_id != current or status.get(iso3) not in COUNTED_STATUSES:
            continue
        code = answers.get("compliance")
        seen[code] += 1
        if code in GAP_CODES:
            expected[(group[iso3], pid)] += 1
    assert set(seen) - {None} <= GAP_CODES | NEVER_GAPS
    # The demo's counted answers hold declined measures and unused options, so the check can fail.
    assert seen["declined"] > 0 and seen["not_used"] > 0 and seen["partly_adopted"] > 0
    rows = regional_priorities(demo.db, questionnaire, current, "un_regional_group")
    got = {(r["region"], r["provision_id"]): r["n_gap"] for r in rows}
    assert got == {key: expected.get(key, 0) for key in got}
    optional = {pid for pid, p in questionnaire.provisions.items() if p.obligation == "optional"}
    top = [r for r in rows if r["rank"] <= 25]
    assert not [r for r in top if r["provision_id"] in optional and r["n_gap"] == 0]


def test_notification_dates_read_as_dates(values):
    dates = [a["notified_on"] for a in values.values() if "notified_on" in a]
    assert dates
    assert all(
        re.match(r"^(19|20)\d\d(-\d\d-\d\d)?(, note verbale No\. \d+/\d{4})?$", d) for d in dates
    )


@pytest.mark.parametrize("instrument", [None, "UNCAC"])
def test_priority_report_tallies_equal_a_count_of_the_stored_answers(
    demo, current, values, questionnaire, instrument
):
    """The regional priorities page's TA demand, challenges, per-chapter figures and top TA
    types, counted again here from the stored answers with the form's relevance rules."""
    from survey.answers import relevant_answers
    from survey.reports.build import ReportFilter, priority_report
    from survey.scoring import COUNTED_STATUSES

    region = "AFRICAN_GROUP"
    status = dict(
        demo.db.execute("SELECT state_iso3, status FROM responses WHERE round_id = ?", [current])
    )
    group = dict(demo.db.execute("SELECT iso3, un_regional_group FROM states"))
    only = ReportFilter(instrument=instrument)
    states: dict = defaultdict(set)  # (kind, code) -> ISO3s
    selections: Counter = Counter()  # (kind, code)
    by_chapter: Counter = Counter()  # (kind, chapter key, code)
    per_provision: dict = defaultdict(Counter)  # provision -> TA type -> States
    for (round_id, iso3, pid), answers in values.items():
        provision = questionnaire.provisions.get(pid)
        if (
            round_id != current
            or status.get(iso3) not in COUNTED_STATUSES
            or group[iso3] != region
            or provision is None
            or not only.matches(provision)
        ):
            continue
        kept = relevant_answers(provision, answers)
        chosen = [("challenge", c) for c in kept.get("challenges") or []]
        if kept.get("ta_needed") == "yes":
            chosen += [("ta_type", c) for c in kept.get("ta_types") or []]
        for kind, code in chosen:
            states[kind, code].add(iso3)
            selections[kind, code] += 1
            by_chapter[kind, f"{provision.instrument}/{provision.chapter}", code] += 1
            if kind == "ta_type":
                per_provision[pid][code] += 1
    data = priority_report(
        demo.db, questionnaire, current, "un_regional_group", region, provisions=only
    )
    got = {
        (r.kind, r.code): (r.n_states, r.n_selections)
        for r in data["ta_demand"] + data["challenges"]
    }
    assert got == {key: (len(states[key]), n) for key, n in selections.items()}
    for kind, chart in (
        ("ta_type", data["ta_by_chapter"]),
        ("challenge", data["challenges_by_chapter"]),
    ):
        expected = {(ch, code): n for (k, ch, code), n in by_chapter.items() if k == kind}
        assert chart.selections == expected
    for row in data["priorities"]:
        top = per_provision[row["provision_id"]].most_common()
        assert [t["states"] for t in row["top_ta_types"]] == [n for _c, n in top][:3]
    assert len(selections) > 10 and sum(selections.values()) > 1000  # the check has data


def test_no_aggregate_joins_answers_through_a_bloom_filter(demo, current, questionnaire):
    """With the statistics ANALYZE leaves (the demo runs it), SQLite plans a join into
    `answers` behind enough estimated rows with a Bloom filter and then reads the table
    instead of the covering index: up to seven times slower. Every aggregate is written so
    that none is planned that way, for every region and for one."""
    from survey import scoring

    db, grouping = demo.db, "un_regional_group"
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    try:
        for region in (None, "WEOG"):
            scoring.regional_priorities(db, questionnaire, current, grouping, region=region)
            scoring.ta_demand(db, questionnaire, current, grouping, region=region)
            scoring.selection_groups(db, questionnaire, current, grouping, region=region)
            scoring.ta_coverage_rows(db, questionnaire, current, grouping, region=region)
            scoring.round_changes(db, questionnaire, current, "2024", grouping, region=region)
        scoring.all_priorities(db, questionnaire, current)
        scoring.article_needs(db, questionnaire, current, grouping)
        scoring.article_needs(db, questionnaire, current, grouping, instrument="UNCAC")
        list(scoring.scores_rows(db, questionnaire, current, grouping=grouping))
    finally:
        db.conn.set_trace_callback(None)
    queries = [s for s in statements if s.lstrip().upper().startswith(("WITH", "SELECT"))]
    assert len(queries) > 15
    assert db.execute("SELECT count(*) FROM sqlite_stat1").fetchone()[0] > 0
    for sql in queries:
        plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}")]
        assert not [step for step in plan if "BLOOM FILTER" in step], (sql, plan)
