"""Plain-data views of the model for scripts (`survey questionnaire show --json`)."""

from __future__ import annotations


def question_dict(question) -> dict:
    out = {
        "name": question.name,
        "type": question.type,
        "label": question.label.en,
        "required": question.required,
    }
    if question.relevant_source:
        out["relevant"] = question.relevant_source
    if question.choices:
        out["choices"] = [{"name": c.name, "label": c.label.en} for c in question.choices.choices]
    return out


def provision_dict(model, provision) -> dict:
    chapter = model.chapter_of(provision)
    return {
        "id": provision.id,
        "instrument": provision.instrument,
        "article": provision.article,
        "paragraphs": provision.paragraphs,
        "title": provision.title,
        "chapter": chapter.title.en,
        "chapter_id": chapter.id,
        "obligation": provision.obligation,
        "summary": provision.summary.en,
        "cross_references": [
            {
                "instrument": r.instrument,
                "article": r.article,
                "provision": r.provision,
                "note": r.note,
            }
            for r in provision.cross_references
        ],
        "questions": [question_dict(q) for q in provision.questions],
    }
