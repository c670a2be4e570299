"""Where a response stands: per-chapter progress and the required answers still missing (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from .answers import missing_required


@dataclass(frozen=True)
class ChapterProgress:
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


def chapter_progress(
    model, instruments: list[str], values: dict[str, dict]
) -> list[ChapterProgress]:
    """answered = provisions whose compliance question is answered; applicable = all in the chapter."""
    out = []
    for inst, chapter in chapters_for(model, instruments):
        answered = sum(1 for p in chapter.provisions if values.get(p.id, {}).get("compliance"))
        out.append(ChapterProgress(inst.code, chapter, answered, len(chapter.provisions)))
    return out


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
