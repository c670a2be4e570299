"""A deterministic synthetic dataset for demonstrations and benchmarks (`survey demo`, `serve --demo`).

All 193 States answer the whole omnibus in two rounds: an earlier round "2024" (closed, every
response validated) and a current round (about 70% submitted or validated, some drafts, a few
returned, some not started). The answers follow the questionnaire's relevance rules and have a
plausible structure: regional differences by UN regional group, mandatory provisions more often
in compliance than optional ones, technical assistance requested where compliance is `no` or
`partly`, progress between the rounds, and free text citing per-State laws, cases and statistics.

Everything comes from one `random.Random(seed)`, so the same seed gives the same data (apart from
password hashes and the creation times of accounts). All rows are written with `executemany` in
one transaction: either the whole dataset is there or none of it is.

Running it on a database that already holds demo data (or a round "2024") is refused with
`DemoError`; start again with a new database file instead.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from .storage.db import transaction
from .storage.migrations import OLD_TO_NEW_COMPLIANCE
from .storage.rounds import YEAR_TITLE, create_round, current_round, generated_titles
from .storage.users import create_user, get_user_by_email

PREVIOUS_ROUND = "2024"
CURRENT_ROUND = "2026"
DEMO_DOMAIN = "demo.example"
ADMIN_EMAIL = f"admin@{DEMO_DOMAIN}"
ANALYST_EMAIL = f"analyst@{DEMO_DOMAIN}"
RESPONDENT_STATES = ("KEN", "FRA", "BRA", "IND", "EGY")
# Where the respondents' States stand in the current round, so each account shows something.
RESPONDENT_STATUS = {
    "KEN": "draft",
    "FRA": "submitted",
    "BRA": "returned",
    "IND": "not_started",
    "EGY": "validated",
}
# Current round: 135 of 193 (70%) submitted or validated.
STATUS_TARGETS = {
    "validated": 50,
    "submitted": 85,
    "returned": 10,
    "draft": 28,
    "not_started": 20,
}
HISTORY_SOURCE = "demo"


class DemoError(Exception):
    pass


# -- accounts ----------------------------------------------------------------------------------


def demo_accounts() -> list[dict]:
    """The demo accounts with their fixed passwords (valid only in a demo database)."""
    accounts = [
        {
            "email": ADMIN_EMAIL,
            "role": "admin",
            "state_iso3": None,
            "password": "demo-admin-2026",  # noqa: S105 - published demo credential
            "name": "Demo administrator",
        },
        {
            "email": ANALYST_EMAIL,
            "role": "analyst",
            "state_iso3": None,
            "password": "demo-analyst-2026",  # noqa: S105 - published demo credential
            "name": "Demo analyst",
        },
    ]
    for iso3 in RESPONDENT_STATES:
        accounts.append(
            {
                "email": f"{iso3.lower()}@{DEMO_DOMAIN}",
                "role": "respondent",
                "state_iso3": iso3,
                "password": f"demo-{iso3.lower()}-2026",
                "name": f"Demo respondent ({iso3})",
            }
        )
    return accounts


# -- regional profiles and wording -------------------------------------------------------------

# capacity: mean latent implementation level; ta: how often TA is requested where there is a gap;
# received: how often TA was received; civil: share of civil-law style citations.
GROUPS = {
    "WEOG": {"capacity": 0.74, "ta": 0.15, "received": 0.15, "civil": 0.6},
    "EASTERN_EUROPEAN_GROUP": {"capacity": 0.63, "ta": 0.45, "received": 0.45, "civil": 0.9},
    "GRULAC": {"capacity": 0.54, "ta": 0.60, "received": 0.40, "civil": 0.85},
    "ASIA_PACIFIC_GROUP": {"capacity": 0.50, "ta": 0.60, "received": 0.35, "civil": 0.5},
    "AFRICAN_GROUP": {"capacity": 0.44, "ta": 0.78, "received": 0.45, "civil": 0.5},
}
DEFAULT_GROUP = {"capacity": 0.55, "ta": 0.5, "received": 0.35, "civil": 0.5}
OBLIGATION_SHIFT = {"mandatory": 0.10, "consider": -0.05, "optional": -0.13}
NA_RATE = {"mandatory": 0.012, "consider": 0.05, "optional": 0.09}
YES_AT, PARTLY_AT = 0.58, 0.40
CHALLENGE_WEIGHTS = {
    "WEOG": {
        "interagency_coordination": 3,
        "legal_system_specificities": 3,
        "competing_priorities": 3,
        "limited_awareness": 1,
        "limited_capacity": 1,
        "limited_resources": 1,
    },
    "EASTERN_EUROPEAN_GROUP": {
        "interagency_coordination": 3,
        "legal_system_specificities": 2,
        "competing_priorities": 2,
        "limited_capacity": 2,
        "limited_resources": 2,
    },
    "GRULAC": {
        "interagency_coordination": 3,
        "competing_priorities": 2,
        "limited_capacity": 2,
        "limited_resources": 3,
        "limited_awareness": 1,
    },
    "ASIA_PACIFIC_GROUP": {
        "interagency_coordination": 2,
        "legal_system_specificities": 2,
        "limited_capacity": 3,
        "limited_resources": 3,
        "limited_awareness": 2,
    },
    "AFRICAN_GROUP": {
        "interagency_coordination": 2,
        "competing_priorities": 1,
        "limited_capacity": 4,
        "limited_resources": 5,
        "limited_awareness": 2,
    },
}
# What each sort of provision needs: criminalization asks for drafting help, cooperation for
# model agreements and trained central authorities, and so on. Types not named here are chosen
# rarely (OFF_PROFILE), so the shares of States differ and not only the numbers of selections.
TA_TYPE_WEIGHTS = {
    "offence": {"legislative_drafting": 8, "legal_advice": 4, "model_legislation": 3},
    "assets": {"legal_advice": 3, "capacity_building": 4, "institution_building": 3},
    "cooperation": {"capacity_building": 6, "model_agreements": 5, "good_practices": 2},
    "protection": {"institution_building": 3, "good_practices": 3, "capacity_building": 3},
    "prevention": {"action_plan": 4, "institution_building": 4, "good_practices": 3},
    "training": {"capacity_building": 5, "onsite_expert": 3, "good_practices": 2},
    "firearms_control": {"capacity_building": 4, "onsite_expert": 3, "model_legislation": 2},
}
OFF_PROFILE = 0.04
# Regional habits multiply the weights: richer States ask for good practices and peer advice,
# others for institutions, technology and experts on site.
TA_REGION_FACTORS = {
    "WEOG": {"good_practices": 3, "legal_advice": 2, "onsite_expert": 0.3, "action_plan": 0.3},
    "EASTERN_EUROPEAN_GROUP": {"model_agreements": 2, "legal_advice": 1.5, "onsite_expert": 0.5},
    "GRULAC": {"action_plan": 2, "onsite_expert": 1.5, "institution_building": 1.5},
    "ASIA_PACIFIC_GROUP": {"legislative_drafting": 1.5, "model_legislation": 2, "action_plan": 1.5},
    "AFRICAN_GROUP": {"capacity_building": 2, "institution_building": 2, "onsite_expert": 2},
}
# Which challenges each sort of provision runs into (multiplied with the regional weights).
CHALLENGE_KIND_FACTORS = {
    "offence": {"legal_system_specificities": 4, "competing_priorities": 0.5},
    "cooperation": {"interagency_coordination": 3, "limited_capacity": 2},
    "assets": {"limited_capacity": 2, "interagency_coordination": 2},
    "prevention": {"limited_resources": 2, "limited_awareness": 2},
    "protection": {"limited_resources": 3},
}
TA_PROVIDERS = {
    "WEOG": ["peer exchanges within the OECD", "the Council of Europe", "UNODC"],
    "EASTERN_EUROPEAN_GROUP": [
        "the Council of Europe",
        "the OSCE",
        "the European Union (twinning project)",
        "UNODC",
    ],
    "GRULAC": ["UNODC", "the Organization of American States", "UNDP", "the European Union"],
    "ASIA_PACIFIC_GROUP": ["UNODC", "UNDP", "the Asian Development Bank", "bilateral donors"],
    "AFRICAN_GROUP": [
        "UNODC",
        "UNODC and UNDP",
        "the African Union Commission",
        "the European Union (through UNODC)",
        "the Commonwealth Secretariat",
    ],
}
TOPIC_PROVIDERS = {
    "tip": "IOM and UNODC",
    "som": "IOM and UNODC",
    "firearms": "the UNODC Global Firearms Programme",
    "proceeds": "the StAR Initiative (World Bank and UNODC)",
    "aml": "the IMF and the regional FATF-style body",
}
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
# (name of the act, subject of a "Law No. ... on ...")
LAWS = {
    "corruption": [
        ("Anti-Corruption Act", "the Prevention of and Fight against Corruption"),
        ("Prevention of Corruption Act", "Combating Corruption"),
        (
            "Integrity and Anti-Corruption Act",
            "Integrity in Public Life and the Fight against Corruption",
        ),
    ],
    "organized_crime": [
        ("Organized Crime Control Act", "Combating Organized Crime"),
        ("Prevention of Organised Crime Act", "the Suppression of Organized Criminal Groups"),
        ("Serious Crime Act", "Serious and Organized Crime"),
    ],
    "aml": [
        (
            "Anti-Money Laundering and Counter-Terrorist Financing Act",
            "the Prevention of Money Laundering and Terrorist Financing",
        ),
        (
            "Financial Intelligence Act",
            "the Financial Intelligence Unit and Suspicious Transaction Reporting",
        ),
        ("Money Laundering (Prevention) Act", "Combating Money Laundering"),
    ],
    "proceeds": [
        ("Proceeds of Crime Act", "the Confiscation of the Proceeds of Crime"),
        ("Asset Recovery Act", "the Seizure, Confiscation and Recovery of Assets"),
        ("Criminal Assets Management Act", "the Management of Seized and Confiscated Assets"),
    ],
    "mla": [
        (
            "Mutual Legal Assistance in Criminal Matters Act",
            "Mutual Legal Assistance in Criminal Matters",
        ),
        (
            "International Cooperation in Criminal Matters Act",
            "International Judicial Cooperation in Criminal Matters",
        ),
    ],
    "extradition": [
        ("Extradition Act", "Extradition"),
        ("Extradition and Surrender Act", "Extradition and the Surrender of Persons"),
    ],
    "witness": [
        ("Witness Protection Act", "the Protection of Witnesses, Experts and Victims"),
        (
            "Whistleblower and Witness Protection Act",
            "the Protection of Whistleblowers and Witnesses",
        ),
    ],
    "public_service": [
        ("Public Service Act", "the Civil Service and Public Ethics"),
        ("Public Procurement and Asset Disposal Act", "Public Procurement"),
        ("Public Officials Ethics Act", "the Ethics and Asset Declarations of Public Officials"),
    ],
    "tip": [
        (
            "Prevention of Trafficking in Persons Act",
            "Combating Trafficking in Persons and Assisting Victims",
        ),
        ("Counter-Trafficking in Persons Act", "the Fight against Trafficking in Human Beings"),
    ],
    "som": [
        ("Immigration and Border Control Act", "the Entry, Stay and Exit of Foreigners"),
        ("Anti-Smuggling of Migrants Act", "Combating the Smuggling of Migrants"),
    ],
    "firearms": [
        ("Firearms and Ammunition Act", "Weapons, Ammunition and Explosives"),
        ("Arms Control Act", "the Control of Small Arms and Light Weapons"),
    ],
}
AGENCIES = {
    "corruption": [
        "the National Anti-Corruption Commission",
        "the Anti-Corruption Agency",
        "the Commission for the Prevention of Corruption",
    ],
    "organized_crime": [
        "the Organized Crime Unit of the National Police",
        "the Office of the Public Prosecutor",
    ],
    "aml": ["the Financial Intelligence Unit"],
    "proceeds": ["the Asset Recovery Office", "the Office of the Public Prosecutor"],
    "mla": [
        "the Ministry of Justice (central authority)",
        "the Office of the Attorney General (central authority)",
    ],
    "extradition": ["the Ministry of Justice", "the Office of the Attorney General"],
    "witness": ["the Witness Protection Unit", "the Office of the Public Prosecutor"],
    "procedure": ["the Office of the Public Prosecutor", "the Ministry of Justice"],
    "penal": ["the Ministry of Justice", "the Office of the Public Prosecutor"],
    "public_service": [
        "the Public Service Commission",
        "the Public Procurement Authority",
        "the Ethics Office",
    ],
    "tip": ["the National Anti-Trafficking Committee", "the Anti-Trafficking Unit of the Police"],
    "som": ["the Immigration Service", "the Border Police"],
    "firearms": ["the Central Firearms Registry", "the National Commission on Small Arms"],
}
PARLIAMENT = ("Parliament", "the National Assembly", "the Legislature")
GAPS = {
    "offence": [
        "the offence does not cover advantages promised or offered through intermediaries",
        "legal persons cannot be held liable",
        "the penalties (up to {n} years' imprisonment) are not dissuasive",
        "attempt and preparation are not covered",
    ],
    "cooperation": [
        "dual criminality is still required for non-coercive measures",
        "there is no legal basis for cooperation in the absence of a treaty",
        "the central authority has not been formally designated",
    ],
    "assets": [
        "non-conviction based confiscation is not provided for",
        "there is no mechanism for managing seized assets",
        "value-based confiscation is not possible",
    ],
    "protection": [
        "protection measures are limited to the trial stage",
        "there is no dedicated protection programme",
        "relocation and change of identity are not available",
    ],
    "other": [
        "implementing regulations have not yet been adopted",
        "the measures apply to central government only",
        "the responsible body lacks the staff to apply them consistently",
        "implementation is not monitored",
    ],
}
DECLINED_REASONS = (
    "Considered by the Ministry of Justice in {year}; not adopted because the Constitution presumes innocence and the prosecution must prove every element of an offence.",
    "Considered in the {year} review of the criminal law; not adopted because existing asset declaration and money-laundering offences were judged sufficient.",
    "Considered by the inter-ministerial working group in {year}; not adopted as incompatible with the fundamental principles of the legal system.",
)
OTHER_TEXTS = {
    "challenges_other": (
        "Frequent turnover of trained staff.",
        "Legislative calendar taken up by constitutional reform.",
    ),
    "ta_other": (
        "Translation of model laws into the national language.",
        "Peer exchange with a State of the same legal tradition.",
    ),
}
NA_REASONS = {
    "mandatory": [
        "the situation the provision addresses does not arise under the domestic legal system",
        "this is covered by the answer given for a related article",
    ],
    "other": [
        "the legislator decided not to adopt this optional measure",
        "the matter is settled by the Constitution and needs no specific measure",
        "the measure is not compatible with the fundamental principles of the legal system",
    ],
}

_OFFENCE_WORDS = (
    "criminalization",
    "bribery",
    "embezzlement",
    "trading in influence",
    "abuse of functions",
    "illicit enrichment",
    "laundering of proceeds",
    "concealment",
    "obstruction",
    "participation",
    "liability of legal persons",
    "criminal liability",
)
_ASSET_WORDS = (
    "confiscat",
    "seizure",
    "freezing",
    "recovery",
    "disposal",
    "proceeds",
    "return and disposal",
    "general provision",
)
_COOPERATION_WORDS = (
    "extradition",
    "mutual legal assistance",
    "transfer of",
    "joint investigations",
    "cooperation",
    "agreements and arrangements",
)
_PROTECTION_WORDS = ("victim", "witness", "reporting persons", "repatriation", "return of smuggled")
_TRAINING_WORDS = ("training", "information", "collection")
_PROCEDURE_WORDS = (
    "jurisdiction",
    "statute of limitations",
    "special investigative",
    "prosecution",
    "criminal record",
    "knowledge, intent",
    "participation and attempt",
)
_PUBLIC_WORDS = (
    "public sector",
    "codes of conduct",
    "procurement",
    "public reporting",
    "judiciary",
)


def classify(provision) -> tuple[str, str]:
    """(topic: which domestic law is cited, kind: what sort of measure) for a provision."""
    title = provision.title.lower()
    inst = provision.instrument
    if any(w in title for w in _OFFENCE_WORDS) and "cooperation" not in title:
        kind = "offence"
    elif "laundering" in title and "measures" in title:
        kind = "prevention"
    elif any(w in title for w in _ASSET_WORDS) or provision.chapter == "asset_recovery":
        kind = "assets"
    elif any(w in title for w in _COOPERATION_WORDS):
        kind = "cooperation"
    elif any(w in title for w in _PROTECTION_WORDS) or "protection" in title:
        kind = "protection"
    elif inst == "FIR" and provision.chapter == "prevention" and "training" not in title:
        kind = "firearms_control"
    elif any(w in title for w in _TRAINING_WORDS):
        kind = "training"
    else:
        kind = "prevention"
    if inst == "TIP":
        topic = "tip"
    elif inst == "SOM":
        topic = "som"
    elif inst == "FIR":
        topic = "firearms"
    elif "laundering" in title or "financial intelligence" in title or "bank secrecy" in title:
        topic = "aml"
    elif kind == "assets":
        topic = "proceeds"
    elif "extradition" in title:
        topic = "extradition"
    elif kind == "cooperation":
        topic = "mla"
    elif kind == "protection":
        topic = "witness"
    elif any(w in title for w in _PROCEDURE_WORDS):
        topic = "procedure"
    elif "obstruction" in title or "legal persons" in title:
        topic = "penal"
    elif any(w in title for w in _PUBLIC_WORDS):
        topic = "public_service"
    else:
        topic = "organized_crime" if inst == "UNTOC" else "corruption"
    return topic, kind


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class _Law:
    """How one State cites one of its laws."""

    __slots__ = ("full", "short", "section_word")

    def __init__(self, full: str, short: str, section_word: str):
        self.full, self.short, self.section_word = full, short, section_word


def _state_laws(rng: random.Random, civil: bool) -> tuple[dict[str, _Law], int]:
    """A State's legal profile: per topic, how the law is cited; and its penal code's year."""
    style = (1 if rng.random() < 0.7 else 2) if civil else 0
    section = "section" if style == 0 else "article"
    laws: dict[str, _Law] = {}
    code_year = rng.randint(1930, 2012)
    code_no = rng.randint(3, 160)
    if style == 0:
        laws["penal"] = _Law(f"the Penal Code (Cap. {code_no})", "the Penal Code", section)
        proc_no = rng.randint(3, 160)
        laws["procedure"] = _Law(
            f"the Criminal Procedure Code (Cap. {proc_no})", "the Criminal Procedure Code", section
        )
    else:
        laws["penal"] = _Law(f"the Criminal Code of {code_year}", "the Criminal Code", section)
        proc_year = rng.randint(code_year, 2018)
        laws["procedure"] = _Law(
            f"the Code of Criminal Procedure of {proc_year}",
            "the Code of Criminal Procedure",
            section,
        )
    for topic, variants in LAWS.items():
        name, subject = rng.choice(variants)
        year = rng.randint(1996, 2021)
        number = rng.randint(2, 90)
        if style == 0:
            law = _Law(f"the {name} {year} (Act No. {number} of {year})", f"the {name}", section)
        elif style == 1:
            day, month = rng.randint(1, 28), rng.choice(MONTHS)
            law = _Law(
                f"Law No. {year}-{number} of {day} {month} {year} on {subject}",
                f"Law No. {year}-{number}",
                section,
            )
        else:
            law = _Law(f"the {name} (No. {number}/{year})", f"the {name}", section)
        laws[topic] = law
    return laws, style


class _StateProfile:
    __slots__ = (
        "iso3",
        "name",
        "group",
        "g",
        "capacity",
        "inst_offset",
        "laws",
        "agencies",
        "parliament",
        "neighbours",
        "user_id",
    )


class _ProvisionPlan:
    __slots__ = (
        "provision",
        "pid",
        "instrument",
        "obligation",
        "topic",
        "kind",
        "title",
        "citation",
        "chapter_index",
        "difficulty",
        "questions",
    )


# -- text ----------------------------------------------------------------------------------------


def _section(rng, law: _Law) -> str:
    first = rng.randint(2, 120)
    roll = rng.random()
    if roll < 0.15:
        return f"{law.section_word}s {first} and {first + 1}"
    if roll < 0.35:
        return f"{law.section_word}s {first} to {first + rng.randint(2, 6)}"
    return f"{law.section_word} {first}"


def _measures(rng, state, plan, compliance, year, amended: bool) -> str:
    law = state.laws[plan.topic]
    title = plan.title
    if compliance == "na":
        reasons = NA_REASONS["mandatory" if plan.obligation == "mandatory" else "other"]
        return f"Not applicable: {rng.choice(reasons)}."
    if compliance == "no":
        text = f"No legislation or other measure implements {plan.citation} ({title}) yet."
        roll = rng.random()
        if roll < 0.4:
            text += f" {_cap(state.laws['penal'].short)} contains general provisions that apply only in part."
        elif roll < 0.7:
            text += f" The matter is under discussion in {rng.choice(state.agencies[plan.topic])}."
        return text
    sec = _section(rng, law)
    if compliance == "yes":
        if "legal persons" in title:
            text = (
                f"{_cap(law.full)}, {sec}, makes legal persons liable for the offences established"
                f" under {plan.citation}, with fines of up to {rng.choice((2, 3, 5, 10))} times the"
                " benefit obtained and exclusion from public procurement."
            )
        elif plan.kind == "offence":
            text = (
                f"{_cap(law.full)}, {sec}, establishes the offence ({title}), punishable by up to "
                f"{rng.choice((5, 7, 8, 10, 12, 15, 20))} years' imprisonment"
                f"{' and fines for legal persons' if rng.random() < 0.5 else ''}."
            )
        else:
            verb = rng.choice(("gives full effect to", "implements", "covers all elements of"))
            text = f"{_cap(law.full)}, {sec}, {verb} {plan.citation} ({title})."
            if rng.random() < 0.45:
                text += (
                    f" Implementing regulations were adopted in {rng.randint(year - 12, year - 1)}"
                    f" and {rng.choice(state.agencies[plan.topic])} applies them."
                )
    else:
        gaps = GAPS.get(plan.kind, GAPS["other"])
        gap = rng.choice(gaps).format(n=rng.choice((1, 2, 3)))
        text = f"{_cap(law.full)}, {sec}, covers {plan.citation} ({title}) in part: {gap}."
    if amended:
        text += (
            f" The law was amended in {year - 1} to address the gap reported in the previous round."
        )
    return text


def _examples(rng, state, plan, year) -> str:
    y = year - rng.choice((1, 1, 2))
    law = state.laws[plan.topic]
    kind = plan.kind
    if kind == "offence":
        n = rng.randint(3, 400)
        m = rng.randint(1, max(1, n // 2))
        k = rng.randint(0, m)
        text = (
            f"In {y}, {n:,} investigations were opened under {law.short}; "
            f"{m:,} cases were brought to trial and {k:,} ended in convictions."
        )
        if rng.random() < 0.4:
            initials = f"{rng.choice('ABCDEFGHJKLMNOPRSTVZ')}.{rng.choice('ABCDEFGHJKLMNOPRSTVZ')}."
            text += (
                f" In case No. {rng.randint(10, 999)}/{y} (Public Prosecutor v. {initials}), the court"
                f" imposed {rng.randint(2, 12)} years' imprisonment."
            )
        return text
    if kind == "assets":
        frozen = rng.randint(5, 4000) / 10
        confiscated = round(frozen * rng.uniform(0.1, 0.7), 1)
        return (
            f"In {y}, assets worth USD {frozen:.1f} million were frozen or seized and"
            f" USD {confiscated:.1f} million were confiscated by final judgment."
        )
    if kind == "cooperation":
        received, sent = rng.randint(2, 600), rng.randint(1, 300)
        done = rng.randint(1, received)
        text = (
            f"In {y}, {rng.choice(state.agencies['mla'])} received {received:,} requests and sent {sent:,};"
            f" {done:,} requests were executed, on average within {rng.randint(2, 14)} months."
        )
        if state.neighbours and rng.random() < 0.35:
            text += f" A joint operation with {rng.choice(state.neighbours)} led to {rng.randint(2, 40)} arrests."
        return text
    if kind == "protection":
        n = rng.randint(2, 900)
        m = rng.randint(1, n)
        who = (
            "victims were identified"
            if plan.topic in ("tip", "som")
            else "persons were admitted to protection"
        )
        return (
            f"{n:,} {who} in {y}; {m:,} received shelter, medical care or legal aid, and "
            f"{rng.randint(0, m):,} testified in criminal proceedings."
        )
    if kind == "firearms_control":
        marked = rng.randint(200, 60000)
        seized = rng.randint(10, 5000)
        return (
            f"{marked:,} firearms were marked and recorded in the national register in {y};"
            f" {seized:,} illicit firearms were seized and {rng.randint(0, seized):,} destroyed."
        )
    if kind == "training":
        return (
            f"{rng.randint(20, 1500):,} officials (police, prosecutors and judges) were trained in {y}"
            f" in {rng.randint(2, 60)} sessions organized by {rng.choice(state.agencies[plan.topic])}."
        )
    if plan.topic == "aml":
        reports = rng.randint(50, 90000)
        return (
            f"The Financial Intelligence Unit received {reports:,} suspicious transaction reports in {y}"
            f" and disseminated {rng.randint(1, max(1, reports // 20)):,} to law enforcement."
        )
    if plan.topic in ("corruption", "public_service"):
        filed = rng.randint(500, 80000)
        return (
            f"{filed:,} asset declarations were filed in {y} and {rng.randint(10, filed // 3):,} were verified;"
            f" {rng.choice(state.agencies[plan.topic])} published its annual report in {MONTHS[rng.randrange(12)]} {y + 1}."
        )
    return (
        f"{_cap(rng.choice(state.agencies[plan.topic]))} ran {rng.randint(2, 40)} awareness and"
        f" prevention activities in {y}, reaching about {rng.randint(1, 250) * 100:,} people."
    )


def _steps(rng, state, plan, year) -> str:
    agency = rng.choice(state.agencies[plan.topic])
    months = rng.choice((3, 6, 6, 9, 12, 12, 18, 24))
    roll = rng.random()
    if roll < 0.4:
        return (
            f"{_cap(agency)} has prepared a draft amendment to {state.laws[plan.topic].short};"
            f" it is to be submitted to {state.parliament} within {months} months."
        )
    if roll < 0.7:
        what = rng.choice(
            (
                "the adoption of implementing regulations",
                f"a dedicated unit in {agency}",
                f"training for {rng.randint(20, 400)} prosecutors and judges",
                "a review of the legal framework against this provision",
            )
        )
        return f"The national action plan {year - 1}-{year + 2} foresees {what} within {months} months."
    return (
        f"An inter-ministerial working group set up in {MONTHS[rng.randrange(12)]} {year - 1}"
        f" will propose legislation within {months} months."
    )


def _pick_many(rng, codes, weights: dict, most: int = 3, default: float = 1) -> list[str]:
    usable = [c for c in codes if c != "other"]
    w = [weights.get(c, default) for c in usable]
    k = rng.choice((1, 1, 2, 2, 3))
    k = min(k, most, len(usable))
    picked: set[str] = set()
    while len(picked) < k:
        picked.add(rng.choices(usable, w)[0])
    if "other" in codes and rng.random() < 0.03:
        picked.add("other")
    return [c for c in codes if c in picked]


def _generate(rng, state, plan, question, name, kept, year, ctx):
    """A value for one question (None: leave an optional question unanswered)."""
    level_code = kept.get("compliance")
    compliance = UNDERLYING.get(level_code, level_code)
    if name == "reason":
        if level_code == "declined":
            return rng.choice(DECLINED_REASONS).format(year=year - rng.choice((1, 2, 3, 4)))
        return f"{_cap(rng.choice(NA_REASONS['mandatory' if plan.obligation == 'mandatory' else 'other']))}."
    if name in ("challenges_other", "ta_other"):
        return rng.choice(OTHER_TEXTS[name])
    if name == "measures":
        return _measures(rng, state, plan, compliance, year, ctx.get("amended", False))
    if name == "examples":
        return _examples(rng, state, plan, year) if rng.random() < ctx["examples_rate"] else None
    if name == "steps":
        return _steps(rng, state, plan, year)
    if name == "challenges":
        if rng.random() > 0.85:
            return None
        factors = CHALLENGE_KIND_FACTORS.get(plan.kind, {})
        weights = {
            c: w * factors.get(c, 1) for c, w in CHALLENGE_WEIGHTS.get(state.group, {}).items()
        }
        return _pick_many(rng, question.choices.codes, weights, default=0.1)
    if name == "ta_needed":
        # Asked whatever the answer: mostly where there is a gap, now and then to go further.
        p = state.g["ta"] * {"no": 1.0, "partly": 0.8}.get(compliance, 0.1)
        if plan.obligation == "mandatory":
            p = min(1.0, p + 0.08)
        return "yes" if rng.random() < p else "no"
    if name == "ta_types":
        factors = TA_REGION_FACTORS.get(state.group, {})
        weights = {
            c: factors.get(c, 1) * TA_TYPE_WEIGHTS.get(plan.kind, {}).get(c, OFF_PROFILE)
            for c in question.choices.codes
        }
        return _pick_many(rng, question.choices.codes, weights, default=OFF_PROFILE)
    if name == "ta_received":
        if rng.random() > 0.9:
            return None
        p = state.g["received"] * (1.0 if kept.get("ta_needed") == "yes" else 0.3)
        return "yes" if rng.random() < p else "no"
    if name == "ta_provider":
        if rng.random() > 0.9:
            return None
        provider = TOPIC_PROVIDERS.get(plan.topic)
        if provider is None or rng.random() < 0.4:
            provider = rng.choice(TA_PROVIDERS.get(state.group, ["UNODC"]))
        return f"{_cap(provider)} ({year - rng.choice((1, 2, 3))}): {rng.choice(('legal advice', 'a training workshop', 'an expert mission', 'a study visit', 'review of a draft law'))}."
    if name == "notified_on":
        # A date, or only the year, with the note verbale's reference now and then (the hint).
        sent = year - rng.randint(1, 15)
        if rng.random() < 0.25:
            return str(sent)
        when = f"{sent}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if rng.random() < 0.5:
            return f"{when}, note verbale No. {rng.randint(10, 999)}/{sent}"
        return when
    # A question outside the standard block: answer it plainly from its type.
    if question.type == "text":
        return None if rng.random() < 0.5 else f"See the measures described under {plan.citation}."
    codes = question.choices.codes if question.choices else ()
    if not codes:
        return None
    if question.type == "select_multiple":
        return _pick_many(rng, codes, {})
    return rng.choice(codes)


# -- relevance, cached ---------------------------------------------------------------------------


def _relevance_deps(question) -> tuple[str, ...] | None:
    """The answers a question's relevance rule looks at (None: always relevant)."""
    if question.relevant is None:
        return None
    return tuple(dict.fromkeys(question.relevant.questions()))


