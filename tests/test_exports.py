"""Exports: the analyst workbook (read back with openpyxl and calamine), CSV and JSON, and the
offline questionnaire round trip with its checks of hostile and faulty files."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from datetime import datetime

import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook
from python_calamine import CalamineWorkbook

from survey.answers import relevant_answers
from survey.cli import main
from survey.exports.excel import SHEETS, fit_text, write_workbook
from survey.exports.offline import (
    OfflineImportError,
    check_xlsx,
    export_offline,
    import_offline,
    read_upload,
)
from survey.exports.rows import ANSWER_COLUMNS, ExportError, answer_rows, make_filters
from survey.exports.safe import csv_text
from survey.exports.tabular import write_csv, write_json
from survey.exports.xlsx import XLSX_MIMETYPE
from survey.responding import save_provision
from survey.scoring import regional_priorities, scores_rows, ta_demand
from survey.storage.responses import (
    change_status,
    find_response,
    get_or_create_response,
    history,
    load_answers,
)

STAMP = "2026-03-04T05:06:07Z"
LONG = ("Long answer. " * 3_100).strip()  # 40,299 characters: more than an Excel cell holds
FORMULAS = {
    "measures": '=HYPERLINK("http://evil","x")',
    "steps": "+1",
    "ta_provider": "-2",
    "examples": "@SUM(A1)",
}
# status, {provision: {question: value}}; UNCAC-15 and TIP-5 are mandatory provisions
# (fully / partly / not_yet / na)
RESPONSES = {
    "KEN": (
        "draft",
        {
            "UNCAC-15": {
                "compliance": "partly",
                **FORMULAS,
                "challenges": ["limited_capacity", "limited_resources"],
                "ta_needed": "yes",
                "ta_types": ["legal_advice", "capacity_building"],
                "ta_received": "yes",
            },
            "TIP-5": {"compliance": "not_yet", "measures": "None yet", "steps": LONG},
        },
    ),
    "NGA": (
        "submitted",
        {
            "UNCAC-15": {
                "compliance": "not_yet",
                "measures": "Penal Code s. 98",
                "steps": "Amend the code",
                "challenges": ["limited_resources"],
                "ta_needed": "yes",
                "ta_types": ["legal_advice"],
            },
            "TIP-5": {"compliance": "fully", "measures": "Act 2015"},
        },
    ),
    "EGY": (
        "submitted",
        {"UNCAC-15": {"compliance": "partly", "measures": "Law 2019", "ta_needed": "no"}},
    ),
    "FRA": (
        "validated",
        {
            # challenges are left over from an earlier 'not_yet': hidden by relevance, never
            # exported (and never counted in TA demand)
            "UNCAC-15": {
                "compliance": "fully",
                "measures": "Code pénal",
                "challenges": ["limited_resources"],
            },
        },
    ),
}


@pytest.fixture
def answered(db, round_id, people):
    for iso3, (status, provisions) in RESPONSES.items():
        response = get_or_create_response(db, round_id, iso3)
        user = people["ken"]["id"] if iso3 == "KEN" else None
        for pid, values in provisions.items():
            save_provision(db, response["id"], pid, values, user_id=user)
        if status != "draft":
            change_status(db, response["id"], "submitted", user_id=None)
        if status == "validated":
            change_status(db, response["id"], "validated", user_id=None)
    db.execute("UPDATE answers SET updated_at = ?", [STAMP])
    return round_id


@pytest.fixture
def workbook_path(db, questionnaire, answered, tmp_path):
    path = tmp_path / "round.xlsx"
    write_workbook(db, questionnaire, answered, path)
    return path


def sheet_dicts(ws) -> list[dict]:
    rows = list(ws.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def calamine_dicts(path, name) -> list[dict]:
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(name).to_python()
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def expected_answers(questionnaire, statuses=None, *, cell=False):
    """(state, status, provision, question, value) per exported row, from the inputs above
    (`cell`: texts as a workbook cell holds them, shortened with the marker)."""
    out = set()
    for iso3, (status, provisions) in RESPONSES.items():
        if statuses and status not in statuses:
            continue
        for pid, values in provisions.items():
            kept = relevant_answers(questionnaire.provisions[pid], values)
            for question, value in kept.items():
                for item in value if isinstance(value, list) else [value]:
                    out.add((iso3, status, pid, question, fit_text(item) if cell else item))
    return out


# -- the analyst workbook ------------------------------------------------------------------------


def test_workbook_has_the_sheets_in_order_with_bold_frozen_filtered_headers(workbook_path):
    wb = load_workbook(workbook_path)
    assert wb.sheetnames == list(SHEETS)
    assert CalamineWorkbook.from_path(str(workbook_path)).sheet_names == list(SHEETS)
    headers = {name: [c.value for c in wb[name][1]] for name in SHEETS}
    assert headers["Answers"] == list(ANSWER_COLUMNS)
    assert headers["Codebook"][:8] == [
        "provision_id",
        "instrument",
        "chapter",
        "article",
        "title",
        "obligation",
        "weight",
        "question",
    ]
    assert headers["Scores"][-4:] == ["score", "weight", "severity", "ta_needed"]
    assert headers["Priorities"] == [
        "grouping",
        "region",
        "region_label",
        "rank",
        "provision_id",
        "instrument",
        "article",
        "title",
        "obligation",
        "n_resp",
        "n_gap",
        "gap_share",
        "ta_share",
        "priority",
    ]
    assert headers["TA demand"][-2:] == ["n_states", "n_selections"]
    for name in SHEETS:
        ws = wb[name]
        assert ws["A1"].font.bold, name
        assert ws.freeze_panes == ("D2" if name == "Wide" else "A2"), name
        assert ws.auto_filter.ref.startswith("A1:"), name
        assert ws.column_dimensions["A"].width > 5


def test_answers_sheet_matches_the_database_with_real_types(
    db, questionnaire, answered, workbook_path
):
    wb = load_workbook(workbook_path)
    rows = sheet_dicts(wb["Answers"])
    got = {
        (r["state_iso3"], r["status"], r["provision_id"], r["question"], r["value"]) for r in rows
    }
    assert got == expected_answers(questionnaire, cell=True)
    assert len(rows) == len(got)
    stamp = datetime(2026, 3, 4, 5, 6, 7)
    for row in rows:
        assert row["round"] == answered and isinstance(row["round"], str)  # '2026' stays text
        assert row["updated_at"] == stamp
    ken = [r for r in rows if r["state_iso3"] == "KEN"]
    assert {r["updated_by"] for r in ken} == {"ken@example.org"}
    assert {r["state"] for r in ken} == {"Kenya"}
    label = next(
        r
        for r in rows
        if (r["state_iso3"], r["provision_id"], r["question"]) == ("NGA", "UNCAC-15", "compliance")
    )
    assert label["value_label"] == "Not yet"
    # FRA's left-over challenges are hidden by relevance: not exported (and never counted).
    assert not [r for r in rows if r["state_iso3"] == "FRA" and r["question"] == "challenges"]
    # The second reader sees the same values and types.
    calamine = calamine_dicts(workbook_path, "Answers")  # an empty cell reads as ''
    assert [tuple(v if v != "" else None for v in r.values()) for r in calamine] == [
        tuple(r.values()) for r in rows
    ]
    assert all(isinstance(r["updated_at"], datetime) for r in calamine)
    assert all(isinstance(r["round"], str) for r in calamine)


def test_formula_looking_answers_read_back_as_the_same_text(workbook_path):
    wb = load_workbook(workbook_path)
    ws = wb["Answers"]
    cells = {(row[1].value, row[6].value, row[7].value): row[8] for row in ws.iter_rows(min_row=2)}
    for question, text in FORMULAS.items():
        cell = cells[("KEN", "UNCAC-15", question)]
        assert cell.value == text
        assert cell.data_type == "s"
    calamine = calamine_dicts(workbook_path, "Answers")
    got = {
        r["question"]: r["value"]
        for r in calamine
        if r["state_iso3"] == "KEN" and r["provision_id"] == "UNCAC-15"
    }
    assert {q: got[q] for q in FORMULAS} == FORMULAS
    with zipfile.ZipFile(workbook_path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in archive.read(name), name


HOSTILE = [
    "=1+1",
    "+1",
    "-2",
    "@SUM(A1)",
    "\tTab",
    "#N/A",
    "http://evil.example/x",
    "007",
    "1e5",
    "_x0041_ stays _x0041_",
    "_x005F_x0041_",
    "<r>looks like rich text</r>",
    '<r><t>x</t></r></is></c><c r="B9"><f>1+1</f></c><c><is><r>',
    "a & b < c > d \" ' ",
    "مرحبا بالعالم",
    "line one\nline two",
    "  leading and trailing  ",
    "plain",
]


def _write_one_sheet(path, rows, columns=None):
    from survey.exports.excel import Column, Workbook

    columns = columns or [Column(f"c{i}") for i in range(len(rows[0]))]
    wb = Workbook(path)
    count = wb.write_sheet("T", columns, rows)
    wb.close()
    return count


def _openpyxl_text(value):
    # openpyxl does not undo the _xHHHH_ escape in inline strings; Excel and calamine do.
    from openpyxl.utils.escape import unescape

    return unescape(value) if isinstance(value, str) else value


def test_hostile_texts_read_back_as_written(tmp_path):
    path = tmp_path / "t.xlsx"
    _write_one_sheet(path, [HOSTILE])
    row = list(load_workbook(path)["T"][2])
    assert [c.data_type for c in row] == ["s"] * len(HOSTILE)
    assert [_openpyxl_text(c.value) for c in row] == HOSTILE
    calamine = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("T")
    assert calamine.to_python()[1] == HOSTILE
    with zipfile.ZipFile(path) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"<hyperlink" not in sheet


def test_control_characters_and_nul_are_removed_not_escaped(tmp_path):
    path = tmp_path / "t.xlsx"
    _write_one_sheet(path, [["a\x00b\x07c\x1fd\ufffe", "ok"]])
    calamine = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("T").to_python()
    assert calamine[1] == ["abcd", "ok"]


def test_cell_limit_counts_utf16_units_and_marks_the_cut(tmp_path):
    emoji = "\U0001f600" * 20_000  # 20,000 characters, 40,000 UTF-16 units
    cjk = "漢" * 40_000
    path = tmp_path / "t.xlsx"
    _write_one_sheet(path, [[emoji, cjk, "x" * 32_767]])
    got = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("T").to_python()[1]
    marker = "… [truncated: 20,000 characters in total; full text in the CSV/JSON export]"
    assert got[0].endswith(marker) and got[0].startswith("\U0001f600" * 100)
    assert len(got[0].encode("utf-16-le")) // 2 <= 32_767
    assert "\ud83d" not in got[0]  # never half a surrogate pair
    assert got[1].endswith(
        "… [truncated: 40,000 characters in total; full text in the CSV/JSON export]"
    )
    assert len(got[1]) == 32_767
    assert got[2] == "x" * 32_767  # exactly the limit is kept whole


def test_numbers_that_excel_cannot_hold_leave_the_cell_valid(tmp_path):
    from survey.exports.excel import Column

    columns = [Column("a", kind="number"), Column("b", kind="number"), Column("c", kind="number")]
    columns += [Column("d", kind="share"), Column("e", kind="date"), Column("f", kind="date")]
    aware = datetime(
        2026,
        3,
        4,
        7,
        6,
        7,
        tzinfo=__import__("datetime").timezone(__import__("datetime").timedelta(hours=2)),
    )
    path = tmp_path / "t.xlsx"
    _write_one_sheet(
        path,
        [[float("nan"), float("inf"), "not a number", 0.5, aware, "2026-03-04T05:06:07Z"]],
        columns,
    )
    row = [c.value for c in load_workbook(path)["T"][2]]
    assert row[0] is None and row[1] is None
    assert row[2] == "not a number"
    assert row[3] == 0.5
    assert row[4] == datetime(2026, 3, 4, 5, 6, 7)  # converted to UTC
    assert row[5] == datetime(2026, 3, 4, 5, 6, 7)


def test_a_sheet_longer_than_excel_allows_continues_on_another(tmp_path, monkeypatch):
    import survey.exports.excel as excel

    monkeypatch.setattr(excel, "rows_per_sheet", lambda: 3)
    path = tmp_path / "t.xlsx"
    count = _write_one_sheet(path, [[str(i)] for i in range(7)])
    assert count == 7
    wb = load_workbook(path)
    assert wb.sheetnames == ["T", "T (2)", "T (3)"]
    assert [[c.value for c in r] for r in wb["T (3)"].iter_rows()] == [["c0"], ["6"]]
    assert all(wb[name].freeze_panes == "A2" for name in wb.sheetnames)


def test_sheet_titles_are_valid_and_unique():
    from survey.exports.cells import sheet_title

    taken: set[str] = set()
    titles = [
        sheet_title(t, taken)
        for t in [
            "Answers",
            "answers",
            "a/b:c?d*e[f]g\\h",
            "History",
            "",
            "x" * 40,
            "x" * 40,
            "'quoted'",
        ]
    ]
    assert titles[0] == "Answers" and titles[1] == "answers (2)"
    assert titles[2] == "a-b-c-d-e-f-g-h"
    assert titles[3] == "History sheet" and titles[4] == "Sheet sheet"
    assert titles[5] == "x" * 31 and titles[6] == "x" * 27 + " (2)"
    assert titles[7] == "quoted"
    assert len({t.casefold() for t in titles}) == len(titles)
    assert all(1 <= len(t) <= 31 for t in titles)


def test_no_worksheet_part_carries_a_zip64_extra_field(workbook_path):
    with open(workbook_path, "rb") as f:
        data = f.read()
    with zipfile.ZipFile(workbook_path) as archive:
        for info in archive.infolist():
            # Local header: extra field follows the name; 0x0001 is the Zip64 extra block id.
            start = info.header_offset
            name_len, extra_len = (
                int.from_bytes(data[start + 26 : start + 28], "little"),
                int.from_bytes(data[start + 28 : start + 30], "little"),
            )
            extra = data[start + 30 + name_len : start + 30 + name_len + extra_len]
            ids = []
            i = 0
            while i + 4 <= len(extra):
                ids.append(int.from_bytes(extra[i : i + 2], "little"))
                i += 4 + int.from_bytes(extra[i + 2 : i + 4], "little")
            assert 0x0001 not in ids, info.filename
            assert info.file_size < 0xFFFFFFFF


def test_the_arabic_workbook_reads_right_to_left(db, questionnaire, answered, tmp_path):
    path = tmp_path / "ar.xlsx"
    write_workbook(db, questionnaire, answered, path, lang="ar")
    wb = load_workbook(path)
    assert all(wb[name].sheet_view.rightToLeft for name in SHEETS)


def test_text_longer_than_a_cell_is_truncated_with_a_marker(workbook_path):
    rows = sheet_dicts(load_workbook(workbook_path)["Answers"])
    cell = next(
        r["value"] for r in rows if r["provision_id"] == "TIP-5" and r["question"] == "steps"
    )
    assert len(cell) == 32_767
    assert cell.startswith("Long answer. Long answer.")
    assert cell.endswith(
        f"… [truncated: {len(LONG):,} characters in total; full text in the CSV/JSON export]"
    )


def test_multiple_choice_is_one_row_per_code_and_joined_in_wide(questionnaire, workbook_path):
    wb = load_workbook(workbook_path)
    rows = sheet_dicts(wb["Answers"])
    ta = [
        (r["value"], r["value_label"])
        for r in rows
        if r["state_iso3"] == "KEN"
        and r["provision_id"] == "UNCAC-15"
        and r["question"] == "ta_types"
    ]
    assert ta == [
        ("legal_advice", "Legal advice"),
        ("capacity_building", "Capacity-building and training"),
    ]
    wide = {r["state_iso3"]: r for r in sheet_dicts(wb["Wide"])}
    # Every Member State has a row; those that have not started show their status and no answers.
    assert len(wide) == 193
    assert {iso3 for iso3, r in wide.items() if r["status"] != "not started"} == {
        "KEN",
        "NGA",
        "EGY",
        "FRA",
    }
    assert wide["PER"]["UNCAC-15.compliance"] is None and wide["PER"]["state"] == "Peru"
    assert wide["KEN"]["UNCAC-15.ta_types"] == "legal_advice;capacity_building"
    assert wide["KEN"]["UNCAC-15.compliance"] == "partly"
    assert wide["NGA"]["TIP-5.compliance"] == "fully"
    assert wide["FRA"]["UNCAC-15.ta_types"] is None
    header = [c.value for c in wb["Wide"][1]]
    assert len(header) == 6 + 2 * len(questionnaire.provisions)
    assert header[6:8] == [
        f"{next(iter(questionnaire.provisions))}.compliance",
        f"{next(iter(questionnaire.provisions))}.ta_types",
    ]


def test_scores_priorities_and_ta_demand_match_the_scoring_library(
    db, questionnaire, answered, workbook_path
):
    wb = load_workbook(workbook_path)
    scores = sheet_dicts(wb["Scores"])
    expected = scores_rows(db, questionnaire, answered)
    assert [(r["state_iso3"], r["provision_id"], r["score"], r["severity"]) for r in scores] == [
        (row[1], row[2], row[5], row[7]) for row in expected
    ]
    assert {r["state_iso3"] for r in scores} == {"NGA", "EGY", "FRA"}  # drafts never count
    nga = next(r for r in scores if r["state_iso3"] == "NGA" and r["provision_id"] == "UNCAC-15")
    assert (nga["score"], nga["weight"], nga["severity"], nga["ta_needed"]) == (0.0, 1.0, 1.0, 1)
    assert all(
        isinstance(nga[k], int | float) for k in ("score", "weight", "severity", "ta_needed")
    )

    priorities = sheet_dicts(wb["Priorities"])
    assert {r["grouping"] for r in priorities} == {
        "un_regional_group",
        "m49_region",
        "m49_subregion",
        "global",
    }
    for grouping in ("un_regional_group", "global"):
        want = regional_priorities(db, questionnaire, answered, grouping)
        got = [r for r in priorities if r["grouping"] == grouping]
        keys = ("region", "provision_id", "n_resp", "n_gap", "gap_share", "ta_share", "rank")
        assert [tuple(r[k] for k in keys) for r in got] == [tuple(w[k] for k in keys) for w in want]
        assert [r["priority"] for r in got] == pytest.approx([w["priority"] for w in want])
    world = next(
        r for r in priorities if r["grouping"] == "global" and r["provision_id"] == "UNCAC-15"
    )
    # NGA not_yet + TA: 1.0; EGY partly, no TA: 0.5 x 0.5; FRA fully: 0 -> mean 1.25 / 3
    assert (world["n_resp"], world["n_gap"]) == (3, 2)
    assert world["priority"] == pytest.approx(1.25 / 3)
    ws = wb["Priorities"]
    share_column = [c.value for c in ws[1]].index("gap_share") + 1
    assert ws.cell(2, share_column).number_format == "0.0%"

    demand = sheet_dicts(wb["TA demand"])
    want = ta_demand(db, questionnaire, answered, "global")
    got = [r for r in demand if r["grouping"] == "global"]
    assert [(r["kind"], r["code"], r["n_states"], r["n_selections"]) for r in got] == [
        (w["kind"], w["code"], w["n_states"], w["n_selections"]) for w in want
    ]
    assert ("ta_type", "legal_advice", 1, 1) in [
        (r["kind"], r["code"], r["n_states"], r["n_selections"]) for r in got
    ]


def test_about_sheet_lists_round_filters_and_constants(db, questionnaire, answered, tmp_path):
    path = tmp_path / "africa.xlsx"
    write_workbook(
        db,
        questionnaire,
        answered,
        path,
        grouping="un_regional_group",
        region="AFRICAN_GROUP",
        instrument="uncac",
        status="submitted",
    )
    wb = load_workbook(path)
    about = {r[0]: r[1] for r in wb["About"].iter_rows(min_row=2, values_only=True) if r[0]}
    assert about["Round"] == answered
    assert about["Questionnaire"].startswith(f"{questionnaire.id} version ")
    assert about["Filter: region"] == "AFRICAN_GROUP"
    assert about["Filter: instrument"] == "UNCAC"
    assert about["Filter: status"] == "submitted"
    assert about["Score s for 'partly'"] == 0.5
    assert about["Weight w for 'consider' obligations"] == 0.5
    assert isinstance(about["Generated at (UTC)"], datetime)
    assert set(SHEETS) <= set(about)
    answers = sheet_dicts(wb["Answers"])
    assert {r["state_iso3"] for r in answers} == {"NGA", "EGY"}
    assert {r["provision_id"] for r in answers} == {"UNCAC-15"}
    codebook = sheet_dicts(wb["Codebook"])
    assert {r["instrument"] for r in codebook} == {"UNCAC"}
    compliance = next(r for r in codebook if r["question"] == "compliance")
    assert compliance["provision_id"] == "UNCAC-5-1"  # mandatory: the mandatory scale
    assert compliance["choices"] == (
        "fully = Yes, fully; partly = Partly; not_yet = Not yet; na = Not applicable"
    )
    consider = next(
        r for r in codebook if (r["provision_id"], r["question"]) == ("UNCAC-5-2", "compliance")
    )
    assert consider["choices"].split("; ")[0] == "adopted = Considered, and adopted"
    priorities = sheet_dicts(wb["Priorities"])
    assert {(r["grouping"], r["region"]) for r in priorities} == {
        ("un_regional_group", "AFRICAN_GROUP")
    }
    assert {r["provision_id"][:5] for r in priorities} == {"UNCAC"}


def test_drafts_filter_gives_empty_aggregates_and_bad_filters_say_what_is_valid(
    db, questionnaire, answered, tmp_path
):
    path = tmp_path / "drafts.xlsx"
    counts = write_workbook(db, questionnaire, answered, path, status="draft")
    assert counts["Answers"] > 0
    assert counts["Scores"] == counts["Priorities"] == counts["TA demand"] == 0
    with pytest.raises(ExportError, match="no region 'Atlantis' in m49_region; valid: Africa"):
        make_filters(db, questionnaire, grouping="m49_region", region="Atlantis")
    with pytest.raises(ExportError, match="a region needs a grouping"):
        make_filters(db, questionnaire, region="Africa")
    with pytest.raises(ExportError, match="unknown instrument 'XYZ'; valid: UNTOC"):
        make_filters(db, questionnaire, instrument="XYZ")
    with pytest.raises(ExportError, match="unknown status 'final'"):
        make_filters(db, questionnaire, status="final")
    with pytest.raises(ExportError, match="no round 'nope'"):
        write_workbook(db, questionnaire, "nope", tmp_path / "x.xlsx")


def test_csv_uses_the_apostrophe_rule_and_json_keeps_values(db, questionnaire, answered, tmp_path):
    csv_path, json_path = tmp_path / "a.csv", tmp_path / "a.json"
    count = write_csv(db, questionnaire, answered, csv_path)
    rows = list(answer_rows(db, questionnaire, answered, make_filters(db, questionnaire)))
    assert count == len(rows)
    text = csv_path.read_bytes().decode("utf-8")
    assert text == csv_text(list(ANSWER_COLUMNS), rows)
    assert '"\'=HYPERLINK(""http://evil"",""x"")"' in text
    assert ",'+1," in text and ",'-2," in text and ",'@SUM(A1)," in text
    assert LONG in text  # full text, never truncated
    assert write_json(db, questionnaire, answered, json_path) == count
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["round"] == answered and data["columns"] == list(ANSWER_COLUMNS)
    assert len(data["answers"]) == count
    ken = {
        a["question"]: a["value"]
        for a in data["answers"]
        if a["state_iso3"] == "KEN" and a["provision_id"] == "UNCAC-15"
    }
    assert {q: ken[q] for q in FORMULAS} == FORMULAS
    buffer = io.BytesIO()
    write_csv(db, questionnaire, answered, buffer, status=["validated"])
    assert buffer.getvalue().decode("utf-8").count("\r\n") == 1 + 2  # header + FRA's 2 answers


# -- the offline questionnaire -------------------------------------------------------------------


def offline_file(db, questionnaire, round_id, iso3, tmp_path, name="offline.xlsx"):
    path = tmp_path / name
    export_offline(db, questionnaire, round_id, iso3, path)
    return path


def row_of(ws, provision_id: str, question: str) -> int:
    for row in range(2, ws.max_row + 1):
        if ws.cell(row, 1).value == provision_id and ws.cell(row, 8).value == question:
            return row
    raise AssertionError(f"no row for {provision_id} {question}")


def fill(path, changes: dict[tuple[str, str], object]) -> None:
    """Type answers into the offline file as a user would (sheet = the provision's instrument)."""
    wb = load_workbook(path)
    for (pid, question), value in changes.items():
        ws = wb[pid.split("-")[0]]
        ws.cell(row_of(ws, pid, question), 6).value = value
    wb.save(path)


def answer_state(db, round_id, iso3):
    response = find_response(db, round_id, iso3)
    answers = load_answers(db, response["id"]) if response else {}
    return {(p, q): a.value for p, qs in answers.items() for q, a in qs.items()}


def history_count(db):
    return db.execute("SELECT count(*) FROM answer_history").fetchone()[0]


def test_offline_workbook_has_protected_instrument_sheets_with_dropdowns(
    db, questionnaire, answered, tmp_path
):
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path)
    wb = load_workbook(path)
    assert wb.sheetnames == [
        "Instructions",
        "UNTOC",
        "TIP",
        "SOM",
        "FIR",
        "UNCAC",
        "Lists",
        "_survey",
    ]
    assert wb["Lists"].sheet_state == "hidden" and wb["_survey"].sheet_state == "veryHidden"
    ws = wb["UNCAC"]
    assert [c.value for c in ws[1]][:7] == [
        "Provision",
        "Article",
        "Title",
        "Obligation",
        "Question",
        "Answer",
        "Guidance",
    ]
    hidden = {
        index
        for dim in ws.column_dimensions.values()
        if dim.hidden
        for index in range(dim.min, dim.max + 1)
    }
    assert hidden == {8, 9}  # H and I: the question key and the answer at download
    assert ws.protection.sheet and not ws.protection.password
    row = row_of(ws, "UNCAC-15", "compliance")
    assert ws.cell(row, 6).value == "Partly"
    assert not ws.cell(row, 6).protection.locked and ws.cell(row, 1).protection.locked
    validated = {str(r) for dv in ws.data_validations.dataValidation for r in dv.sqref.ranges}
    assert f"F{row}" in validated
    assert f"F{row_of(ws, 'UNCAC-15', 'ta_types')}" not in validated  # several answers: typed
    assert ws.cell(row_of(ws, "UNCAC-15", "ta_types"), 6).value == (
        "Legal advice; Capacity-building and training"
    )
    measures = ws.cell(row_of(ws, "UNCAC-15", "measures"), 6)
    assert measures.value == FORMULAS["measures"] and measures.data_type == "s"
    long_cell = wb["TIP"].cell(row_of(wb["TIP"], "TIP-5", "steps"), 6)
    assert len(long_cell.value) == 32_767 and long_cell.protection.locked
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("UNCAC").to_python()
    assert rows[row - 1][0] == "UNCAC-15" and rows[row - 1][5] == "Partly"


