"""TA needs by article: per region and article, the share of responding States reporting a TA need.

The shape of the secretariat's analyses of self-assessment returns. An article groups the
provisions of one instrument with the same article number. For a region R and an article A:

- n: counted States of R (submitted or validated) that scored at least one provision of A, as in
  every denominator of docs/scoring.md (an 'na' or unanswered provision is left out);
- n_any: those reporting a TA need (`ta_needed` = yes, where the questionnaire asks it) for at
  least one provision of A; share_any = n_any / n;
- for each TA type: those that selected it for at least one provision of A; share = count / n.

The counts come from `scoring.article_needs`, in SQL under the one counting rule (only provisions
of the current questionnaire, only what the form asks); a TA type counts only where its
provision's `ta_needed` counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..scoring import COUNTED_STATUSES, article_needs
from ..storage.states import region_label
from .cache import REPORT_CACHE

SMALL_N = 3  # fewer counted States than this: a share says little, and the page says so


@dataclass(frozen=True)
class ArticleNeeds:
    """One row of the table: an article in a region."""

    region: str
    instrument: str
    article: int
    title: str  # the title of the article's first provision (English, as in the questionnaire)
    provisions: tuple[str, ...]  # the article's provisions in the questionnaire, in treaty order
    n: int
    n_any: int
    by_type: tuple[int, ...]  # States per TA type, in the order of NeedsTable.ta_types

    @property
    def share_any(self) -> float:
        return self.n_any / self.n

    @property
    def shares(self) -> tuple[float, ...]:
        return tuple(count / self.n for count in self.by_type)

    @property
    def small(self) -> bool:
        return self.n < SMALL_N


@dataclass(frozen=True)
class NeedsTable:
    round_id: str
    grouping: str
    regions: tuple[str, ...]  # regions with at least one row, sorted
    ta_types: tuple[tuple[str, str], ...]  # (code, label) in questionnaire order
    rows: tuple[ArticleNeeds, ...]  # by region, then instrument (questionnaire order) and article
    respondents: dict[str, int]  # region -> counted States that scored anything

    def region_rows(self, region: str) -> tuple[ArticleNeeds, ...]:
        return tuple(r for r in self.rows if r.region == region)

    def region_label(self, region: str) -> str:
        return region_label(self.grouping, region)


def needs_by_article(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    instrument: str | None = None,
    lang: str = "en",
    statuses=COUNTED_STATUSES,
) -> NeedsTable:
    """The TA needs by article table of a round for every region of `grouping` (counted in SQL by
    scoring.article_needs, under the one counting rule; cached per filters, language and version
    of the round's counted responses)."""
    statuses = tuple(statuses)
    return REPORT_CACHE.get_or_compute(
        "needs_by_article",
        db,
        model,
        (round_id,),
        {"grouping": grouping, "instrument": instrument, "lang": lang},
        lambda: _needs_by_article(db, model, round_id, grouping, instrument, lang, statuses),
        statuses=statuses,
    )


def _needs_by_article(db, model, round_id, grouping, instrument, lang, statuses) -> NeedsTable:
    ta_list = model.choice_list("ta_types")
    codes = ta_list.codes if ta_list else ()
    position = {code: i for i, code in enumerate(codes)}
    # (region, instrument, article) -> [States scoring, States needing TA, States per TA type]
    cells: dict[tuple[str, str, int], list] = {}
    respondents: dict[str, int] = {}
    for region, what, inst, article, code, n in article_needs(
        db, model, round_id, grouping, instrument=instrument, statuses=statuses
    ):
        if what == "respondents":
            respondents[region] = n
            continue
        cell = cells.setdefault((region, inst, article), [0, 0, [0] * len(codes)])
        if what == "scored":
            cell[0] = n
        elif what == "need":
            cell[1] = n
        elif code in position:
            cell[2][position[code]] = n
    # Articles in the order of the treaties: instrument as in the questionnaire, then article number.
    articles: dict[tuple[str, int], list] = {}
    for provision in model.provisions.values():
        articles.setdefault((provision.instrument, provision.article), []).append(provision)
    rank = {inst.code: i for i, inst in enumerate(model.instruments)}
    order = {key: (rank[key[0]], key[1]) for key in articles}
    rows = []
    for (region, inst, article), (scored, needing, by_type) in sorted(
        cells.items(), key=lambda kv: (kv[0][0], order[kv[0][1:]])
    ):
        provisions = sorted(articles[(inst, article)], key=lambda p: p.treaty_key)
        rows.append(
            ArticleNeeds(
                region,
                inst,
                article,
                provisions[0].title,
                tuple(p.id for p in provisions),
                scored,
                needing,
                tuple(by_type),
            )
        )
    return NeedsTable(
        round_id,
        grouping,
        tuple(sorted({r.region for r in rows})),
        tuple((code, ta_list.label(code, lang)) for code in codes),
        tuple(rows),
        dict(sorted(respondents.items())),
    )


def csv_header(table: NeedsTable) -> list[str]:
    return [
        "region",
        "region_label",
        "instrument",
        "article",
        "title",
        "provisions",
        "n",
        "n_ta_need",
        "share_ta_need",
        *(f"n_{code}" for code, _label in table.ta_types),
        *(f"share_{code}" for code, _label in table.ta_types),
    ]


def csv_rows(table: NeedsTable):
    """The table as CSV/workbook rows, one per region and article (see csv_header)."""
    for r in table.rows:
        yield [
            r.region,
            table.region_label(r.region),
            r.instrument,
            r.article,
            r.title,
            " ".join(r.provisions),
            r.n,
            r.n_any,
            r.share_any,
            *r.by_type,
            *r.shares,
        ]