# -- generation ----------------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(rng, start: datetime, days: float) -> datetime:
    """A working-hours moment within `days` after start."""
    day = start + timedelta(days=rng.randrange(max(1, int(days))))
    return day.replace(hour=rng.randint(7, 18), minute=rng.randrange(60), second=rng.randrange(60))


def demo_present(db) -> str | None:
    """Why the database already holds the demo (or would clash with it), else None."""
    emails = [a["email"] for a in demo_accounts()]
    marks = ", ".join("?" for _ in emails)
    row = db.execute(f"SELECT email FROM users WHERE email IN ({marks}) LIMIT 1", emails).fetchone()
    if row:
        return f"the demo account {row[0]} already exists"
    if db.execute("SELECT 1 FROM rounds WHERE id = ?", [PREVIOUS_ROUND]).fetchone():
        return f"a round '{PREVIOUS_ROUND}' already exists"
    return None


def _plans(questionnaire, rng) -> dict[str, list[_ProvisionPlan]]:
    """Per instrument, the provisions in questionnaire order with what generation needs."""
    plans: dict[str, list[_ProvisionPlan]] = {}
    for inst in questionnaire.instruments:
        rows = []
        for chapter_index, chapter in enumerate(inst.chapters):
            for provision in chapter.provisions:
                plan = _ProvisionPlan()
                plan.provision = provision
                plan.pid = provision.id
                plan.instrument = inst.code
                plan.obligation = provision.obligation
                plan.topic, plan.kind = classify(provision)
                plan.title = _lower_first(provision.title)
                plan.citation = f"{provision.reference} of the {inst.short_title.en}"
                plan.chapter_index = chapter_index
                plan.difficulty = rng.gauss(0, 0.08)
                plan.questions = tuple((q, q.name, _relevance_deps(q)) for q in provision.questions)
                rows.append(plan)
        plans[inst.code] = rows
    return plans


