"""Unmet TA demand and coordination: what each region asked for, what is already covered, by whom.

For a region R, a provision P and a TA type T, over the counted States of R (submitted or
validated) and only where the form asks the questions (`scoring.ta_coverage_rows`, the one
counting rule of every aggregate):

- requested: States that selected T for P (with `ta_needed` = yes);
- received: of those, States that say TA is already received on P (`ta_received` = yes);
- uncovered: requested and not received.

Per provision, a State counts once however many types it selected: requested are the States
that selected at least one type. The ranked "uncovered needs" of a region are its provisions
with at least one uncovered State, by the number of such States, then by the provision's
regional priority (docs/scoring.md), then questionnaire order.

Providers are the free texts of `ta_provider`, grouped by a normalised name (`provider_key`:
trimmed, case-folded, whitespace collapsed) and shown in the spelling most States used (its
whitespace collapsed), with the provisions and States each serves in the region.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..scoring import COUNTED_STATUSES, counted_states, ta_coverage_rows
from ..storage.states import region_label
from .cache import REPORT_CACHE, regional_priorities


def provider_key(name: str) -> str:
    """The name providers are grouped by: whitespace trimmed and collapsed, case folded."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class TypeNeeds:
    """One TA type on one provision in one region."""

    code: str
    label: str
    requested: int
    received: int

    @property
    def uncovered(self) -> int:
        return self.requested - self.received


@dataclass(frozen=True)
class ProvisionNeeds:
    """One provision in one region on which at least one counted State requested TA."""

    region: str
    provision_id: str
    instrument: str
    reference: str
    title: str  # English, as in the questionnaire
    requested: int  # States that selected at least one TA type
    received: int  # of those, States already receiving TA on the provision
    # ISO3 codes of the requesting States not yet receiving TA, sorted, space separated: one
    # string rather than a tuple of small ones keeps a whole-round report's memory flat.
    uncovered_codes: str
    by_type: tuple[TypeNeeds, ...]  # every TA type, in questionnaire order
    priority: float | None  # the provision's regional priority (None: no State scored it)
    priority_rank: int | None
    rank: int | None  # rank among the region's uncovered needs; None when every request is covered

    @property
    def uncovered_states(self) -> tuple[str, ...]:
        """ISO3 codes, sorted."""
        return tuple(self.uncovered_codes.split())

    @property
    def uncovered(self) -> int:
        return self.requested - self.received

    @property
    def uncovered_types(self) -> tuple[TypeNeeds, ...]:
        """The types with uncovered States, the most uncovered first."""
        return tuple(sorted((t for t in self.by_type if t.uncovered), key=lambda t: -t.uncovered))


@dataclass(frozen=True)
class ProviderCoverage:
    """A TA provider named in one region, with the provisions and States it already serves."""

    region: str
    name: str  # the spelling most States used
    spellings: tuple[str, ...]  # every spelling, the most used first
    states: tuple[str, ...]  # ISO3, sorted
    provisions: tuple[str, ...]  # in questionnaire order
    mentions: int  # (State, provision) pairs naming it


@dataclass(frozen=True)
class CoverageReport:
    round_id: str
    grouping: str
    region: str | None  # None: every region of the grouping
    instrument: str | None
    ta_types: tuple[tuple[str, str], ...]  # (code, label) in questionnaire order
    states: dict[str, int]  # region -> counted States
    provisions: tuple[ProvisionNeeds, ...]  # by region, then questionnaire order
    providers: tuple[ProviderCoverage, ...]  # by region, then most States served
    regions: tuple[str, ...] = field(default=())  # regions with counted States, sorted

    def region_label(self, region: str) -> str:
        return region_label(self.grouping, region)

    def uncovered(self, region: str | None = None) -> tuple[ProvisionNeeds, ...]:
        """The ranked uncovered needs (of one region, or of all in region order)."""
        return tuple(
            sorted(
                (
                    p
                    for p in self.provisions
                    if p.rank is not None and (region is None or p.region == region)
                ),
                key=lambda p: (p.region, p.rank),
            )
        )

    def region_provisions(self, region: str) -> tuple[ProvisionNeeds, ...]:
        return tuple(p for p in self.provisions if p.region == region)

    def region_providers(self, region: str) -> tuple[ProviderCoverage, ...]:
        return tuple(p for p in self.providers if p.region == region)

    def type_totals(self, region: str) -> tuple[TypeNeeds, ...]:
        """Per TA type, summed over the region's provisions: (State, provision) requests."""
        totals = []
        for i, (code, label) in enumerate(self.ta_types):
            rows = [p.by_type[i] for p in self.provisions if p.region == region]
            totals.append(
                TypeNeeds(
                    code, label, sum(t.requested for t in rows), sum(t.received for t in rows)
                )
            )
        return tuple(sorted(totals, key=lambda t: -t.uncovered))


