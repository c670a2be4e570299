"""Provision-specific questions (`extra_questions`): the notification to the Secretary-General and
the options or elements a treaty lists, through the model, the web form, the offline file and the
exports."""

from __future__ import annotations

import json
import re

import pytest
from openpyxl import load_workbook

from survey.answers import missing_required
from survey.exports.excel import write_workbook
from survey.exports.offline import export_offline, import_offline
from survey.exports.tabular import write_csv, write_json
from survey.questionnaire.model import LANGUAGES, STANDARD_QUESTIONS
from survey.responding import save_provision
from survey.storage.responses import find_response, get_or_create_response, load_answers

# Paragraphs that require a notification or information to the Secretary-General, and the
# provision that covers each one in questionnaires/.
NOTIFICATIONS = {
    "UNTOC 5(3)": "UNTOC-5",
    "UNTOC 6(2)(d)": "UNTOC-6-2-b",
    "UNTOC 13(5)": "UNTOC-13-1",
    "UNTOC 16(5)(a)": "UNTOC-16-5-a",
    "UNTOC 18(13)-(14)": "UNTOC-18-11",
    "UNTOC 31(6)": "UNTOC-31-6",
    "UNCAC 6(3)": "UNCAC-6",
    "UNCAC 23(2)(d)": "UNCAC-23-2-b",
    "UNCAC 44(6)(a)": "UNCAC-44-6-a",
    "UNCAC 46(13)-(14)": "UNCAC-46-11",
    "UNCAC 55(5)": "UNCAC-55-5",
    "SOM 8(6)": "SOM-8-3",
}
# Provision -> (question, type, codes) where the treaty lists options or elements.
ELEMENTS = {
    "UNTOC-5": ("offences", "select_multiple", {"agreement", "participation"}),
    "UNTOC-6-2-b": (
        "predicate_approach",
        "select_one",
        {"all_offences", "threshold", "list", "combination"},
    ),
    "UNCAC-23-2-b": (
        "predicate_approach",
        "select_one",
        {"all_offences", "threshold", "list", "combination"},
    ),
    "TIP-5": (
        "elements",
        "select_multiple",
        {"act", "means", "purpose", "consent_irrelevant", "child_without_means"},
    ),
    "SOM-6": (
        "offences",
        "select_multiple",
        {"smuggling", "producing_documents", "handling_documents", "enabling_stay"},
    ),
    "FIR-5": ("offences", "select_multiple", {"manufacturing", "trafficking", "marking"}),
}


def extra_questions(provision):
    standard = set(STANDARD_QUESTIONS)
    return [q for q in provision.questions if q.name not in standard]


@pytest.mark.parametrize("paragraph", sorted(NOTIFICATIONS))
def test_each_notification_paragraph_asks_whether_the_notification_was_made(
    questionnaire, paragraph
):
    provision = questionnaire.provisions[NOTIFICATIONS[paragraph]]
    notified, notified_on = provision.question("notified"), provision.question("notified_on")
    assert notified.type == "select_one"
    assert {"done", "pending"} <= set(notified.choices.codes)
    # Never required: a State answering 'not applicable' can still submit.
    assert not notified.required and not notified_on.required
    assert notified_on.type == "text"
    assert notified_on.relevant_source == "notified == done"
    assert notified_on.is_relevant({"notified": "done"})
    assert not notified_on.is_relevant({"notified": "pending"})
    assert not missing_required(provision, {"compliance": "na", "reason": "No sea border"})


def test_only_untoc_5_may_answer_that_no_notification_is_required(questionnaire):
    # UNTOC 5(3) binds only States whose agreement offence needs a group or an overt act.
    for pid in NOTIFICATIONS.values():
        codes = questionnaire.provisions[pid].question("notified").choices.codes
        assert ("not_required" in codes) == (pid == "UNTOC-5"), pid


def test_provisions_without_a_notification_duty_do_not_ask_it(questionnaire):
    asking = {p.id for p in questionnaire.provisions.values() if p.question("notified")}
    assert asking == set(NOTIFICATIONS.values())