def _compliance_2024(rng, state, plan, group_chapter: dict) -> str:
    if rng.random() < NA_RATE.get(plan.obligation, 0.03):
        return "na"
    x = (
        state.capacity
        + state.inst_offset[plan.instrument]
        + group_chapter[(state.group, plan.instrument, plan.chapter_index)]
        + plan.difficulty
        + OBLIGATION_SHIFT.get(plan.obligation, 0.0)
        + rng.gauss(0, 0.16)
    )
    return "yes" if x >= YES_AT else "partly" if x >= PARTLY_AT else "no"


# The demo reasons on one underlying state of implementation (yes / partly / no / na) and writes it
# in the answer scale of the provision's obligation level (docs/scoring.md). A "shall consider"
# measure a State has not adopted was, in about a third of States, considered and declined.
DECLINED_SHARE = 0.35
UNDERLYING = {
    "fully": "yes",
    "partly": "partly",
    "not_yet": "no",
    "adopted": "yes",
    "partly_adopted": "partly",
    "declined": "no",
    "not_yet_considered": "no",
    "used": "yes",
    "not_used": "no",
    "na": "na",
}


def _level_code(rng, obligation: str, underlying: str, before: str | None = None) -> str:
    """The answer on the provision's scale; an unchanged state keeps last round's answer."""
    if before is not None and UNDERLYING.get(before) == underlying:
        return before
    if obligation == "consider" and underlying == "no":
        return "declined" if rng.random() < DECLINED_SHARE else "not_yet_considered"
    return OLD_TO_NEW_COMPLIANCE[obligation][underlying]


