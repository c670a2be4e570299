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
# Lists that two provisions share.
LAUNDERING = {"conversion", "concealment", "acquisition", "ancillary"}
CONFISCABLE = {"proceeds", "equivalent_value", "instrumentalities"}
GROUNDS = {"victim_national", "offender_national", "preparatory_abroad"}
TECHNIQUES = {"controlled_delivery", "surveillance", "undercover", "other"}
PROTECTION = {"relocation", "identity", "remote_testimony", "other"}
# Provision -> (question, type, codes) where the treaty lists options or elements; an open list
# ("such as", "inter alia", "in particular", "other appropriate cases") ends with "other".
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
    # 6(1)(a)(i)-(ii) and, "subject to the basic concepts of its legal system", 6(1)(b)(i)-(ii).
    "UNTOC-6-1": ("conduct", "select_multiple", LAUNDERING),
    "UNCAC-23-1": ("conduct", "select_multiple", LAUNDERING),
    # "the liability of legal persons may be criminal, civil or administrative" (10(2), 26(2)).
    "UNTOC-10": ("liability", "select_multiple", {"criminal", "civil", "administrative"}),
    "UNCAC-26": ("liability", "select_multiple", {"criminal", "civil", "administrative"}),
    # "Proceeds of crime ... or property the value of which corresponds" (a); instrumentalities (b).
    "UNTOC-12-1": ("confiscable", "select_multiple", CONFISCABLE),
    "UNCAC-31-1": ("confiscable", "select_multiple", CONFISCABLE),
    # A foreign confiscation request: seek a domestic order (a) "or" give effect to the foreign one (b).
    "UNTOC-13-1": ("routes", "select_multiple", {"domestic_order", "foreign_order"}),
    "UNCAC-55-1": ("routes", "select_multiple", {"domestic_order", "foreign_order"}),
    # "a State Party may also establish its jurisdiction ... when": 15(2)(a)-(c), 42(2)(a)-(d).
    "UNTOC-15-2": ("grounds", "select_multiple", GROUNDS),
    "UNCAC-42-2": ("grounds", "select_multiple", GROUNDS | {"against_state"}),
    # "controlled delivery and ... other special investigative techniques, such as ...".
    "UNTOC-20-1": ("techniques", "select_multiple", TECHNIQUES),
    "UNCAC-50-1": ("techniques", "select_multiple", TECHNIQUES),
    # "The measures ... may include, inter alia": 24(2)(a)-(b), 32(2)(a)-(b).
    "UNTOC-24-1": ("protection", "select_multiple", PROTECTION),
    "UNCAC-32-1": ("protection", "select_multiple", PROTECTION),
    # "mitigating punishment" (26(2), 37(2)) and "granting immunity from prosecution" (26(3), 37(3)).
    "UNTOC-26-2": ("benefits", "select_multiple", {"mitigation", "immunity"}),
    "UNCAC-37-2": ("benefits", "select_multiple", {"mitigation", "immunity"}),
    # "and, in particular, the provision of": TIP 6(3)(a)-(d).
    "TIP-6-3": (
        "assistance",
        "select_multiple",
        {"housing", "counselling", "medical", "employment", "other"},
    ),
    # "to remain in its territory, temporarily or permanently".
    "TIP-7": ("residence", "select_multiple", {"temporary", "permanent"}),
    # "individuals who are, or have been, entrusted with prominent public functions and their family
    # members and close associates".
    "UNCAC-52-1": ("scrutiny", "select_multiple", {"current", "former", "family", "associates"}),
    # Direct recovery: 53(a) civil action, 53(b) compensation or damages, 53(c) legitimate owner.
    "UNCAC-53": (
        "recovery_routes",
        "select_multiple",
        {"civil_action", "compensation", "owner_recognition"},
    ),
    # "by reason of death, flight or absence or in other appropriate cases".
    "UNCAC-54-1-c": ("cases", "select_multiple", {"death", "flight", "absence", "other"}),
    # 8(1)(a) "either ... or" two marking systems at manufacture, (b) import, (c) state transfer.
    "FIR-8": (
        "markings",
        "select_multiple",
        {"manufacture_full", "manufacture_symbols", "import", "state_transfer"},
    ),
    # "export and import licensing or authorization, as well as of measures on international transit".
    "FIR-10-1": ("transfers", "select_multiple", {"export", "import", "transit"}),
    # "one or more measures such as": FIR 15(1)(a)-(c).
    "FIR-15-1": (
        "brokering",
        "select_multiple",
        {"registration", "licensing", "disclosure", "other"},
    ),
}
# The answer that shows the question and one that hides it, for each obligation level's scale.
MET_AND_UNMET = {
    "mandatory": ("fully", "not_yet"),
    "consider": ("adopted", "not_yet_considered"),
    "optional": ("used", "not_used"),
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


@pytest.mark.parametrize("pid", sorted(ELEMENTS))
def test_options_are_asked_once_the_provision_is_at_least_partly_met(questionnaire, pid):
    # The rule must use the codes of the provision's own scale: a "consider" provision never
    # answers "fully", so a rule written for the mandatory scale would hide the question for good.
    provision = questionnaire.provisions[pid]
    question = provision.question(ELEMENTS[pid][0])
    met, unmet = MET_AND_UNMET[provision.obligation]
    assert met in provision.question("compliance").choices.codes
    assert question.is_relevant({"compliance": met})
    assert not question.is_relevant({"compliance": unmet})
    assert not question.is_relevant({})


@pytest.mark.parametrize("pid", sorted(ELEMENTS))
def test_open_lists_ask_to_specify_the_other_option(questionnaire, pid):
    name, _, codes = ELEMENTS[pid]
    provision = questionnaire.provisions[pid]
    other = provision.question(f"{name}_other")
    if "other" not in codes:
        assert other is None
        return
    assert other.type == "text"
    assert other.relevant_source == f"{name} == other"
    assert other.is_relevant({name: ["other"]})
    assert other.is_relevant({name: sorted(codes)})
    assert not other.is_relevant({name: sorted(codes - {"other"})})


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


def test_other_help_for_victims_is_specified_through_the_chapter_form(ken, round_id, db):
    # TIP-6-3 is a "shall consider" provision: its options appear after "partly adopted".
    url = f"/fill/{round_id}/TIP/victim_protection"
    page = ken.client.get(url).get_data(as_text=True)
    assert 'name="TIP-6-3.assistance" value="housing"' in page
    assert 'data-field="TIP-6-3.assistance_other"' in page
    response = ken.post(
        url,
        {
            "TIP-6-3.present": "1",
            "TIP-6-3.compliance": "partly_adopted",
            "TIP-6-3.assistance": ["housing", "other"],
            "TIP-6-3.assistance_other": "Reflection period of 90 days; family tracing",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    stored = load_answers(db, find_response(db, round_id, "KEN")["id"])["TIP-6-3"]
    assert stored["assistance"].value == ["housing", "other"]
    assert stored["assistance_other"].value == "Reflection period of 90 days; family tracing"


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