@pytest.mark.parametrize("pid", sorted(ELEMENTS))
def test_treaty_options_and_elements_are_asked(questionnaire, pid):
    name, qtype, codes = ELEMENTS[pid]
    question = questionnaire.provisions[pid].question(name)
    assert question.type == qtype
    assert set(question.choices.codes) == codes
    assert question.hint is not None


def test_predicate_offences_abroad_are_asked_for_both_conventions(questionnaire):
    for pid in ("UNTOC-6-2-b", "UNCAC-23-2-b"):
        question = questionnaire.provisions[pid].question("predicate_abroad")
        assert set(question.choices.codes) == {"dual_criminality", "always", "not_covered"}


def test_extra_questions_are_in_six_languages_and_labels_never_hold_the_separator(questionnaire):
    seen = 0
    for provision in questionnaire.provisions.values():
        for question in extra_questions(provision):
            seen += 1
            texts = [question.label, question.hint]
            texts += [c.label for c in question.choices.choices] if question.choices else []
            for text in texts:
                assert text is not None, (provision.id, question.name)
                for lang in LANGUAGES:
                    assert text.has(lang), (provision.id, question.name, lang)
                    assert ";" not in text.get(lang), (provision.id, question.name, lang)
    assert seen >= 2 * len(NOTIFICATIONS) + len(ELEMENTS)


# -- the web form ---------------------------------------------------------------------------------


@pytest.fixture
def ken(login_as):
    return login_as("ken@example.org")