def _progress(rng, before: str, received_ta: bool) -> str:
    """The current answer given the 2024 one: usually the same or better."""
    roll = rng.random()
    boost = 0.15 if received_ta else 0.0
    if before == "no":
        return "yes" if roll < 0.04 else "partly" if roll < 0.26 + boost else "no"
    if before == "partly":
        return "yes" if roll < 0.22 + boost else "no" if roll > 0.97 else "partly"
    if before == "yes":
        return "partly" if roll < 0.03 else "yes"
    return "na" if roll < 0.92 else "partly"


def _answer_provision(rng, cache, state, plan, compliance, year, ctx, previous=None) -> dict:
    """Answers of one provision in question order, only where relevant given earlier answers.

    Relevance is `question.is_relevant(answers so far)`, memoised in `cache` on the values of the
    answers the rule looks at (a million calls otherwise dominate the generation time).
    """
    kept: dict = {}
    carry = ctx.get("carry", 0.0)
    for question, name, deps in plan.questions:
        if deps is not None:
            key = (id(question), *[kept.get(d) for d in deps])
            try:
                relevant = cache[key]
            except KeyError:
                relevant = cache[key] = question.is_relevant(kept)
            except TypeError:  # a list among the values the rule looks at
                relevant = question.is_relevant(kept)
            if not relevant:
                continue
        if name == "compliance":
            value = compliance
        elif previous is not None and name in previous and rng.random() < carry:
            value = previous[name]
        else:
            value = _generate(rng, state, plan, question, name, kept, year, ctx)
        if value is None or value == []:
            continue
        kept[name] = value
    return kept