def test_offline_round_trip_saves_only_changes_with_history(
    db, questionnaire, answered, tmp_path, people
):
    before = answer_state(db, answered, "KEN")
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path)
    fill(
        path,
        {
            ("UNTOC-5", "compliance"): "Partly",  # a label
            ("UNTOC-5", "challenges"): "Limited resources for implementation; other",
            ("UNTOC-5", "ta_needed"): "yes",  # a code
            ("UNTOC-5", "ta_types"): "legal_advice;Model legislation",
            ("UNTOC-5", "measures"): "=1+1",
            ("UNCAC-15", "steps"): None,  # emptied: deletes the answer
            ("UNCAC-15", "compliance"): "Not yet",
        },
    )
    mark = history_count(db)
    result = import_offline(db, questionnaire, answered, "KEN", path, user_id=people["ken"]["id"])
    assert result.changed == 7 and result.provisions == 2
    after = answer_state(db, answered, "KEN")
    expected = dict(before)
    expected.pop(("UNCAC-15", "steps"))
    expected.update(
        {
            ("UNTOC-5", "compliance"): "partly",
            ("UNTOC-5", "challenges"): ["limited_resources", "other"],
            ("UNTOC-5", "ta_needed"): "yes",
            ("UNTOC-5", "ta_types"): ["legal_advice", "model_legislation"],
            ("UNTOC-5", "measures"): "=1+1",
            ("UNCAC-15", "compliance"): "not_yet",
        }
    )
    assert after == expected
    response = find_response(db, answered, "KEN")
    new = history(db, response["id"])[: history_count(db) - mark]
    assert len(new) == 7
    assert {h["source"] for h in new} == {"offline"}
    assert {h["changed_by"] for h in new} == {people["ken"]["id"]}
    # The long text shown shortened in the file was left alone.
    assert after[("TIP-5", "steps")] == LONG
    # Importing the same file again changes nothing.
    again = import_offline(db, questionnaire, answered, "KEN", path, user_id=None)
    assert again.changed == 0


