"""Where a response stands: per-chapter progress and the required answers still missing (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from .answers import missing_required, relevant_answers


@dataclass(frozen=True)
class ChapterProgress:
    """Required questions of one chapter: `answered` of `applicable` (relevant given the answers)."""

    instrument: str
    chapter: object
    answered: int
    applicable: int

    @property
    def done(self) -> bool:
        return self.applicable > 0 and self.answered == self.applicable


def chapters_for(model, instruments: list[str]):
    for inst in model.instruments:
        if inst.code in instruments:
            for chapter in inst.chapters:
                yield inst, chapter


def provision_progress(provision, answers: dict) -> tuple[int, int]:
    """(answered, applicable): the provision's required questions that are relevant given its
    answers, and how many of them have an answer."""
    missing = len(missing_required(provision, answers))
    kept = relevant_answers(provision, answers)
    applicable = sum(1 for q in provision.questions if q.required and q.is_relevant(kept))
    return applicable - missing, applicable


def chapter_progress(
    model, instruments: list[str], values: dict[str, dict]
) -> list[ChapterProgress]:
    """Per chapter, every required question that applies, answered or not (not only compliance).

    `values` is {provision_id: {question: value}}; values only need to be truthy for text
    answers (see survey.storage.responses.progress_values), choice codes must be real.
    """
    out = []
    for inst, chapter in chapters_for(model, instruments):
        answered = applicable = 0
        for provision in chapter.provisions:
            done, total = provision_progress(provision, values.get(provision.id, {}))
            answered += done
            applicable += total
        out.append(ChapterProgress(inst.code, chapter, answered, applicable))
    return out


def overall_percent(progress: list[ChapterProgress]) -> int:
    """Required questions answered over all chapters, as a whole percentage (rounded down)."""
    applicable = sum(row.applicable for row in progress)
    answered = sum(row.answered for row in progress)
    return (100 * answered) // applicable if applicable else 0


@dataclass(frozen=True)
class Missing:
    provision: object
    chapter: object
    question: object


def missing_answers(model, instruments: list[str], values: dict[str, dict]) -> list[Missing]:
    """Every required, relevant question without an answer, in questionnaire order."""
    out = []
    for _inst, chapter in chapters_for(model, instruments):
        for provision in chapter.provisions:
            for question in missing_required(provision, values.get(provision.id, {})):
                out.append(Missing(provision, chapter, question))
    return out
