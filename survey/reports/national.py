"""A State's national technical-assistance priorities: its gaps ranked by the regional method.

The ranking is the regional method of docs/scoring.md applied to one State: a gap's priority is
its severity g = w x (1 - s) times the TA factor, ties broken by questionnaire order. Scores come
from `score_state` and the indexes from `state_index`, so a State sees the numbers the regional
reports are built from. Around each gap: the TA types requested, TA already received and who
provides it, the challenges, and the regional instruments its provision is cross-referenced with.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime

from ..answers import relevant_answers
from ..scoring import COUNTED_STATUSES, Index, counted_states, index_by, score_state, state_index
from ..storage.responses import find_response, response_values
from ..storage.rounds import state_instruments
from ..storage.states import get_state
from .cache import regional_priorities
from .coverage import provider_key

# The grouping a national report compares the State with: its UN regional group, the grouping
# the Conferences' regional analyses use.
CONTEXT_GROUPING = "un_regional_group"
# A State's officials see their region's figures only when at least this many States of the
# region count: with fewer, a regional share would tell them how their neighbours answered.
OFFICIALS_MIN_STATES = 5


@dataclass(frozen=True)
class Label:
    """A code with its label in the report's language."""

    code: str
    label: str


@dataclass(frozen=True)
class RegionalReference:
    """An article of a regional (non-UN) instrument that the provision is cross-referenced with."""

    instrument: str  # the instrument's code in the questionnaire, e.g. 'AUCPCC'
    instrument_title: str
    article: str
    article_title: str | None
    note: str | None
    # For the page: the citation in the report's language, and the names and note in every
    # language held (Text; the English str above are for the API and the CSV).
    citation: str = ""
    instrument_title_text: object = None
    article_title_text: object = None
    note_text: object = None


@dataclass(frozen=True)
class NationalProvision:
    """One provision of the State's report: a ranked gap, or TA requested without a gap."""

    rank: int | None  # None for TA requested on a provision without a gap
    provision_id: str
    instrument: str
    chapter: object  # the chapter's Text (translated in the template)
    reference: str  # in English (the CSV)
    title: str  # in English (the CSV); title_text holds every language
    summary: object  # Text
    obligation: str
    compliance: Label
    score: float
    weight: float
    severity: float
    ta_requested: bool
    priority: float
    ta_types: tuple[Label, ...]
    ta_other: str | None
    ta_received: bool
    ta_provider: str | None
    challenges: tuple[Label, ...]
    challenges_other: str | None
    steps: str | None
    regional: tuple[RegionalReference, ...]
    related: tuple[str, ...]  # UN provisions cross-referenced with this one
    citation: str = ""  # `reference` in the report's language
    title_text: object = None  # the title's Text


@dataclass(frozen=True)
class Tally:
    """How many of the State's provisions selected a TA type or challenge."""

    code: str
    label: str
    provisions: int


@dataclass(frozen=True)
class Provider:
    """A TA provider as the State named it, with the provisions it already helps on."""

    name: str
    provisions: tuple[str, ...]


@dataclass(frozen=True)
class InstrumentIndex:
    code: str
    title: object  # the instrument's short title (Text)
    index: Index


@dataclass(frozen=True)
class RegionalStanding:
    """A provision in the regional priorities of the State's region (docs/scoring.md)."""

    rank: int  # among the region's provisions, 1 = highest regional priority
    n_resp: int  # counted States of the region that scored it
    n_gap: int  # of those, States with a gap
    gap_share: float  # n_gap / n_resp, 0-1


@dataclass(frozen=True)
class RegionalContext:
    """The State's region in the regional priorities of the same round, counted responses only
    (submitted and validated, the State's own included when it counts)."""

    grouping: str  # CONTEXT_GROUPING
    region: str  # the region's code, e.g. 'AFRICAN_GROUP'
    counted_states: int  # States of the region whose response counts
    ranked: int  # provisions ranked in the region
    standings: dict  # provision id -> RegionalStanding

    @property
    def small(self) -> bool:
        """Fewer counted States than the heatmap's small-region mark: shown, marked."""
        from .build import SMALL_REGION

        return self.counted_states < SMALL_REGION

    def of(self, provision_id: str) -> RegionalStanding | None:
        return self.standings.get(provision_id)

    def shared_top(self, gaps, top: int = 20) -> int:
        """How many of `gaps` are among the region's `top` priorities."""
        return sum(1 for p in gaps if (s := self.standings.get(p.provision_id)) and s.rank <= top)


