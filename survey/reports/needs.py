"""TA needs by article: per region and article, the share of responding States reporting a TA need.

The shape of the secretariat's analyses of self-assessment returns. An article groups the
provisions of one instrument with the same article number. For a region R and an article A:

- n: counted States of R (submitted or validated) that scored at least one provision of A, as in
  every denominator of docs/scoring.md (an 'na' or unanswered provision is left out);
- n_any: those reporting a TA need (`ta_needed` = yes, where the questionnaire asks it) for at
  least one provision of A; share_any = n_any / n;
- for each TA type: those that selected it for at least one provision of A; share = count / n.

Scores and TA needs come from `scoring.scores_rows` (only provisions of the current
questionnaire, only what the relevance rules show); a TA type counts only where its provision's
`ta_needed` counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..scoring import COUNTED_STATUSES, scores_rows
from ..storage.responses import decode
from ..storage.states import region_label

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


def _ta_types_selected(db, round_id: str, statuses) -> dict[tuple[str, str], list[str]]:
    """(State, provision) -> the TA types stored for it in the round's counted responses."""
    marks = ", ".join("?" for _ in statuses)
    rows = db.execute(
        f"""SELECT r.state_iso3, a.provision_id, a.value FROM responses r
            JOIN answers a ON a.response_id = r.id AND a.question = 'ta_types'
            WHERE r.round_id = ? AND r.status IN ({marks})""",
        [round_id, *statuses],
    )
    return {(iso3, pid): decode(value) or [] for iso3, pid, value in rows}


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
    """The TA needs by article table of a round for every region of `grouping`."""
    ta_list = model.choice_list("ta_types")
    codes = ta_list.codes if ta_list else ()
    position = {code: i for i, code in enumerate(codes)}
    selected = _ta_types_selected(db, round_id, statuses)
    # (region, instrument, article) -> [States scoring, States needing TA, States per TA type]
    cells: dict[tuple[str, str, int], list] = {}
    respondents: dict[str, set[str]] = {}
    for row in scores_rows(db, model, round_id, statuses=statuses, grouping=grouping):
        region, iso3, pid, inst, _chapter, _s, _w, _g, ta_needed, _ord = row
        respondents.setdefault(region, set()).add(iso3)
        if instrument is not None and inst != instrument:
            continue
        provision = model.provisions[pid]
        cell = cells.setdefault(
            (region, inst, provision.article), [set(), set(), [set() for _ in codes]]
        )
        cell[0].add(iso3)
        if ta_needed:
            cell[1].add(iso3)
            for code in selected.get((iso3, pid), ()):
                if code in position:
                    cell[2][position[code]].add(iso3)
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
                len(scored),
                len(needing),
                tuple(len(states) for states in by_type),
            )
        )
    return NeedsTable(
        round_id,
        grouping,
        tuple(sorted({r.region for r in rows})),
        tuple((code, ta_list.label(code, lang)) for code in codes),
        tuple(rows),
        {region: len(states) for region, states in sorted(respondents.items())},
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