def _compute(
    db, model, round_id, grouping, region, instrument, lang, statuses, *, providers: bool = True
) -> CoverageReport:
    ta_list = model.choice_list("ta_types")
    codes = tuple(ta_list.codes) if ta_list else ()
    labels = {code: ta_list.label(code, lang) for code in codes}
    # (region, pid) -> {code: (requested, received)}, and the provision's totals
    by_type: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
    totals: dict[tuple[str, str], tuple[int, int, str]] = {}
    counts, mentioned = ta_coverage_rows(
        db,
        model,
        round_id,
        grouping,
        region=region,
        instrument=instrument,
        providers=providers,
        statuses=statuses,
    )
    for region_, pid, code, n_req, n_rec, uncovered in counts:
        if code is None:
            totals[(region_, pid)] = (n_req, n_rec, " ".join(sorted((uncovered or "").split())))
        else:
            by_type.setdefault((region_, pid), {})[code] = (n_req, n_rec)
    named: dict[tuple[str, str], list[tuple[str, str, str]]] = {}  # (region, key) -> mentions
    for region_, iso3, pid, value in mentioned:
        if isinstance(value, str) and value.strip():
            named.setdefault((region_, provider_key(value)), []).append(
                (" ".join(value.split()), iso3, pid)
            )
    priorities = {
        (row["region"], row["provision_id"]): row
        for row in regional_priorities(
            db, model, round_id, grouping, region=region, statuses=statuses
        )
    }
    order = {pid: p.order for pid, p in model.provisions.items()}
    provisions = []
    for (region_, pid), (n_req, n_rec, uncovered_codes) in totals.items():
        types = by_type.get((region_, pid), {})
        provision = model.provisions[pid]
        priority = priorities.get((region_, pid))
        provisions.append(
            dict(
                region=region_,
                provision_id=pid,
                instrument=provision.instrument,
                reference=provision.reference,
                title=provision.title,
                requested=n_req,
                received=n_rec,
                uncovered_codes=uncovered_codes,
                by_type=tuple(
                    TypeNeeds(code, labels[code], *types.get(code, (0, 0))) for code in codes
                ),
                priority=priority["priority"] if priority else None,
                priority_rank=priority["rank"] if priority else None,
            )
        )
    # Rank inside each region: most uncovered States, then regional priority, then order.
    ranks: dict[tuple[str, str], int] = {}
    ranked = sorted(
        (p for p in provisions if p["requested"] > p["received"]),
        key=lambda p: (
            p["region"],
            -(p["requested"] - p["received"]),
            p["priority"] is None,
            -round(p["priority"] or 0, 9),
            order[p["provision_id"]],
        ),
    )
    per_region: dict[str, int] = {}
    for p in ranked:
        per_region[p["region"]] = per_region.get(p["region"], 0) + 1
        ranks[(p["region"], p["provision_id"])] = per_region[p["region"]]
    needs = tuple(
        ProvisionNeeds(**p, rank=ranks.get((p["region"], p["provision_id"])))
        for p in sorted(provisions, key=lambda p: (p["region"], order[p["provision_id"]]))
    )
    providers = []
    for (region_, _key), mentions in named.items():
        spellings: dict[str, set[str]] = {}
        for text, iso3, _pid in mentions:
            spellings.setdefault(text, set()).add(iso3)
        by_use = sorted(spellings, key=lambda s: (-len(spellings[s]), s))
        providers.append(
            ProviderCoverage(
                region_,
                by_use[0],
                tuple(by_use),
                tuple(sorted({iso3 for _t, iso3, _p in mentions})),
                tuple(sorted({pid for _t, _i, pid in mentions}, key=order.__getitem__)),
                len({(iso3, pid) for _t, iso3, pid in mentions}),
            )
        )
    providers.sort(key=lambda p: (p.region, -len(p.states), -p.mentions, p.name.casefold()))
    states = counted_states(db, round_id, grouping, statuses=statuses)
    if region is not None:
        states = {r: n for r, n in states.items() if r == region}
    return CoverageReport(
        round_id,
        grouping,
        region,
        instrument,
        tuple((code, ta_list.label(code, lang)) for code in codes),
        dict(sorted(states.items())),
        needs,
        tuple(providers),
        tuple(sorted(states)),
    )


def ta_coverage(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    region: str | None = None,
    instrument: str | None = None,
    lang: str = "en",
    statuses=COUNTED_STATUSES,
) -> CoverageReport:
    """Unmet demand and providers of a round for one region or every region of `grouping`
    (cached per round, filters, language and version of the counted responses)."""
    statuses = tuple(statuses)
    return REPORT_CACHE.get_or_compute(
        "ta_coverage",
        db,
        model,
        (round_id,),
        {"grouping": grouping, "region": region, "instrument": instrument, "lang": lang},
        lambda: _compute(db, model, round_id, grouping, region, instrument, lang, statuses),
        statuses=statuses,
    )