def test_extra_questions_are_shown_and_saved_through_the_chapter_form(ken, round_id, db):
    url = f"/fill/{round_id}/TIP/general_provisions"
    page = ken.client.get(url).get_data(as_text=True)
    assert 'data-field="TIP-5.elements"' in page
    assert 'name="TIP-5.elements" value="consent_irrelevant"' in page
    assert "Which elements of the definition in article 3" in page
    response = ken.post(
        url,
        {
            "TIP-5.present": "1",
            "TIP-5.compliance": "partly",
            "TIP-5.elements": ["act", "purpose", "child_without_means"],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-5"]
    assert stored["elements"].value == ["act", "purpose", "child_without_means"]
    page = ken.client.get(url).get_data(as_text=True)
    assert re.search(r'value="child_without_means"[^>]*checked', page)


def test_notification_date_is_saved_through_the_form(ken, round_id, db):
    url = f"/fill/{round_id}/UNCAC/criminalization"
    page = ken.client.get(url).get_data(as_text=True)
    assert 'data-field="UNCAC-23-2-b.notified_on"' in page
    response = ken.post(
        url,
        {
            "UNCAC-23-2-b.present": "1",
            "UNCAC-23-2-b.compliance": "fully",
            "UNCAC-23-2-b.predicate_approach": "threshold",
            "UNCAC-23-2-b.predicate_abroad": "dual_criminality",
            "UNCAC-23-2-b.notified": "done",
            "UNCAC-23-2-b.notified_on": "2024-03-15, note verbale 12/2024",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["UNCAC-23-2-b"]
    assert {q: a.value for q, a in stored.items()}.items() >= {
        "predicate_approach": "threshold",
        "predicate_abroad": "dual_criminality",
        "notified": "done",
        "notified_on": "2024-03-15, note verbale 12/2024",
    }.items()


# -- offline file and exports ---------------------------------------------------------------------


def _row(ws, pid: str, question: str) -> int:
    for row in range(2, ws.max_row + 1):
        if ws.cell(row, 1).value == pid and ws.cell(row, 8).value == question:
            return row
    raise AssertionError(f"no row for {pid} {question}")


def test_extra_questions_round_trip_through_the_offline_file(
    db, questionnaire, round_id, people, tmp_path
):
    path = tmp_path / "offline.xlsx"
    export_offline(db, questionnaire, round_id, "KEN", path)
    wb = load_workbook(path)
    changes = {
        ("SOM", "SOM-6", "compliance"): "fully",
        ("SOM", "SOM-6", "offences"): "smuggling;Enabling a person to remain in the State "
        "without meeting the legal requirements, by those or any other illegal means (6(1)(c))",
        ("SOM", "SOM-8-3", "compliance"): "fully",
        ("SOM", "SOM-8-3", "notified"): "Yes, done",
        ("SOM", "SOM-8-3", "notified_on"): "2019",
        ("FIR", "FIR-5", "compliance"): "partly",
        ("FIR", "FIR-5", "offences"): "manufacturing;trafficking",
    }
    for (sheet, pid, question), value in changes.items():
        ws = wb[sheet]
        ws.cell(_row(ws, pid, question), 6).value = value
    wb.save(path)
    result = import_offline(db, questionnaire, round_id, "KEN", path, user_id=people["ken"]["id"])
    assert result.changed == len(changes)
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])
    assert stored["SOM-6"]["offences"].value == ["smuggling", "enabling_stay"]
    assert stored["SOM-8-3"]["notified"].value == "done"
    assert stored["SOM-8-3"]["notified_on"].value == "2019"
    assert stored["FIR-5"]["offences"].value == ["manufacturing", "trafficking"]
    # A fresh file shows the stored answers, and importing it back changes nothing.
    again = tmp_path / "again.xlsx"
    export_offline(db, questionnaire, round_id, "KEN", again)
    ws = load_workbook(again)["SOM"]
    assert ws.cell(_row(ws, "SOM-8-3", "notified"), 6).value in ("done", "Yes, done")
    assert import_offline(db, questionnaire, round_id, "KEN", again, user_id=None).changed == 0


@pytest.fixture
def answered(db, round_id, people):
    response = get_or_create_response(db, round_id, "KEN")
    save_provision(
        db,
        response["id"],
        "UNTOC-5",
        {
            "compliance": "fully",
            "measures": "Penal Code s. 100",
            "offences": ["agreement", "participation"],
            "notified": "not_required",
        },
        user_id=people["ken"]["id"],
    )
    save_provision(
        db,
        response["id"],
        "UNCAC-46-11",
        {"compliance": "fully", "notified": "done", "notified_on": "2010-01-05"},
        user_id=people["ken"]["id"],
    )
    return round_id


def test_extra_questions_are_in_the_codebook_and_the_answers_sheet(
    db, questionnaire, answered, tmp_path
):
    path = tmp_path / "round.xlsx"
    write_workbook(db, questionnaire, answered, path)
    wb = load_workbook(path)
    rows = list(wb["Codebook"].iter_rows(values_only=True))
    codebook = {(r[0], r[7]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    offences = codebook[("UNTOC-5", "offences")]
    assert offences["choices"].startswith("agreement = Agreeing with others to commit")
    assert "participation = Taking an active part" in offences["choices"]
    assert (
        "not_required = Not required for our State" in codebook[("UNTOC-5", "notified")]["choices"]
    )
    for pid in NOTIFICATIONS.values():
        assert (pid, "notified") in codebook and (pid, "notified_on") in codebook
    for pid, (name, _, _) in ELEMENTS.items():
        assert (pid, name) in codebook
    answers = {(r[6], r[7], r[8]) for r in wb["Answers"].iter_rows(min_row=2, values_only=True)}
    assert {
        ("UNTOC-5", "offences", "agreement"),
        ("UNTOC-5", "offences", "participation"),
        ("UNTOC-5", "notified", "not_required"),
        ("UNCAC-46-11", "notified_on", "2010-01-05"),
    } <= answers


def test_extra_questions_are_in_the_csv_and_json_exports(db, questionnaire, answered, tmp_path):
    csv_path, json_path = tmp_path / "a.csv", tmp_path / "a.json"
    write_csv(db, questionnaire, answered, csv_path)
    text = csv_path.read_text(encoding="utf-8")
    assert ",UNTOC-5,offences,participation,Taking an active part" in text
    assert ',UNCAC-46-11,notified,done,"Yes, done",' in text
    write_json(db, questionnaire, answered, json_path)
    answers = json.loads(json_path.read_text(encoding="utf-8"))["answers"]
    found = {(a["provision_id"], a["question"], a["value"]) for a in answers}
    assert ("UNTOC-5", "offences", "agreement") in found
    assert ("UNCAC-46-11", "notified_on", "2010-01-05") in found
