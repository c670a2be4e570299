"""Progress: every required question counts, and the per-response cache never goes stale."""

from __future__ import annotations

import random

from survey.progress import chapter_progress, overall_percent
from survey.responding import save_provision
from survey.responding.progress import response_progress
from survey.storage import connect
from survey.storage.responses import answer_values, get_or_create_response, load_answers
from survey.storage.rounds import state_instruments


def _from_scratch(db, model, response_id, instruments):
    values = {pid: answer_values(a) for pid, a in load_answers(db, response_id).items()}
    return [
        (r.chapter.key, r.answered, r.applicable)
        for r in chapter_progress(model, instruments, values)
    ]


def _cached(db, model, response_id, instruments):
    return [
        (r.chapter.key, r.answered, r.applicable)
        for r in response_progress(db, model, response_id, instruments)
    ]


def test_progress_counts_every_required_question_not_only_compliance(db, round_id, questionnaire):
    response = get_or_create_response(db, round_id, "KEN")
    instruments = state_instruments(db, round_id, "KEN")
    tip5 = questionnaire.provisions["TIP-5"]
    key = questionnaire.chapter_of(tip5).key
    before = dict(
        (k, (a, t)) for k, a, t in _cached(db, questionnaire, response["id"], instruments)
    )
    save_provision(db, response["id"], "TIP-5", {"compliance": "partly"}, user_id=None)
    after = dict((k, (a, t)) for k, a, t in _cached(db, questionnaire, response["id"], instruments))
    # 'partly' answers one required question and makes more of them apply (measures, steps...).
    assert after[key][0] == before[key][0] + 1
    assert after[key][1] > before[key][1]
    assert (
        0
        <= overall_percent(response_progress(db, questionnaire, response["id"], instruments))
        < 100
    )


def test_cached_progress_matches_a_full_recount_after_every_kind_of_change(
    db_path, db, round_id, questionnaire
):
    """Saves from another connection, clears and relevance flips: the cache follows each one."""
    rng = random.Random(7)
    response = get_or_create_response(db, round_id, "KEN")
    instruments = state_instruments(db, round_id, "KEN")
    other = connect(db_path, migrate=False)
    provisions = [p for p in questionnaire.provisions.values() if p.instrument in instruments]
    assert _cached(db, questionnaire, response["id"], instruments) == _from_scratch(
        db, questionnaire, response["id"], instruments
    )
    for step in range(40):
        provision = rng.choice(provisions)
        code = rng.choice([*provision.question("compliance").choices.codes, None])
        values = {"compliance": code}
        if provision.question("measures") is not None:
            values["measures"] = rng.choice([None, f"Law {step}", "x" * 200])
        writer = other if step % 2 else db
        save_provision(writer, response["id"], provision.id, values, user_id=None)
        assert _cached(db, questionnaire, response["id"], instruments) == _from_scratch(
            db, questionnaire, response["id"], instruments
        ), f"after step {step} ({provision.id} {values})"
    other.conn.close()
