"""Questionnaire content against the treaty texts (issue 12): obligation levels, summaries,
paragraph-level cross-references, regional notes, and the check's warnings on broad links."""

from __future__ import annotations

import shutil
import textwrap

import pytest
from click.testing import CliRunner

from survey.cli import main
from survey.questionnaire import check_directory, default_directory


def related(questionnaire, pid) -> set[str]:
    return {p.id for p in questionnaire.related(pid)}


def regional(questionnaire, pid) -> dict[tuple[str, str], str]:
    refs = questionnaire.provisions[pid].cross_references
    return {(r.instrument, r.article): r.note or "" for r in refs if not r.is_un}


def summary(questionnaire, pid) -> str:
    return questionnaire.provisions[pid].summary.en


# -- obligation levels and boundaries ------------------------------------------------------


def test_priority_consideration_to_return_assets_is_mandatory(questionnaire):
    # UNCAC 57(3)(c): "the requested State Party shall ... give priority consideration".
    assert questionnaire.provisions["UNCAC-57-3-c"].obligation == "mandatory"
    assert questionnaire.provisions["UNTOC-14-1"].obligation == "mandatory"


def test_uncac_43_is_split_into_criminal_civil_and_dual_criminality(questionnaire):
    provisions = questionnaire.provisions
    assert "UNCAC-43" not in provisions
    assert provisions["UNCAC-43-1"].obligation == "mandatory"
    assert provisions["UNCAC-43-1-s2"].obligation == "consider"
    assert "civil and administrative" in summary(questionnaire, "UNCAC-43-1-s2")
    assert provisions["UNCAC-43-2"].obligation == "mandatory"
    assert "dual criminality" in summary(questionnaire, "UNCAC-43-2")
    assert provisions["UNCAC-43-1"].reference == "Art. 43, para. 1 (first sentence)"


def test_case_by_case_decisions_on_special_techniques_are_their_own_mandatory_provision(
    questionnaire,
):
    provisions = questionnaire.provisions
    assert provisions["UNTOC-20-3"].obligation == "mandatory"
    assert provisions["UNTOC-20-3"].paragraphs == "3"
    assert provisions["UNTOC-20-2"].paragraphs == "2"
    assert provisions["UNTOC-20-2"].obligation == "consider"
    assert related(questionnaire, "UNTOC-20-3") == {"UNCAC-50-3"}


def test_lists_of_means_are_folded_into_the_mandatory_paragraph(questionnaire):
    provisions = questionnaire.provisions
    for gone, kept in (("UNCAC-12-2", "UNCAC-12-1"), ("UNCAC-32-2", "UNCAC-32-1")):
        assert gone not in provisions
        assert provisions[kept].paragraphs == "1-2"
        assert provisions[kept].obligation == "mandatory"
    assert "codes of conduct" in summary(questionnaire, "UNCAC-12-1")
    assert "video link" in summary(questionnaire, "UNCAC-32-1")


def test_self_laundering_exception_exists_in_both_conventions(questionnaire):
    provision = questionnaire.provisions["UNCAC-23-2-e"]
    assert provision.obligation == "optional"
    assert related(questionnaire, "UNCAC-23-2-e") == {"UNTOC-6-2-e"}


@pytest.mark.parametrize("pid", ["UNTOC-27-2", "UNCAC-48-2"])
def test_full_use_of_agreements_is_shown_as_mandatory_inside_a_consider_provision(
    questionnaire, pid
):
    text = summary(questionnaire, pid)
    assert "make full use of agreements" in text
    assert "mandatory" in text


# -- summaries ------------------------------------------------------------------------------


@pytest.mark.parametrize("pid", ["UNTOC-6-1", "UNCAC-23-1"])
def test_laundering_summary_keeps_the_purpose_element(questionnaire, pid):
    text = summary(questionnaire, pid)
    assert "for the purpose of concealing or disguising" in text
    assert "evade the legal consequences" in text


def test_predicate_offences_are_a_comprehensive_range_not_the_full_range(questionnaire):
    text = summary(questionnaire, "UNCAC-23-2-b")
    assert "comprehensive range" in text
    assert "full range" not in text


@pytest.mark.parametrize("pid", ["UNTOC-14-1", "UNCAC-57-3-c"])
def test_return_of_assets_gets_priority_consideration(questionnaire, pid):
    assert "priority consideration" in summary(questionnaire, pid)


def test_corruption_is_a_relevant_factor_not_a_ground_to_cancel_contracts(questionnaire):
    text = summary(questionnaire, "UNCAC-34")
    assert "relevant factor" in text
    assert "annul or rescind" in text
    assert "ground to cancel" not in text


def test_repatriation_uses_the_residence_at_the_time_of_entry(questionnaire):
    assert "at the time of entering" in summary(questionnaire, "TIP-8")


def test_smuggling_offences_keep_every_element(questionnaire):
    text = summary(questionnaire, "SOM-6")
    assert "procure, provide or possess" in text
    assert "any other illegal means" in text
    assert "neither a national nor a permanent resident" in text