def test_unchanged_offline_file_writes_nothing(db, questionnaire, answered, tmp_path):
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path)
    mark = history_count(db)
    assert import_offline(db, questionnaire, answered, "KEN", path, user_id=None).changed == 0
    assert history_count(db) == mark


def test_file_with_errors_imports_nothing_and_lists_every_bad_cell(
    db, questionnaire, answered, tmp_path
):
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path)
    wb = load_workbook(path)
    tip, uncac = wb["TIP"], wb["UNCAC"]
    bad_compliance = row_of(uncac, "UNCAC-16-1", "compliance")
    bad_types = row_of(uncac, "UNCAC-15", "ta_types")
    bad_yes_no = row_of(tip, "TIP-6-1", "ta_needed")
    uncac.cell(bad_compliance, 6).value = "maybe"
    uncac.cell(bad_types, 6).value = "legal_advice; bogus"
    tip.cell(bad_yes_no, 6).value = 3
    tip.cell(row_of(tip, "TIP-5", "measures"), 6).value = "A valid change"
    long_row = row_of(tip, "TIP-5", "steps")
    tip.cell(long_row, 6).value = tip.cell(long_row, 6).value.replace("Long", "Short", 1)
    wb.save(path)
    before, mark = answer_state(db, answered, "KEN"), history_count(db)
    with pytest.raises(OfflineImportError) as caught:
        import_offline(db, questionnaire, answered, "KEN", path, user_id=None)
    messages = caught.value.messages
    assert messages[0] == f"TIP!F{long_row}: " + messages[0].split(": ", 1)[1]
    assert "longer than an Excel cell" in messages[0]
    assert messages[1:] == [
        f"TIP!F{bad_yes_no}: '3' is not one of yes, no",
        f"UNCAC!F{bad_types}: 'bogus' is not one of "
        + ", ".join(questionnaire.choice_list("ta_types").codes),
        f"UNCAC!F{bad_compliance}: 'maybe' is not one of fully, partly, not_yet, na",
    ]
    assert answer_state(db, answered, "KEN") == before
    assert history_count(db) == mark