def _target_round(db) -> tuple[dict | None, str]:
    """(the empty default round to reuse or None, the id of the demo's current round)."""
    default = current_round(db)
    if default is not None and default["id"] != PREVIOUS_ROUND:
        used = db.execute(
            "SELECT 1 FROM responses WHERE round_id = ? LIMIT 1", [default["id"]]
        ).fetchone()
        if not used:
            return default, default["id"]
    if db.execute("SELECT 1 FROM rounds WHERE id = ?", [CURRENT_ROUND]).fetchone():
        raise DemoError(
            f"Round '{CURRENT_ROUND}' already exists and is not an empty current round, so the"
            " demo cannot use it; nothing was changed. Run the demo on a new database file"
            " (survey demo --db PATH)."
        )
    return None, CURRENT_ROUND


class _Builder:
    """Builds the rows of both rounds in memory (no database access)."""

    def __init__(self, questionnaire, rng: random.Random, current_id: str, year: int):
        self.rng = rng
        self.current_id = current_id
        self.year = year
        self.codes = [inst.code for inst in questionnaire.instruments]
        self.plans = _plans(questionnaire, rng)
        self.group_chapter = {
            (g, inst.code, i): rng.gauss(0, 0.06)
            for g in sorted(GROUPS)
            for inst in questionnaire.instruments
            for i in range(len(inst.chapters))
        }
        self.relevance_cache: dict = {}
        self.answers: list[tuple] = []  # (iso3, round, provision, question, value, at, by)
        self.responses: list[tuple] = []
        self.events: list[tuple] = []  # (iso3, round, from, to, comment, at, by)
        self.counts = {PREVIOUS_ROUND: Counter(), current_id: Counter()}
        self.answer_counts: Counter = Counter()
        self.previous: dict[tuple[str, str], dict] = {}
        self._coded: dict[str, str] = {}
        # Same output as storage.responses.encode (json.dumps(value, ensure_ascii=False)),
        # without building a new encoder for each of ~500,000 values.
        self._encode = json.JSONEncoder(ensure_ascii=False).encode

    def enc(self, value) -> str:
        if isinstance(value, str) and len(value) <= 16:
            text = self._coded.get(value)
            if text is None:
                text = self._coded[value] = self._encode(value)
            return text
        return self._encode(value)

    def profiles(self, states: list[dict], respondent_of: dict) -> list[_StateProfile]:
        rng = self.rng
        by_subregion: dict[str, list[str]] = {}
        for s in states:
            by_subregion.setdefault(s["m49_subregion"], []).append(s["name_en"])
        profiles = []
        for s in states:
            p = _StateProfile()
            p.iso3, p.name, p.group = s["iso3"], s["name_en"], s["un_regional_group"]
            p.g = GROUPS.get(p.group, DEFAULT_GROUP)
            p.capacity = p.g["capacity"] + rng.gauss(0, 0.10)
            p.inst_offset = {code: rng.gauss(0, 0.07) for code in self.codes}
            p.laws, style = _state_laws(rng, rng.random() < p.g["civil"])
            p.parliament = PARLIAMENT[style]
            p.agencies = {topic: [rng.choice(names)] for topic, names in AGENCIES.items()}
            p.neighbours = [n for n in by_subregion[s["m49_subregion"]] if n != p.name]
            p.user_id = respondent_of.get(p.iso3)
            profiles.append(p)
        return profiles

    def statuses(self, profiles) -> dict[str, str]:
        """Each State's status in the current round, hitting STATUS_TARGETS exactly."""
        known = {p.iso3 for p in profiles}
        status_of = {iso3: st for iso3, st in RESPONDENT_STATUS.items() if iso3 in known}
        pool = [p.iso3 for p in profiles if p.iso3 not in status_of]
        self.rng.shuffle(pool)
        remaining = Counter(STATUS_TARGETS)
        remaining.subtract(Counter(status_of.values()))
        order = [st for st in STATUS_TARGETS for _ in range(max(0, remaining[st]))]
        for i, iso3 in enumerate(pool):
            status_of[iso3] = order[i] if i < len(order) else "submitted"
        return status_of

    def _sessions(self, start: datetime, end: datetime) -> list[str]:
        """Eight working sessions between start and end; chapters are saved in order over them."""
        days = max(1, (end - start).days)
        return [_stamp(t) for t in sorted(_at(self.rng, start, days) for _ in range(8))]

    def _event(self, p, round_id, from_status, to_status, at, by, comment=None):
        self.events.append((p.iso3, round_id, from_status, to_status, comment, _stamp(at), by))

    def previous_round(self, p, analyst_id: int) -> None:
        """Round 2024: the State answered everything and the response was validated."""
        rng = self.rng
        created = _at(rng, datetime(2024, 1, 20, tzinfo=UTC), 60)
        submitted = _at(rng, datetime(2024, 4, 10, tzinfo=UTC), 75)
        validated = _at(rng, submitted + timedelta(days=7), 80)
        sessions = self._sessions(created, submitted)
        ctx = {"examples_rate": 0.0, "carry": 0.0}
        before = len(self.answers)
        for code in self.codes:
            plans = self.plans[code]
            n_chapters = plans[-1].chapter_index + 1 if plans else 1
            for plan in plans:
                underlying = _compliance_2024(rng, p, plan, self.group_chapter)
                compliance = _level_code(rng, plan.obligation, underlying)
                ctx["examples_rate"] = 0.8 if underlying == "yes" else 0.6
                values = _answer_provision(
                    rng, self.relevance_cache, p, plan, compliance, 2024, ctx
                )
                self.previous[(p.iso3, plan.pid)] = values
                at = sessions[plan.chapter_index * len(sessions) // n_chapters]
                for name, value in values.items():
                    self.answers.append(
                        (p.iso3, PREVIOUS_ROUND, plan.pid, name, self.enc(value), at, p.user_id)
                    )
        self.answer_counts[PREVIOUS_ROUND] += len(self.answers) - before
        self.responses.append(
            (
                PREVIOUS_ROUND,
                p.iso3,
                "validated",
                _stamp(created),
                _stamp(validated),
                _stamp(submitted),
                _stamp(validated),
                None,
            )
        )
        self._event(p, PREVIOUS_ROUND, "draft", "submitted", submitted, p.user_id)
        self._event(p, PREVIOUS_ROUND, "submitted", "validated", validated, analyst_id)
        self.counts[PREVIOUS_ROUND]["validated"] += 1

    def current_round(self, p, status: str, instruments, analyst_id: int) -> None:
        """The current round: progress on the 2024 answers, at the State's stage of the workflow."""
        rng, round_id, year = self.rng, self.current_id, self.year
        self.counts[round_id][status] += 1
        if status == "not_started":
            return
        plans = [plan for code in self.codes if code in instruments for plan in self.plans[code]]
        created = _at(rng, datetime(year, 1, 20, tzinfo=UTC), 50)
        if status == "draft":
            last = _at(rng, created + timedelta(days=10), 120)
            keep = int(len(plans) * rng.uniform(0.15, 0.85))
            plans_done = plans[: keep + 1]  # the last one only started
        else:
            last = _at(rng, datetime(year, 3, 20, tzinfo=UTC), 85)
            keep = len(plans)
            plans_done = plans
        sessions = self._sessions(created, last)
        before_count = len(self.answers)
        for index, plan in enumerate(plans_done):
            before = self.previous[(p.iso3, plan.pid)]
            old = before.get("compliance")
            underlying = _progress(rng, UNDERLYING[old], before.get("ta_received") == "yes")
            compliance = _level_code(rng, plan.obligation, underlying, old)
            same = compliance == old
            if index == keep:  # a draft's last provision: started, not finished
                values = {"compliance": compliance}
            else:
                ctx = {
                    "examples_rate": 0.85 if underlying == "yes" else 0.65,
                    "carry": 0.9 if same else 0.0,
                    "amended": not same
                    and underlying in ("yes", "partly")
                    and UNDERLYING[old] in ("no", "partly"),
                }
                values = _answer_provision(
                    rng,
                    self.relevance_cache,
                    p,
                    plan,
                    compliance,
                    year,
                    ctx,
                    before if same else None,
                )
            at = sessions[index * len(sessions) // len(plans)]
            for name, value in values.items():
                self.answers.append(
                    (p.iso3, round_id, plan.pid, name, self.enc(value), at, p.user_id)
                )
        self.answer_counts[round_id] += len(self.answers) - before_count
        updated, submitted_at, validated_at, comment = last, None, None, None
        if status != "draft":
            submitted = last
            self._event(p, round_id, "draft", "submitted", submitted, p.user_id)
            if status == "validated" and rng.random() < 0.15:
                # Returned once, corrected, resubmitted, then validated.
                back = _at(rng, submitted + timedelta(days=3), 20)
                comment = _return_comment(rng, plans)
                self._event(p, round_id, "submitted", "returned", back, analyst_id, comment)
                submitted = _at(rng, back + timedelta(days=3), 25)
                self._event(p, round_id, "returned", "submitted", submitted, p.user_id)
            submitted_at = _stamp(submitted)
            updated = submitted
            if status == "validated":
                updated = _at(rng, submitted + timedelta(days=5), 55)
                validated_at = _stamp(updated)
                self._event(p, round_id, "submitted", "validated", updated, analyst_id)
            elif status == "returned":
                updated = _at(rng, submitted + timedelta(days=5), 35)
                comment = _return_comment(rng, plans)
                self._event(p, round_id, "submitted", "returned", updated, analyst_id, comment)
        self.responses.append(
            (
                round_id,
                p.iso3,
                status,
                _stamp(created),
                _stamp(updated),
                submitted_at,
                validated_at,
                comment,
            )
        )

    def write(self, db) -> None:
        """Insert everything built (the caller holds the transaction)."""
        conn = db.conn
        conn.executemany(
            "INSERT INTO responses (round_id, state_iso3, status, created_at, updated_at,"
            " submitted_at, validated_at, returned_comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            self.responses,
        )
        ids = {
            (round_id, iso3): rid
            for rid, round_id, iso3 in conn.execute(
                "SELECT id, round_id, state_iso3 FROM responses WHERE round_id IN (?, ?)",
                [PREVIOUS_ROUND, self.current_id],
            )
        }
        rows = [(ids[(r, s)], pid, q, v, at, by) for s, r, pid, q, v, at, by in self.answers]
        self.answers = []
        last_id = conn.execute("SELECT coalesce(max(id), 0) FROM answers").fetchone()[0]
        conn.executemany(
            "INSERT INTO answers (response_id, provision_id, question, value, version, updated_at,"
            " updated_by) VALUES (?, ?, ?, ?, 1, ?, ?)",
            rows,
        )
        # The audit trail of the rows just inserted, copied inside SQLite (no second binding).
        conn.execute(
            "INSERT INTO answer_history (response_id, provision_id, question, old_value, new_value,"
            " changed_at, changed_by, source) SELECT response_id, provision_id, question, NULL,"
            " value, updated_at, updated_by, ? FROM answers WHERE id > ? ORDER BY id",
            [HISTORY_SOURCE, last_id],
        )
        conn.executemany(
            "INSERT INTO response_events (response_id, from_status, to_status, comment, at, by_user)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(ids[(r, s)], a, b, c, at, by) for s, r, a, b, c, at, by in self.events],
        )


def generate_demo(db, questionnaire, *, seed: int = 2026) -> dict:
    """Fill the database with the demo dataset (see the module docstring); return a summary.

    Raises DemoError, having changed nothing, when the database already holds demo data.
    """
    started = time.perf_counter()
    reason = demo_present(db)
    if reason:
        raise DemoError(
            f"This database already has demo data ({reason}); nothing was changed. "
            "Log in with the demo accounts, or start over with a new database file "
            "(survey demo --db PATH)."
        )
    states = [dict(r) for r in db.query("SELECT * FROM states ORDER BY iso3")]
    if not states:
        raise DemoError("The States table is empty: prepare the database first (survey init).")
    reuse, current_id = _target_round(db)
    numeric = re.fullmatch(r"20[2-9]\d", current_id) and int(current_id) > 2024
    builder = _Builder(
        questionnaire, random.Random(seed), current_id, int(current_id) if numeric else 2026
    )
    accounts = demo_accounts()

    with transaction(db):
        users = {}
        for account in accounts:
            user = create_user(
                db,
                account["email"],
                account["role"],
                state_iso3=account["state_iso3"],
                password=account["password"],
                name=account["name"],
            )
            users[account["email"]] = user["id"]
        analyst_id = users[ANALYST_EMAIL]
        respondent_of = {
            a["state_iso3"]: users[a["email"]] for a in accounts if a["role"] == "respondent"
        }
        create_round(
            db,
            PREVIOUS_ROUND,
            questionnaire,
            titles=generated_titles(YEAR_TITLE, year=PREVIOUS_ROUND),
            instruments=builder.codes,
            opens_on="2024-01-15",
            closes_on="2024-06-30",
            status="closed",
            created_at="2024-01-10T09:00:00Z",
        )
        if reuse:
            db.execute(
                "UPDATE rounds SET previous_round = ? WHERE id = ?", [PREVIOUS_ROUND, current_id]
            )
            instruments = reuse["instruments"]
        else:
            instruments = create_round(
                db,
                CURRENT_ROUND,
                questionnaire,
                titles=generated_titles(YEAR_TITLE, year=CURRENT_ROUND),
                instruments=builder.codes,
                opens_on=f"{CURRENT_ROUND}-01-15",
                closes_on=f"{CURRENT_ROUND}-06-30",
                previous_round=PREVIOUS_ROUND,
            )["instruments"]
        overrides = {
            iso3: json.loads(codes)
            for iso3, codes in db.execute(
                "SELECT state_iso3, instruments FROM round_states WHERE round_id = ?", [current_id]
            )
        }

        profiles = builder.profiles(states, respondent_of)
        status_of = builder.statuses(profiles)
        for p in profiles:
            builder.previous_round(p, analyst_id)
        for p in profiles:
            state_instruments = overrides.get(p.iso3, instruments)
            builder.current_round(p, status_of[p.iso3], state_instruments, analyst_id)
        built = time.perf_counter()
        builder.write(db)
    # Fresh statistics so the query planner picks the covering index for scoring at once.
    db.execute("ANALYZE")
    finished = time.perf_counter()

    return {
        "seed": seed,
        "rounds": {"previous": PREVIOUS_ROUND, "current": current_id},
        "reused_round": reuse is not None,
        "states": len(states),
        "status_counts": {
            r: {st: c[st] for st in STATUS_TARGETS if c[st]} for r, c in builder.counts.items()
        },
        "answers": dict(builder.answer_counts),
        "history": dict(builder.answer_counts),
        "events": len(builder.events),
        "accounts": [
            {k: a[k] for k in ("email", "role", "state_iso3", "password")} for a in accounts
        ],
        "seconds": round(finished - started, 2),
        "seconds_building": round(built - started, 2),
        "seconds_writing": round(finished - built, 2),
    }


def _return_comment(rng, plans) -> str:
    plan = rng.choice(plans)
    ask = rng.choice(
        (
            "cite the legal provision that implements it",
            "add the statistics mentioned for the last two years",
            "explain the planned steps and their timeline",
            "reconcile the answer with the one given in the previous round",
        )
    )
    return f"Please revise your answer on {plan.citation} ({plan.title}): {ask}."


# -- printing and `serve --demo` -------------------------------------------------------------------


def credentials_text(summary: dict) -> str:
    """The demo accounts, their passwords and where to start, ready to print."""
    rounds = summary.get("rounds") or {}
    current = rounds.get("current", CURRENT_ROUND)
    previous = rounds.get("previous", PREVIOUS_ROUND)
    lines = []
    counts = (summary.get("status_counts") or {}).get(current)
    if counts:
        mix = ", ".join(f"{n} {status.replace('_', ' ')}" for status, n in counts.items())
        answers = summary.get("answers") or {}
        total = sum(answers.values())
        lines.append(
            f"Demo data: {summary.get('states', 193)} States; round {previous} all validated,"
            f" round {current} (current): {mix}."
        )
        lines.append(
            f"{total:,} answers written"
            + (f" in {summary['seconds']:.1f} s" if "seconds" in summary else "")
            + f" (seed {summary.get('seed')})."
        )
    lines.append("Demo accounts (for this demo database only; change them before any real use):")
    accounts = summary.get("accounts") or [
        {k: a[k] for k in ("email", "role", "state_iso3", "password")} for a in demo_accounts()
    ]
    width = max(len(a["email"]) for a in accounts)
    for a in accounts:
        what = a["role"] + (f" for {a['state_iso3']}" if a.get("state_iso3") else "")
        status = RESPONDENT_STATUS.get(a.get("state_iso3") or "")
        if status:
            what += f" (response {status.replace('_', ' ')} in {current})"
        lines.append(f"  {a['email']:<{width}}  {a['password']:<18}  {what}")
    lines.append(
        "Open the web app (survey serve --demo, then http://127.0.0.1:5000/) and log in:"
        f" the analyst and admin see every State's response under /responses/{current}/,"
        " a respondent fills in their State's questionnaire under /fill/."
    )
    return "\n".join(lines)


def ensure_demo(db, questionnaire=None) -> str:
    """For `survey serve --demo`: generate the demo unless it is there; say what to log in with."""
    reason = demo_present(db)
    if reason:
        if get_user_by_email(db, ADMIN_EMAIL) is None:
            return (
                f"Demo data not added: {reason} in this database. "
                "Use a new database file for the demo (--db PATH)."
            )
        row = db.execute(
            "SELECT id FROM rounds WHERE previous_round = ? ORDER BY created_at DESC LIMIT 1",
            [PREVIOUS_ROUND],
        ).fetchone()
        rounds = {"previous": PREVIOUS_ROUND, "current": row[0] if row else CURRENT_ROUND}
        return "Demo data already in this database (not generated again).\n" + credentials_text(
            {"rounds": rounds}
        )
    if questionnaire is None:
        from .questionnaire import get_questionnaire

        questionnaire = get_questionnaire()
    try:
        summary = generate_demo(db, questionnaire)
    except DemoError as exc:
        return f"Demo data not added: {exc}"
    return credentials_text(summary)