@pytest.mark.parametrize(
    "pid,present,absent",
    [
        ("UNCAC-8-3", ["take note of", "International Code of Conduct", "51/59"], ["draw on"]),
        ("UNCAC-16-1", ["in relation to the conduct of international business"], []),
        ("UNCAC-44-2", ["related to Convention offences"], ["related Convention offences"]),
        ("UNCAC-6", ["should also be provided"], ["enough independence, resources"]),
        ("UNTOC-26-2", ["any person who provides such cooperation"], ["for accused persons"]),
        ("UNCAC-37-2", ["any person who provides such cooperation"], ["for accused persons"]),
        ("SOM-16", ["taking into account the special needs"], ["consider the special needs"]),
        ("FIR-9", ["where appropriate, by a competent authority"], []),
    ],
)
def test_imprecise_summaries_now_say_what_the_treaty_says(questionnaire, pid, present, absent):
    text = summary(questionnaire, pid)
    for phrase in present:
        assert phrase in text, (pid, phrase)
    for phrase in absent:
        assert phrase not in text, (pid, phrase)


# -- cross-references -----------------------------------------------------------------------


def test_extradition_paragraphs_pair_with_the_next_uncac_paragraph(questionnaire):
    # UNTOC 16(n) corresponds to UNCAC 44(n+1); UNCAC-44-2 covers UNCAC 44(2)-(3).
    assert related(questionnaire, "UNTOC-16-2") == {"UNCAC-44-2"}
    assert "UNCAC-44-11" not in related(questionnaire, "UNTOC-16-2")
    assert related(questionnaire, "UNTOC-16-10") == {"UNCAC-44-11"}
    assert related(questionnaire, "UNTOC-16-17") == {"UNCAC-44-18"}
    assert related(questionnaire, "UNTOC-16-5-a") == {"UNCAC-44-6-a"}


def test_mutual_legal_assistance_paragraphs_pair_with_the_same_uncac_paragraph(questionnaire):
    assert related(questionnaire, "UNTOC-18-21") == {"UNCAC-46-21"}
    assert related(questionnaire, "UNTOC-18-29-b") == {"UNCAC-46-29-b"}
    assert related(questionnaire, "UNTOC-18-5") == {"UNCAC-46-5", "UNCAC-46-8"}
    assert related(questionnaire, "UNTOC-18-11") == {"UNCAC-46-11", "FIR-13"}


def test_national_and_foreign_bribery_pair_with_the_right_uncac_article(questionnaire):
    assert {p for p in related(questionnaire, "UNTOC-8-1") if p.startswith("UNCAC")} == {"UNCAC-15"}
    assert related(questionnaire, "UNTOC-8-2") == {"UNCAC-16-1", "UNCAC-16-2"}
    assert "UNTOC-8-1" not in related(questionnaire, "UNCAC-16-1")


def test_corruption_participation_is_not_tied_to_organized_crime_offences(questionnaire):
    for pid in ("UNCAC-27-1", "UNCAC-27-2"):
        assert not related(questionnaire, pid) & {"UNTOC-5", "TIP-5", "SOM-6", "FIR-5"}
    assert "UNCAC-27" not in related(questionnaire, "TIP-5")
    assert related(questionnaire, "UNCAC-27-1") == {"UNTOC-8-3"}


def test_missing_links_are_added(questionnaire):
    assert {"UNCAC-7", "UNCAC-8-1", "UNCAC-9", "UNCAC-10"} <= related(questionnaire, "UNTOC-31-1")
    assert "TIP-10" in related(questionnaire, "SOM-10")
    assert "TIP-10" in related(questionnaire, "SOM-14-1")
    assert "UNTOC-18-11" in related(questionnaire, "FIR-13")


def test_no_link_in_the_shipped_questionnaire_pairs_whole_articles(questionnaire):
    # Every provision is linked with at most 4 provisions of any one other article.
    for pid, provision in questionnaire.provisions.items():
        per_article: dict[str, int] = {}
        for ref in provision.cross_references:
            if ref.is_un:
                key = f"{ref.instrument}-{ref.article}"
                per_article[key] = per_article.get(key, 0) + 1
        assert max(per_article.values(), default=0) <= 4, (pid, per_article)


def test_regional_notes_say_what_is_reservable_or_narrower(questionnaire):
    assert (
        "active bribery, trading in influence and money laundering"
        in regional(questionnaire, "UNTOC-10")[("COECRIM", "18")]
    )
    for pid, article in (
        ("UNCAC-16-2", "5"),
        ("UNCAC-18", "12"),
        ("UNCAC-21", "7"),
        ("UNCAC-21", "8"),
    ):
        note = regional(questionnaire, pid)[("COECRIM", article)]
        assert "reserve" in note and "37(1)" in note, (pid, article, note)
        assert "mandatory there" not in note