def test_edited_ids_and_moved_rows_are_reported(db, questionnaire, answered, tmp_path):
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path)
    wb = load_workbook(path)
    ws = wb["SOM"]
    ws.cell(2, 1).value = "UNCAC-15"
    ws.cell(3, 8).value = "colour"
    ws.cell(ws.max_row + 2, 6).value = "stray answer"
    wb.save(path)
    with pytest.raises(OfflineImportError) as caught:
        import_offline(db, questionnaire, answered, "KEN", path, user_id=None)
    assert [m.split(":")[0] for m in caught.value.messages] == [
        "SOM!A2",
        "SOM!H3",
        f"SOM!F{ws.max_row}",
    ]


def test_a_file_for_another_state_or_round_is_refused(db, questionnaire, answered, tmp_path):
    path = offline_file(db, questionnaire, answered, "FRA", tmp_path)
    with pytest.raises(OfflineImportError) as caught:
        import_offline(db, questionnaire, answered, "KEN", path, user_id=None)
    assert caught.value.messages == [
        "This file was downloaded for France (FRA); it cannot be imported for Kenya (KEN). "
        "Download the offline file for KEN and enter the answers there."
    ]
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path, "ken.xlsx")
    from survey.storage.rounds import create_round

    create_round(db, "2099", questionnaire)
    with pytest.raises(OfflineImportError, match="This file is for round .* not round 2099"):
        import_offline(db, questionnaire, "2099", "KEN", path, user_id=None)
    plain = tmp_path / "plain.xlsx"
    Workbook().save(plain)
    with pytest.raises(OfflineImportError, match="not an offline questionnaire"):
        import_offline(db, questionnaire, answered, "KEN", plain, user_id=None)


