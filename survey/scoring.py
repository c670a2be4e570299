"""Scoring answers against articles (docs/scoring.md): pure Python for one State, SQL for aggregates.

The Python functions here are also the reference implementation the SQL aggregation is tested
against, so the method is written down once in plain code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProvisionScore:
    provision_id: str
    instrument: str
    chapter: str
    obligation: str
    compliance: str | None
    score: float | None  # None: 'na' or unanswered (left out of every denominator)
    weight: float
    ta_needed: bool
    ta_types: tuple[str, ...]
    challenges: tuple[str, ...]

    @property
    def scored(self) -> bool:
        return self.score is not None

    @property
    def is_gap(self) -> bool:
        return self.score is not None and self.score < 1

    @property
    def severity(self) -> float | None:
        return None if self.score is None else self.weight * (1 - self.score)


def score_provision(model, provision, answers: dict) -> ProvisionScore:
    constants = model.scoring
    compliance = answers.get("compliance")
    score = constants.score.get(compliance) if compliance else None
    gap_context = compliance in ("partly", "no")
    ta_needed = gap_context and answers.get("ta_needed") == "yes"
    ta_types = tuple(answers.get("ta_types") or ()) if ta_needed else ()
    challenges = tuple(answers.get("challenges") or ()) if gap_context else ()
    return ProvisionScore(
        provision.id,
        provision.instrument,
        provision.chapter,
        provision.obligation,
        compliance,
        score,
        constants.weight[provision.obligation],
        ta_needed,
        ta_types,
        challenges,
    )


def score_state(model, values: dict[str, dict], instruments=None) -> list[ProvisionScore]:
    """One ProvisionScore per provision of the instruments a State answers, in questionnaire order."""
    return [
        score_provision(model, p, values.get(p.id, {}))
        for inst in model.instruments
        if instruments is None or inst.code in instruments
        for p in inst.provisions
    ]


@dataclass(frozen=True)
class Index:
    index: float | None  # 0-100, None when nothing is scored
    scored: int
    applicable: int
    gaps: int

    @property
    def coverage(self) -> float | None:
        return None if not self.applicable else self.scored / self.applicable


def state_index(scores) -> Index:
    """100 x sum(w x s) / sum(w) over scored provisions; coverage = scored / applicable."""
    scores = list(scores)
    scored = [s for s in scores if s.scored]
    total_weight = sum(s.weight for s in scored)
    index = (
        None if not total_weight else 100 * sum(s.weight * s.score for s in scored) / total_weight
    )
    return Index(index, len(scored), len(scores), sum(1 for s in scored if s.is_gap))


def index_by(scores, key) -> dict:
    groups: dict = {}
    for s in scores:
        groups.setdefault(key(s), []).append(s)
    return {k: state_index(v) for k, v in groups.items()}