def regional_context(db, model, round_id: str, iso3: str) -> RegionalContext | None:
    """The State's UN regional group in the round's regional priorities (cached); None when the
    State has no region or no State of its region counts yet."""
    state = get_state(db, iso3)
    region = state and state.get(CONTEXT_GROUPING)
    if not region:
        return None
    rows = regional_priorities(db, model, round_id, CONTEXT_GROUPING, region=region)
    if not rows:
        return None
    counted = counted_states(db, round_id, CONTEXT_GROUPING).get(region, 0)
    return RegionalContext(
        CONTEXT_GROUPING,
        region,
        counted,
        len(rows),
        {
            row["provision_id"]: RegionalStanding(
                row["rank"], row["n_resp"], row["n_gap"], row["gap_share"]
            )
            for row in rows
        },
    )


@dataclass(frozen=True)
class NationalReport:
    round_id: str
    state_iso3: str
    status: str | None  # None: the State has no response in the round
    generated: str  # UTC, ISO 8601
    index: Index
    by_instrument: tuple[InstrumentIndex, ...]
    gaps: tuple[NationalProvision, ...]  # ranked
    ta_without_gap: tuple[NationalProvision, ...]  # in questionnaire order
    ta_requested: tuple[Tally, ...]  # over the gaps and the TA requested without a gap
    challenges: tuple[Tally, ...]
    ta_received: int  # scored provisions on which the State already receives TA
    providers: tuple[Provider, ...]
    constants: dict
    region: RegionalContext | None = None  # the State's region in the regional priorities

    @property
    def counted(self) -> bool:
        """Whether the regional reports count this response (submitted or validated)."""
        return self.status in COUNTED_STATUSES

    @property
    def uncovered(self) -> tuple[NationalProvision, ...]:
        """Gaps with TA requested and none received yet, in priority order."""
        return tuple(p for p in self.gaps if p.ta_requested and not p.ta_received)


def national_priority(score, constants) -> float:
    """The priority of one State's scored provision: g x the TA factor (docs/scoring.md)."""
    factor = constants.ta["requested"] if score.ta_needed else constants.ta["not_requested"]
    return score.severity * factor


def _regional(model, provision, lang: str = "en") -> tuple[RegionalReference, ...]:
    instruments = {e.code: e for e in model.external_instruments}
    out = []
    for ref in provision.cross_references:
        if ref.is_un:
            continue
        external = instruments.get(ref.instrument)
        articles = dict(external.articles) if external else {}
        out.append(
            RegionalReference(
                ref.instrument,
                external.title if external else ref.instrument,
                ref.article,
                ref.title or articles.get(ref.article),
                ref.note,
                ref.citation(lang),
                ref.instrument_title or (external.title_text if external else None),
                ref.title_text,
                ref.note_text,
            )
        )
    return tuple(out)


def _labels(choices, codes, lang) -> tuple[Label, ...]:
    return tuple(Label(c, choices.label(c, lang) if choices else c) for c in codes)


def _tallies(items, choices, lang) -> tuple[Tally, ...]:
    counts: dict[str, int] = {}
    for codes in items:
        for code in codes:
            counts[code] = counts.get(code, 0) + 1
    order = {c: i for i, c in enumerate(choices.codes if choices else ())}
    return tuple(
        Tally(code, choices.label(code, lang) if choices else code, n)
        for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], 99), kv[0]))
    )


def _providers(received: dict[str, str | None]) -> tuple[Provider, ...]:
    """Providers named for the provisions with TA received, grouped by the one rule of the
    coverage report (coverage.provider_key); the most provisions first."""
    named: dict[str, tuple[str, list[str]]] = {}
    for provision_id, provider in received.items():
        if provider and provider.strip():
            name = " ".join(provider.split())
            named.setdefault(provider_key(provider), (name, []))[1].append(provision_id)
    return tuple(
        Provider(name, tuple(ids))
        for name, ids in sorted(named.values(), key=lambda v: (-len(v[1]), v[0].casefold()))
    )