def test_web_edit_after_download_is_never_overwritten_silently(
    db, questionnaire, answered, tmp_path
):
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path)
    response = find_response(db, answered, "KEN")
    save_provision(
        db, response["id"], "UNCAC-15", {"measures": "New law", "steps": "Newer"}, user_id=None
    )
    fill(path, {("UNCAC-15", "measures"): "Offline text"})  # 'steps' left as downloaded
    with pytest.raises(OfflineImportError) as caught:
        import_offline(db, questionnaire, answered, "KEN", path, user_id=None)
    (message,) = caught.value.messages
    assert "was changed on the web" in message and "it is now 'New law'" in message
    result = import_offline(db, questionnaire, answered, "KEN", path, user_id=None, overwrite=True)
    assert result.changes == [("UNCAC-15", "measures")]
    state = answer_state(db, answered, "KEN")
    assert state[("UNCAC-15", "measures")] == "Offline text"
    assert state[("UNCAC-15", "steps")] == "Newer"  # untouched cell: the web's answer stays


def test_submitted_response_refuses_an_import(db, questionnaire, answered, tmp_path):
    path = offline_file(db, questionnaire, answered, "NGA", tmp_path)
    fill(path, {("TIP-5", "measures"): "changed"})
    with pytest.raises(OfflineImportError, match="response is submitted and read-only"):
        import_offline(db, questionnaire, answered, "NGA", path, user_id=None)
    result = import_offline(db, questionnaire, answered, "NGA", path, user_id=None, force=True)
    assert result.changed == 1