def test_missing_regional_references_are_added(questionnaire):
    for pid in ("UNCAC-16-1", "UNTOC-8-2"):
        assert {("COECRIM", "6"), ("COECRIM", "10"), ("COECRIM", "11")} <= set(
            regional(questionnaire, pid)
        )
    assert "paragraph 2" in regional(questionnaire, "UNCAC-27-1")[("OECD", "1")]
    assert {("OECD", "9"), ("OECD", "10")} <= set(regional(questionnaire, "UNCAC-43-2"))
    assert "paragraph 2" in regional(questionnaire, "TIP-6-5")[("COETHB", "12")]


# -- the check's warnings -------------------------------------------------------------------

BROAD_LINKS = """
instrument: TIP
title: Trafficking Protocol
chapters:
  - id: general
    title: General provisions
    provisions:
      - id: TIP-5
        article: 5
        title: Criminalization
        obligation: mandatory
        summary: Make trafficking in persons a criminal offence with all its elements.
        cross_references: [TIP-6]
{article_6}
      - id: TIP-8-1
        article: 8
        paragraphs: "1"
        title: Repatriation of victims of trafficking in persons
        obligation: mandatory
        summary: Accept the return of your nationals who are victims, without undue delay.
      - id: TIP-8-2
        article: 8
        paragraphs: "2"
        title: Repatriation of victims of trafficking in persons
        obligation: mandatory
        summary: Return victims with due regard for their safety and pending proceedings.
      - id: TIP-9-1
        article: 9
        paragraphs: "1"
        title: Prevention of trafficking in persons
        obligation: mandatory
        summary: Set up comprehensive policies and programmes to prevent trafficking.
        cross_references: [TIP-8]
      - id: TIP-9-2
        article: 9
        paragraphs: "2"
        title: Prevention of trafficking in persons
        obligation: consider
        summary: Try to carry out research and information campaigns against trafficking.
        cross_references: [TIP-8-2]
"""
ARTICLE_6 = "".join(
    f"""
      - id: TIP-6-{n}
        article: 6
        paragraphs: "{n}"
        title: Assistance to and protection of victims of trafficking in persons
        obligation: mandatory
        summary: Paragraph {n} of the article on assistance to and protection of victims.
"""
    for n in range(1, 6)
)


@pytest.fixture
def broad_links(tmp_path):
    folder = tmp_path / "q"
    shutil.copytree(default_directory(), folder, ignore=shutil.ignore_patterns("schema"))
    (folder / "omnibus.yaml").write_text(
        "id: mini\nversion: '1'\ntitle: Mini\nshared: shared.yaml\ninstruments: [tip.yaml]\n"
    )
    text = textwrap.dedent(BROAD_LINKS).replace("{article_6}", ARTICLE_6)
    (folder / "tip.yaml").write_text(text)
    # The shipped translations name provisions this mini questionnaire does not have.
    shutil.rmtree(folder / "translations")
    return folder


def test_link_expanding_to_many_pairs_is_a_warning_not_an_error(broad_links):
    warnings = []
    model, problems = check_directory(broad_links, warnings)
    assert problems == []
    assert model is not None
    fan_out = [w for w in warnings if w.code == "reference_fan_out"]
    assert [str(w) for w in fan_out] == [
        "tip.yaml: chapters[0].provisions[0].cross_references[0]: cross-reference 'TIP-6' "
        "links TIP-5 with 5 provisions (TIP-6-1, TIP-6-2, TIP-6-3, TIP-6-4, TIP-6-5); more "
        "than 4 pairs from one entry usually means a whole article was named where paragraphs "
        "were meant: name the provisions whose obligations match"
    ]
    assert all(w.is_warning for w in warnings)
    # TIP-5 is a whole article naming a whole article: broad, but not of mixed detail.
    assert not any(w.code == "reference_mixed_detail" and "TIP-5" in str(w) for w in warnings)


def test_paragraph_linked_to_a_whole_article_is_a_warning(broad_links):
    warnings = []
    check_directory(broad_links, warnings)
    mixed = [str(w) for w in warnings if w.code == "reference_mixed_detail"]
    assert mixed == [
        "tip.yaml: chapters[0].provisions[8].cross_references[0]: cross-reference 'TIP-8' "
        "joins the paragraph-level provision TIP-9-1 to the whole of an article split into "
        "2 provisions (TIP-8-1, TIP-8-2); name the matching paragraph(s)"
    ]


def test_check_prints_warnings_and_still_passes(broad_links):
    result = CliRunner().invoke(main, ["questionnaire", "check", str(broad_links)])
    assert result.exit_code == 0, result.output
    assert "warning: tip.yaml: chapters[0].provisions[0].cross_references[0]" in result.output
    assert "2 warning(s)" in result.output


def test_shipped_questionnaire_has_no_warnings():
    warnings = []
    model, problems = check_directory(default_directory(), warnings)
    assert problems == []
    assert [str(w) for w in warnings] == []