def national_report(db, model, round_id: str, iso3: str, *, lang: str = "en") -> NationalReport:
    """The national TA priority report of one State in one round (its answers as they stand)."""
    response = find_response(db, round_id, iso3)
    values = response_values(db, response["id"]) if response else {}
    instruments = state_instruments(db, round_id, iso3)
    scores = score_state(model, values, instruments)
    constants = model.scoring
    ta_list, challenge_list = model.choice_list("ta_types"), model.choice_list("challenges")
    entries = []
    received: dict[str, str | None] = {}  # provision -> provider, where TA is already received
    for score in scores:
        if not score.scored:
            continue
        raw = values.get(score.provision_id, {})
        listed = score.is_gap or score.ta_needed
        if not listed and raw.get("ta_received") != "yes":
            continue  # neither listed nor receiving TA: its other answers are not read
        provision = model.provisions[score.provision_id]
        kept = relevant_answers(provision, raw)
        if kept.get("ta_received") == "yes":
            received[provision.id] = kept.get("ta_provider")
        if not listed:
            continue
        compliance = provision.question("compliance")
        entries.append(
            (
                score,
                provision,
                dict(
                    provision_id=provision.id,
                    instrument=provision.instrument,
                    chapter=model.chapter_of(provision).title,
                    reference=provision.reference,
                    title=provision.title,
                    summary=provision.summary,
                    obligation=provision.obligation,
                    compliance=Label(
                        score.compliance,
                        compliance.choices.label(score.compliance, lang)
                        if compliance and compliance.choices
                        else score.compliance,
                    ),
                    score=score.score,
                    weight=score.weight,
                    severity=score.severity,
                    ta_requested=score.ta_needed,
                    priority=national_priority(score, constants),
                    ta_types=_labels(ta_list, score.ta_types, lang),
                    ta_other=kept.get("ta_other") if score.ta_needed else None,
                    ta_received=kept.get("ta_received") == "yes",
                    ta_provider=kept.get("ta_provider"),
                    challenges=_labels(challenge_list, score.challenges, lang),
                    challenges_other=kept.get("challenges_other"),
                    steps=kept.get("steps"),
                    regional=_regional(model, provision, lang),
                    citation=provision.citation(lang),
                    title_text=provision.title_text,
                    related=tuple(r.provision for r in provision.cross_references if r.is_un),
                ),
            )
        )
    # The regional ranking with one State: priority, then n_gap (1 for every gap), then order.
    gap_entries = sorted(
        (e for e in entries if e[0].is_gap),
        key=lambda e: (-round(e[2]["priority"], 9), e[1].order),
    )
    gaps = tuple(NationalProvision(rank=i, **e[2]) for i, e in enumerate(gap_entries, 1))
    beyond = tuple(NationalProvision(rank=None, **e[2]) for e in entries if not e[0].is_gap)
    wanted = (*gaps, *beyond)
    return NationalReport(
        round_id=round_id,
        state_iso3=iso3,
        status=response["status"] if response else None,
        generated=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        index=state_index(scores),
        by_instrument=tuple(
            InstrumentIndex(code, model.instrument(code).short_title, index)
            for code, index in index_by(scores, lambda s: s.instrument).items()
        ),
        gaps=gaps,
        ta_without_gap=beyond,
        ta_requested=_tallies(([t.code for t in p.ta_types] for p in wanted), ta_list, lang),
        challenges=_tallies(([c.code for c in p.challenges] for p in gaps), challenge_list, lang),
        ta_received=len(received),
        providers=_providers(received),
        constants={
            "weights": constants.weight,
            "ta_factor": constants.ta,
        },
        region=regional_context(db, model, round_id, iso3),
    )


def for_officials(report: NationalReport) -> NationalReport:
    """The report as a State's own officials may read it: without the regional figures when
    fewer than OFFICIALS_MIN_STATES States of the region count (they would disclose other
    States' answers)."""
    if report.region is not None and report.region.counted_states < OFFICIALS_MIN_STATES:
        return replace(report, region=None)
    return report


# NationalProvision fields report_json writes in another shape than as they are.
_NOT_PLAIN = ("chapter", "summary", "compliance", "ta_types", "challenges", "regional", "related")


def report_json(report: NationalReport, lang: str = "en") -> dict:
    """The report as JSON-ready data (the API): questionnaire texts in `lang`."""

    def index(ix: Index) -> dict:
        return {
            "index": ix.index,
            "scored": ix.scored,
            "applicable": ix.applicable,
            "gaps": ix.gaps,
            "coverage": ix.coverage,
        }

    def provision(p: NationalProvision) -> dict:
        # Field by field, not asdict(): that deep-copies the questionnaire texts it then drops.
        return {
            **{f.name: getattr(p, f.name) for f in fields(p) if f.name not in _NOT_PLAIN},
            "regional": [asdict(r) for r in p.regional],
            "related": list(p.related),
            "chapter": p.chapter.get(lang),
            "compliance": p.compliance.code,
            "compliance_label": p.compliance.label,
            "ta_types": [t.code for t in p.ta_types],
            "challenges": [c.code for c in p.challenges],
            "in_region": asdict(standing)
            if report.region and (standing := report.region.of(p.provision_id))
            else None,
        }

    return {
        "round": report.round_id,
        "state_iso3": report.state_iso3,
        "status": report.status,
        "counted": report.counted,
        "generated": report.generated,
        "index": index(report.index),
        "by_instrument": {i.code: index(i.index) for i in report.by_instrument},
        "gaps": [provision(p) for p in report.gaps],
        "ta_without_gap": [provision(p) for p in report.ta_without_gap],
        "ta_requested": [asdict(t) for t in report.ta_requested],
        "challenges": [asdict(t) for t in report.challenges],
        "ta_received": report.ta_received,
        "providers": [asdict(p) for p in report.providers],
        "constants": report.constants,
        "region": {
            "grouping": report.region.grouping,
            "region": report.region.region,
            "counted_states": report.region.counted_states,
            "ranked": report.region.ranked,
            "small": report.region.small,
        }
        if report.region
        else None,
    }