def _xlsx_with(parts: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        archive.writestr("xl/workbook.xml", b"<workbook/>")
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _with_doctype(path) -> bytes:
    source = zipfile.ZipFile(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/workbook.xml":
                doctype = b'<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                head, sep, rest = data.partition(b"?>")
                data = head + sep + doctype + rest if sep else doctype + data
            archive.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "This file is not an Excel workbook (.xlsx). Save it as an Excel Workbook"),
        ("xls", "This is an old-format .xls file or a password-protected workbook"),
        ("ods", "This file is an OpenDocument spreadsheet (.ods)"),
        ("damaged", "This file is damaged"),
        ("oversize", "The file is larger than the 5.0 MB limit"),
        ("bomb", "refused as a possible zip bomb"),
        ("ratio", "is compressed"),
        ("doctype", "contains a DOCTYPE or ENTITY declaration"),
        ("empty", "The file is empty."),
    ],
)
def test_hostile_or_wrong_uploads_get_a_clear_error(
    db, questionnaire, answered, tmp_path, kind, message
):
    def good() -> bytes:
        return offline_file(db, questionnaire, answered, "KEN", tmp_path).read_bytes()

    make = {
        "text": lambda: b"province,answer\nKEN,yes\n",
        "xls": lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
        "ods": lambda: _xlsx_with({"content.xml": b"<x/>"}).replace(
            b"xl/workbook.xml", b"xl/workbook.xm_"
        ),
        "damaged": lambda: (lambda data: data[: len(data) // 2])(good()),
        "oversize": lambda: good() + b"\0" * (5 * 1024 * 1024),
        "bomb": lambda: _xlsx_with(
            {f"xl/media/pad{i}.bin": b"\0" * (9 * 1024 * 1024) for i in range(7)}
        ),
        "ratio": lambda: _xlsx_with({"xl/worksheets/sheet1.xml": b" " * (2 * 1024 * 1024)}),
        "doctype": lambda: _with_doctype(io.BytesIO(good())),
        "empty": lambda: b"",
    }
    data = make[kind]()
    mark = history_count(db)
    with pytest.raises(OfflineImportError) as caught:
        import_offline(db, questionnaire, answered, "KEN", io.BytesIO(data), user_id=None)
    assert len(caught.value.messages) == 1
    assert message in caught.value.messages[0]
    assert history_count(db) == mark


def test_upload_checks_run_before_openpyxl_on_bytes_and_paths(tmp_path):
    with pytest.raises(OfflineImportError, match="larger than the 0.0 MB limit"):
        read_upload(b"x" * 100, max_bytes=10)
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(OfflineImportError, match="damaged or not an Excel workbook"):
        check_xlsx(read_upload(path))


# -- web -----------------------------------------------------------------------------------------


@pytest.fixture
def ken(login_as, answered):
    return login_as("ken@example.org")


@pytest.fixture
def analyst(login_as, answered):
    return login_as("analyst@example.org")


def test_analyst_downloads_the_workbook_and_respondents_get_404(analyst, ken, answered):
    page = analyst.client.get(
        f"/exports/{answered}/workbook.xlsx?grouping=un_regional_group", buffered=True
    )
    assert page.status_code == 200
    assert page.mimetype == XLSX_MIMETYPE
    assert "attachment" in page.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(page.data))
    assert wb.sheetnames == list(SHEETS)
    assert {r["grouping"] for r in sheet_dicts(wb["Priorities"])} == {"un_regional_group"}
    assert (
        analyst.client.get(
            f"/exports/{answered}/workbook.xlsx?grouping=x", buffered=True
        ).status_code
        == 400
    )
    assert analyst.client.get("/exports/nope/workbook.xlsx").status_code == 404
    assert ken.client.get(f"/exports/{answered}/workbook.xlsx", buffered=True).status_code == 404
    assert analyst.client.get(f"/fill/{answered}/offline.xlsx", buffered=True).status_code == 404


def test_report_pages_link_to_the_workbook_and_overview_to_offline_files(analyst, ken, answered):
    page = analyst.client.get(f"/reports/{answered}/?grouping=un_regional_group")
    assert f"/exports/{answered}/workbook.xlsx?grouping=un_regional_group" in page.get_data(
        as_text=True
    )
    overview = ken.client.get(f"/fill/{answered}/").get_data(as_text=True)
    assert f"/fill/{answered}/offline.xlsx" in overview and f"/fill/{answered}/offline" in overview


def upload(helper, round_id, data: bytes, **fields):
    form = {"file": (io.BytesIO(data), "answers.xlsx"), **fields}
    return helper.post(f"/fill/{round_id}/offline", form, content_type="multipart/form-data")


def test_respondent_downloads_own_file_and_uploads_it_back(db, ken, answered, tmp_path):
    page = ken.client.get(f"/fill/{answered}/offline.xlsx", buffered=True)
    assert page.status_code == 200 and page.mimetype == XLSX_MIMETYPE
    path = tmp_path / "ken.xlsx"
    path.write_bytes(page.data)
    marker = {r[0]: r[1] for r in load_workbook(path)["_survey"].iter_rows(values_only=True)}
    assert (marker["state"], marker["round"]) == ("KEN", answered)
    assert ken.client.get(f"/fill/{answered}/offline").status_code == 200
    fill(path, {("SOM-6", "compliance"): "Yes, fully", ("SOM-6", "measures"): "Act 12"})
    response = upload(ken, answered, path.read_bytes())
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/fill/{answered}/")
    assert "2 answer(s) changed" in ken.client.get(f"/fill/{answered}/").get_data(as_text=True)
    state = answer_state(db, answered, "KEN")
    assert state[("SOM-6", "compliance")] == "fully" and state[("SOM-6", "measures")] == "Act 12"
    assert history(db, find_response(db, answered, "KEN")["id"], "SOM-6")[0]["source"] == "offline"


def test_upload_with_problems_lists_them_and_saves_nothing(db, ken, answered, tmp_path):
    path = tmp_path / "ken.xlsx"
    path.write_bytes(ken.client.get(f"/fill/{answered}/offline.xlsx", buffered=True).data)
    fill(path, {("SOM-6", "compliance"): "maybe", ("SOM-7", "compliance"): "perhaps"})
    before = answer_state(db, answered, "KEN")
    page = upload(ken, answered, path.read_bytes())
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    assert "2 problem(s) in the file: nothing was saved" in text
    assert re.search(r"SOM!F\d+: &#39;maybe&#39; is not one of fully, partly, not_yet, na", text)
    assert "perhaps" in text
    assert answer_state(db, answered, "KEN") == before
    not_xlsx = upload(ken, answered, b"just text")
    assert not_xlsx.status_code == 422
    assert "This file is not an Excel workbook" in not_xlsx.get_data(as_text=True)
    missing = ken.post(f"/fill/{answered}/offline", {}, content_type="multipart/form-data")
    assert missing.status_code == 422 and "Choose the .xlsx file" in missing.get_data(as_text=True)


def test_upload_without_csrf_token_is_rejected(db, ken, answered, tmp_path):
    data = ken.client.get(f"/fill/{answered}/offline.xlsx", buffered=True).data
    response = ken.client.post(
        f"/fill/{answered}/offline",
        data={"file": (io.BytesIO(data), "answers.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400


def test_upload_refused_when_the_response_is_not_editable(login_as, answered, db):
    fra = login_as("fra@example.org")  # France's response is validated
    data = fra.client.get(f"/fill/{answered}/offline.xlsx", buffered=True).data
    assert load_workbook(io.BytesIO(data))["UNCAC"].cell(2, 1).value
    assert "cannot be edited now" in fra.client.get(f"/fill/{answered}/offline").get_data(
        as_text=True
    )
    assert upload(fra, answered, data, csrf_token=fra.csrf("/fill/")).status_code == 409


# -- command line --------------------------------------------------------------------------------


def test_cli_exports_and_imports_with_every_problem_listed(
    db_path, db, questionnaire, answered, tmp_path
):
    runner = CliRunner()
    out = tmp_path / "out"
    for command, name in (("xlsx", "w.xlsx"), ("csv", "a.csv"), ("json", "a.json")):
        result = runner.invoke(
            main,
            ["export", command, "--db", str(db_path), "--round", answered, "--instrument", "UNCAC"]
            + ["-o", str(out / name)],
        )
        assert result.exit_code == 0, result.output
    assert load_workbook(out / "w.xlsx").sheetnames == list(SHEETS)
    bad = runner.invoke(
        main, ["export", "xlsx", "--db", str(db_path), "--round", "nope", "-o", str(out / "x")]
    )
    assert bad.exit_code == 1 and "no round 'nope'" in bad.output
    path = out / "ken.xlsx"
    result = runner.invoke(
        main,
        ["export", "offline", "--db", str(db_path), "--state", "KEN", "--round", answered]
        + ["-o", str(path)],
    )
    assert result.exit_code == 0, result.output
    fill(path, {("SOM-6", "compliance"): "maybe", ("SOM-7", "compliance"): "no!"})
    args = ["import", "offline", str(path), "--db", str(db_path), "--state", "KEN"]
    result = runner.invoke(main, [*args, "--round", answered])
    assert result.exit_code == 1
    assert re.search(r"SOM!F\d+: 'maybe' is not one of", result.output)
    assert re.search(r"SOM!F\d+: 'no!' is not one of", result.output)
    assert "2 problem(s)" in result.output and "nothing was imported" in result.output
    fill(path, {("SOM-6", "compliance"): "not_yet", ("SOM-7", "compliance"): None})
    result = runner.invoke(main, [*args, "--round", answered, "--by", "ken@example.org"])
    assert result.exit_code == 0, result.output
    assert "1 answer(s) changed" in result.output


def _libreoffice_csv(path, tmp_path) -> dict[str, list[list[str]]]:
    """Every sheet of an xlsx as LibreOffice Calc reads it (headless, UTF-8 CSV per sheet)."""
    import csv
    import shutil
    import subprocess

    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip("LibreOffice is not installed (apt-get install -y libreoffice-calc-nogui)")
    out = tmp_path / "lo-out"
    subprocess.run(
        [
            soffice,
            "--headless",
            f"-env:UserInstallation=file://{tmp_path}/lo-profile",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
            "--outdir",
            str(out),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sheets = {}
    for file in out.glob("*.csv"):
        with open(file, encoding="utf-8", newline="") as f:
            sheets[file.stem.removeprefix(f"{path.stem}-")] = list(csv.reader(f))
    return sheets


def test_libreoffice_opens_the_workbook_and_reads_hostile_texts_as_text(workbook_path, tmp_path):
    hostile = tmp_path / "hostile.xlsx"
    _write_one_sheet(hostile, [HOSTILE])
    assert _libreoffice_csv(hostile, tmp_path)["T"][1] == HOSTILE  # =1+1 would read 2 as a formula
    sheets = _libreoffice_csv(workbook_path, tmp_path / "round")
    assert set(sheets) == set(SHEETS)
    answers = [dict(zip(sheets["Answers"][0], row, strict=True)) for row in sheets["Answers"][1:]]
    got = {
        r["question"]: r["value"]
        for r in answers
        if r["state_iso3"] == "KEN" and r["provision_id"] == "UNCAC-15"
    }
    assert {q: got[q] for q in FORMULAS} == FORMULAS


# -- offline file: issue 14 -----------------------------------------------------------------------


def _rewritten(data: bytes, change) -> bytes:
    """The zip `data` with change(name, bytes) -> bytes | None (None drops the part) applied,
    and change(None, None) -> {name: bytes} added."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            new = change(info.filename, source.read(info))
            if new is not None:
                archive.writestr(info.filename, new)
        for name, extra in (change(None, None) or {}).items():
            archive.writestr(name, extra)
    return buffer.getvalue()


def _refused(db, questionnaire, round_id, data) -> list[str]:
    mark = history_count(db)
    with pytest.raises(OfflineImportError) as caught:
        import_offline(db, questionnaire, round_id, "KEN", io.BytesIO(data), user_id=None)
    assert history_count(db) == mark
    return caught.value.messages


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("xlsm", "This file is a macro-enabled workbook (.xlsm)"),
        ("template", "This file is an Excel template (.xltx)"),
        ("vba", "This file holds macros (xl/vbaProject.bin)"),
        ("doctype_bin", "The part xl/strings.bin contains a DOCTYPE or ENTITY declaration"),
        ("doctype_utf16", "The part xl/styles2.dat contains a DOCTYPE or ENTITY declaration"),
    ],
)
def test_macros_templates_and_oddly_named_parts_are_refused(
    db, questionnaire, answered, tmp_path, kind, message
):
    good = offline_file(db, questionnaire, answered, "KEN", tmp_path).read_bytes()
    main = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    other = {
        "xlsm": b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
        "template": b"application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
    }
    added = {
        "vba": {"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0 macros"},
        "doctype_bin": {
            "xl/strings.bin": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>'
        },
        "doctype_utf16": {
            "xl/styles2.dat": '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x><x/>'.encode(
                "utf-16"
            )
        },
    }

    def change(name, content):
        if name is None:
            return added.get(kind)
        if name == "[Content_Types].xml" and kind in other:
            return content.replace(main, other[kind])
        return content

    messages = _refused(db, questionnaire, answered, _rewritten(good, change))
    assert len(messages) == 1 and messages[0].startswith(message)
    assert "Save it" in messages[0] and ".xlsx" in messages[0]  # what to do instead


def test_a_file_of_junk_rows_lists_200_problems_and_the_total(
    db, questionnaire, answered, tmp_path
):
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path)
    wb = load_workbook(path)
    ws = wb["SOM"]
    rows = [r for r in range(2, ws.max_row + 1) if ws.cell(r, 8).value == "compliance"]
    for r in rows:
        ws.cell(r, 6).value = "certainly not"
    wb.save(path)
    total = len(rows)
    assert total > 20
    from survey.exports import offline

    limit = 10
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(offline, "MAX_LISTED_PROBLEMS", limit)
        messages = _refused(db, questionnaire, answered, path.read_bytes())
    assert len(messages) == limit + 1
    assert all(m.startswith("SOM!F") for m in messages[:limit])
    assert messages[-1].startswith(f"… and {total - limit:,} more problems ({total:,} in total)")


def test_the_default_cap_is_200():
    error = OfflineImportError([f"problem {i}" for i in range(200_000)])
    assert error.total == 200_000 and len(error.messages) == 201
    assert error.messages[-1].startswith("… and 199,800 more problems (200,000 in total)")
    assert len(OfflineImportError(["one", "two"]).messages) == 2


def test_a_label_with_the_multiple_answer_separator_fails_the_check(tmp_path):
    import shutil

    from survey.questionnaire import check_directory, default_directory

    folder = tmp_path / "q"
    shutil.copytree(default_directory(), folder, ignore=shutil.ignore_patterns("schema"))
    shared = folder / "shared.yaml"
    text = shared.read_text(encoding="utf-8")
    assert "        en: Legal advice\n" in text
    shared.write_text(
        text.replace("        en: Legal advice\n", "        en: Legal advice; legal opinions\n", 1),
        encoding="utf-8",
    )
    model, problems = check_directory(folder)
    assert model is None
    assert [p.code for p in problems] == ["label_separator"]
    assert "shared.yaml: choice_lists.ta_types[1].label.en:" in str(problems[0])
    assert "'Legal advice; legal opinions' contains ';'" in str(problems[0])


def test_offline_limits_are_stated_as_excel_holds_them(db, questionnaire, answered, tmp_path):
    wb = load_workbook(offline_file(db, questionnaire, answered, "KEN", tmp_path))
    ws = wb["SOM"]
    guidance = ws.cell(row_of(ws, "SOM-6", "measures"), 7).value
    assert "up to 32,767 characters (what one Excel cell holds)" in guidance
    instructions = " ".join(str(c.value) for c in wb["Instructions"]["A"] if c.value)
    assert "up to 32,767 characters, what one Excel cell holds" in instructions


def test_offline_file_prints_landscape_one_page_wide_with_titles(
    db, questionnaire, answered, tmp_path
):
    wb = load_workbook(offline_file(db, questionnaire, answered, "KEN", tmp_path))
    ws = wb["UNCAC"]
    assert ws.page_setup.orientation == "landscape"
    assert ws.page_setup.paperSize == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToWidth in (None, 1)  # absent means 1 (ECMA-376)
    assert ws.page_setup.fitToHeight == 0  # as many pages down as needed
    assert ws.print_title_rows == "$1:$1"
    assert ws.print_area.endswith(f"$A$1:$G${ws.max_row}")


def test_arabic_offline_file_reads_right_to_left(db, questionnaire, answered, tmp_path):
    path = tmp_path / "ar.xlsx"
    export_offline(db, questionnaire, answered, "KEN", path, lang="ar")
    wb = load_workbook(path)
    assert all(wb[name].sheet_view.rightToLeft for name in ["Instructions", "UNTOC", "UNCAC"])
    path_en = offline_file(db, questionnaire, answered, "KEN", tmp_path, name="en.xlsx")
    assert not load_workbook(path_en)["UNCAC"].sheet_view.rightToLeft


HOSTILE_ANSWERS = {
    "measures": "_x0041_ and _x005F_x0041_ stay as typed",
    "examples": "<r>looks like rich text</r>",
    "steps": "=1+1",
    "ta_provider": "\U0001f600" * 20_000,  # 40,000 UTF-16 units: shown cut and locked
}


def test_hostile_answers_survive_an_unchanged_offline_round_trip(
    db, questionnaire, answered, tmp_path
):
    response = find_response(db, answered, "KEN")
    save_provision(db, response["id"], "SOM-6", HOSTILE_ANSWERS, user_id=None)
    path = offline_file(db, questionnaire, answered, "KEN", tmp_path)
    rows = {
        r[7]: r[5]
        for r in CalamineWorkbook.from_path(str(path)).get_sheet_by_name("SOM").to_python()
        if r[0] == "SOM-6"
    }
    assert rows["measures"] == HOSTILE_ANSWERS["measures"]
    assert rows["examples"] == HOSTILE_ANSWERS["examples"]
    assert rows["steps"] == "=1+1"
    long_cell = rows["ta_provider"]
    assert len(long_cell.encode("utf-16-le")) // 2 <= 32_767
    assert "[truncated: 20,000 characters in total; edit this answer on the web" in long_cell
    mark = history_count(db)
    result = import_offline(db, questionnaire, answered, "KEN", path, user_id=None)
    assert result.changed == 0 and history_count(db) == mark
    # Re-saved by openpyxl (shared strings, as Excel or LibreOffice would): still unchanged.
    wb = load_workbook(path)
    wb.save(path)
    result = import_offline(db, questionnaire, answered, "KEN", path, user_id=None)
    assert result.changed == 0 and history_count(db) == mark


@pytest.mark.parametrize("lang", ["fr", "es", "ru", "zh", "ar"])
def test_the_offline_file_speaks_the_language_it_was_downloaded_in(
    db, questionnaire, answered, tmp_path, lang
):
    from survey.i18n import gettext_for

    english = offline_file(db, questionnaire, answered, "KEN", tmp_path, name="en.xlsx")
    path = tmp_path / f"{lang}.xlsx"
    export_offline(db, questionnaire, answered, "KEN", path, lang=lang)
    wb, wb_en = load_workbook(path), load_workbook(english)
    t = gettext_for(lang)
    header = [c.value for c in wb["UNCAC"][1]][:7]
    assert header == [t(c.value) for c in wb_en["UNCAC"][1]][:7]
    assert header != [c.value for c in wb_en["UNCAC"][1]][:7]
    instructions = [c.value for c in wb["Instructions"]["A"] if c.value]
    english_lines = {c.value for c in wb_en["Instructions"]["A"] if c.value}
    # Every instruction is translated (none is left as the English line).
    assert not english_lines & set(instructions)
    ws = wb["UNCAC"]
    guidance = ws.cell(row_of(ws, "UNCAC-15", "ta_types"), 7).value
    translated = t("One or more, separated by ';' (labels or codes): %(labels)s.")
    assert translated.split("%(labels)s")[0] in guidance
    assert "One or more, separated by" not in guidance
    # The provision is cited and titled in the language; the English file keeps 'Art.'.
    row = row_of(ws, "UNCAC-46-9-a", "compliance")
    provision = questionnaire.provisions["UNCAC-46-9-a"]
    assert ws.cell(row, 2).value == provision.citation(lang) != provision.reference
    assert ws.cell(row, 3).value == provision.title_text.get(lang) != provision.title
    ws_en = wb_en["UNCAC"]
    assert ws_en.cell(row_of(ws_en, "UNCAC-46-9-a", "compliance"), 2).value == provision.reference
    # The import reads the translated file back unchanged.
    assert import_offline(db, questionnaire, answered, "KEN", path, user_id=None).changed == 0


def test_upload_problems_are_in_the_officials_language(db, login_as, answered, tmp_path):
    from survey.i18n import gettext_for

    db.execute("UPDATE users SET language = 'fr' WHERE email = 'ken@example.org'")
    ken = login_as("ken@example.org")
    t = gettext_for("fr")
    page = upload(ken, answered, b"just text")
    assert page.status_code == 422
    text = page.get_data(as_text=True)
    french = t("This file is not an Excel workbook (.xlsx).")
    assert french != "This file is not an Excel workbook (.xlsx)."
    assert french in html.unescape(text)
    assert "This file is not an Excel workbook" not in text
    assert t("Save it as an Excel Workbook (.xlsx) and upload again.") in html.unescape(text)
    # The same file through the CLI (no request) keeps the English message.
    with pytest.raises(OfflineImportError, match="This file is not an Excel workbook"):
        import_offline(db, None, answered, "KEN", io.BytesIO(b"just text"), user_id=None)


def test_the_workbook_bounds_sqlite_memory_while_it_writes_and_restores_the_limit(
    db, questionnaire, answered, tmp_path
):
    """The soft heap limit is lowered for the build only (so temporary tables spill to disk
    rather than grow with the States) and the previous limit comes back, even on an error."""
    from survey.storage.db import EXPORT_HEAP_BYTES

    def limit():
        return db.execute("PRAGMA soft_heap_limit").fetchone()[0]

    db.execute("PRAGMA soft_heap_limit = 123456789")
    seen = []
    write_workbook(
        db, questionnaire, answered, tmp_path / "a.xlsx", progress=lambda rows: seen.append(limit())
    )
    assert seen and set(seen) == {EXPORT_HEAP_BYTES}
    assert limit() == 123456789
    with pytest.raises(ExportError):
        write_workbook(db, questionnaire, "no-such-round", tmp_path / "b.xlsx")
    assert limit() == 123456789
    db.execute("PRAGMA soft_heap_limit = 0")


def test_bounded_memory_keeps_the_lowest_limit_until_the_last_user_leaves(db):
    from survey.storage.db import bounded_memory

    def limit():
        return db.execute("PRAGMA soft_heap_limit").fetchone()[0]

    db.execute("PRAGMA soft_heap_limit = 0")
    with bounded_memory(db, 8_000_000):
        assert limit() == 8_000_000
        with bounded_memory(db, 16_000_000):  # a higher limit never loosens a lower one
            assert limit() == 8_000_000
        with bounded_memory(db, 2_000_000):
            assert limit() == 2_000_000
        assert limit() == 2_000_000  # still lowest until every user has left
    assert limit() == 0