def ta_coverage_text(
    db,
    model,
    round_id: str,
    grouping: str,
    dumps,
    *,
    region: str | None = None,
    instrument: str | None = None,
    statuses=COUNTED_STATUSES,
) -> str:
    """coverage_json of the report as text, `dumps(data) -> str` (the API's JSON encoder),
    cached as text: a warm request copies one string. The report itself is computed here
    without its own cache entry, which the API would never read."""
    statuses = tuple(statuses)
    return REPORT_CACHE.get_or_compute(
        "ta_coverage_text",
        db,
        model,
        (round_id,),
        {"grouping": grouping, "region": region, "instrument": instrument},
        lambda: dumps(
            coverage_json(
                _compute(db, model, round_id, grouping, region, instrument, "en", statuses)
            )
        ),
        statuses=statuses,
    )


def ta_coverage_needs(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    region: str | None = None,
    instrument: str | None = None,
    lang: str = "en",
    statuses=COUNTED_STATUSES,
) -> CoverageReport:
    """The same report without providers and without the cache: what the workbook's sheet
    needs, in memory that does not grow with the number of States."""
    return _compute(
        db, model, round_id, grouping, region, instrument, lang, tuple(statuses), providers=False
    )


# -- the same rows for the CSV downloads, the workbook and the API ----------------------------

DEMAND_HEADER = [
    "region",
    "region_label",
    "provision_id",
    "instrument",
    "article",
    "title",
    "ta_type",
    "ta_type_label",
    "requested",
    "received",
    "uncovered",
]


def demand_rows(report: CoverageReport):
    """One row per region, provision and TA type requested (see DEMAND_HEADER)."""
    for p in report.provisions:
        for t in p.by_type:
            if t.requested:
                yield [
                    p.region,
                    report.region_label(p.region),
                    p.provision_id,
                    p.instrument,
                    p.reference,
                    p.title,
                    t.code,
                    t.label,
                    t.requested,
                    t.received,
                    t.uncovered,
                ]


def uncovered_header(report: CoverageReport) -> list[str]:
    return [
        "region",
        "region_label",
        "rank",
        "provision_id",
        "instrument",
        "article",
        "title",
        "requested",
        "received",
        "uncovered",
        "regional_priority",
        "regional_rank",
        "uncovered_states",
        *(f"uncovered_{code}" for code, _label in report.ta_types),
    ]


def uncovered_rows(report: CoverageReport):
    """The ranked uncovered needs, region by region (see uncovered_header)."""
    for p in report.uncovered():
        yield [
            p.region,
            report.region_label(p.region),
            p.rank,
            p.provision_id,
            p.instrument,
            p.reference,
            p.title,
            p.requested,
            p.received,
            p.uncovered,
            p.priority,
            p.priority_rank,
            p.uncovered_codes,
            *(t.uncovered for t in p.by_type),
        ]


PROVIDERS_HEADER = [
    "region",
    "region_label",
    "provider",
    "spellings",
    "n_states",
    "states",
    "n_provisions",
    "provisions",
    "mentions",
]


def provider_rows(report: CoverageReport):
    for p in report.providers:
        yield [
            p.region,
            report.region_label(p.region),
            p.name,
            " | ".join(p.spellings),
            len(p.states),
            " ".join(p.states),
            len(p.provisions),
            " ".join(p.provisions),
            p.mentions,
        ]


def coverage_json(report: CoverageReport) -> dict:
    """The report as JSON-ready data (the API)."""
    return {
        "round": report.round_id,
        "grouping": report.grouping,
        "region": report.region,
        "instrument": report.instrument,
        "counted_states": report.states,
        "provisions": [
            {
                "region": p.region,
                "provision_id": p.provision_id,
                "instrument": p.instrument,
                "article": p.reference,
                "requested": p.requested,
                "received": p.received,
                "uncovered": p.uncovered,
                "uncovered_states": list(p.uncovered_states),
                "regional_priority": p.priority,
                "regional_rank": p.priority_rank,
                "rank": p.rank,
                "ta_types": [
                    {
                        "code": t.code,
                        "requested": t.requested,
                        "received": t.received,
                        "uncovered": t.uncovered,
                    }
                    for t in p.by_type
                    if t.requested
                ],
            }
            for p in report.provisions
        ],
        "uncovered": [
            {"region": p.region, "rank": p.rank, "provision_id": p.provision_id}
            for p in report.uncovered()
        ],
        "providers": [
            {
                "region": p.region,
                "name": p.name,
                "spellings": list(p.spellings),
                "states": list(p.states),
                "provisions": list(p.provisions),
                "mentions": p.mentions,
            }
            for p in report.providers
        ],
    }
