"""What every export of a round shares: checked filters, the responses in scope, and answer rows.

Rows are generated one response at a time (a few thousand answers at most), so a full round of
193 States streams through the workbook, CSV and JSON writers without being held in memory.
Answers are exported as the State sees them: an answer that the questionnaire's relevance rules
hide (left over after the compliance answer changed) is kept in the database but not exported,
exactly as it is never counted in scoring.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from ..answers import relevant_answers
from ..i18n import _
from ..scoring import COUNTED_STATUSES
from ..storage.responses import STATUSES
from ..storage.rounds import get_round
from ..storage.states import GROUPINGS, region_expression, regions, state_name

ANSWER_COLUMNS = (
    "round",
    "state_iso3",
    "state",
    "un_regional_group",
    "m49_region",
    "status",
    "provision_id",
    "question",
    "value",
    "value_label",
    "updated_at",
    "updated_by",
)
STATE_COLUMNS = ANSWER_COLUMNS[:6]
WIDE_QUESTIONS = ("compliance", "ta_types")
MULTI_SEPARATOR = ";"


class ExportError(ValueError):
    """A filter or round that cannot be exported; the message says what would be valid."""


def no_round_message(round_id: str) -> str:
    return _("no round '%(round)s'; see `survey rounds list`", round=round_id)


@dataclass(frozen=True)
class Filters:
    grouping: str | None = None
    region: str | None = None
    instrument: str | None = None
    statuses: tuple[str, ...] | None = None  # None: every status (Answers, Wide, CSV, JSON)

    @property
    def counted(self) -> tuple[str, ...]:
        """Statuses that count in Scores, Priorities and TA demand: never drafts (docs/scoring.md)."""
        if self.statuses is None:
            return COUNTED_STATUSES
        return tuple(s for s in COUNTED_STATUSES if s in self.statuses)

    def describe(self) -> dict[str, str]:
        return {
            "grouping": self.grouping or "all groupings",
            "region": self.region or "all regions",
            "instrument": self.instrument or "all instruments",
            "status": ", ".join(self.statuses) if self.statuses else "all statuses",
        }


def make_filters(db, model, *, grouping=None, region=None, instrument=None, status=None) -> Filters:
    """Check filter values against the database and questionnaire; raise ExportError if invalid."""
    grouping = grouping or None
    if grouping is not None and grouping not in GROUPINGS:
        raise ExportError(
            _(
                "unknown grouping '%(grouping)s'; use one of %(valid)s",
                grouping=grouping,
                valid=", ".join(GROUPINGS),
            )
        )
    if region:
        if grouping is None:
            raise ExportError(
                _(
                    "a region needs a grouping: give the grouping of '%(region)s' (%(valid)s)",
                    region=region,
                    valid=", ".join(GROUPINGS),
                )
            )
        options = regions(db, grouping)
        if region not in options:
            raise ExportError(
                _(
                    "no region '%(region)s' in %(grouping)s; valid: %(valid)s",
                    region=region,
                    grouping=grouping,
                    valid=", ".join(options),
                )
            )
    if instrument:
        codes = [i.code for i in model.instruments]
        if instrument.upper() not in codes:
            raise ExportError(
                _(
                    "unknown instrument '%(code)s'; valid: %(valid)s",
                    code=instrument,
                    valid=", ".join(codes),
                )
            )
        instrument = instrument.upper()
    statuses = None
    if status:
        items = [status] if isinstance(status, str) else list(status)
        items = [s.strip() for item in items for s in item.split(",") if s.strip()]
        bad = [s for s in items if s not in STATUSES]
        if bad:
            raise ExportError(
                _(
                    "unknown status '%(status)s'; use one of %(valid)s",
                    status=bad[0],
                    valid=", ".join(STATUSES),
                )
            )
        statuses = tuple(s for s in STATUSES if s in items) or None
    return Filters(grouping, region or None, instrument or None, statuses)


def round_or_error(db, round_id: str) -> dict:
    round_ = get_round(db, round_id)
    if round_ is None:
        raise ExportError(no_round_message(round_id))
    return round_


def round_instruments(db, model, round_) -> list:
    """The questionnaire's instruments answered in the round (its list plus per-State overrides)."""
    codes = set(round_["instruments"])
    for (text,) in db.execute(
        "SELECT instruments FROM round_states WHERE round_id = ?", [round_["id"]]
    ):
        codes.update(json.loads(text))
    return [inst for inst in model.instruments if inst.code in codes]


def export_provisions(db, model, round_, filters: Filters) -> list:
    """Provisions in questionnaire order, limited to the round's instruments and the filter."""
    return [
        p
        for inst in round_instruments(db, model, round_)
        if filters.instrument in (None, inst.code)
        for p in inst.provisions
    ]


def responses_in_scope(db, round_id: str, filters: Filters, *, statuses=None) -> list[dict]:
    """One dict per response of the round inside the filters, with its State's data, by ISO3."""
    statuses = filters.statuses if statuses is None else statuses
    sql = (
        "SELECT r.id AS response_id, r.status, states.* FROM responses r"
        " JOIN states ON states.iso3 = r.state_iso3 WHERE r.round_id = ?"
    )
    params: list = [round_id]
    if statuses is not None:
        if not statuses:
            return []
        sql += f" AND r.status IN ({', '.join('?' for _ in statuses)})"
        params += list(statuses)
    if filters.region is not None:
        sql += f" AND {region_expression(filters.grouping)} = ?"
        params.append(filters.region)
    return list(db.query(sql + " ORDER BY r.state_iso3", params))


@dataclass(frozen=True)
class AnswerRecord:
    provision_id: str
    question_name: str
    question: object | None  # survey.questionnaire.model.Question, None if not in the model
    value: object
    updated_at: str
    updated_by: str | None


def response_answers(db, response_id: int, provisions) -> Iterator[AnswerRecord]:
    """A response's relevant answers to the given provisions, in questionnaire order."""
    stored: dict[str, dict[str, tuple]] = {}
    for pid, question, value, at, email in db.execute(
        "SELECT a.provision_id, a.question, a.value, a.updated_at, u.email FROM answers a"
        " LEFT JOIN users u ON u.id = a.updated_by WHERE a.response_id = ?",
        [response_id],
    ):
        stored.setdefault(pid, {})[question] = (json.loads(value), at, email)
    for provision in provisions:
        answers = stored.get(provision.id)
        if not answers:
            continue
        kept = relevant_answers(provision, {q: a[0] for q, a in answers.items()})
        for question in provision.questions:
            if question.name in kept:
                _, at, email = answers[question.name]
                yield AnswerRecord(
                    provision.id, question.name, question, kept[question.name], at, email
                )


def state_cells(round_id: str, response: dict, lang: str) -> list:
    return [
        round_id,
        response["iso3"],
        state_name(response, lang),
        response["un_regional_group"],
        response["m49_region"],
        response["status"],
    ]


def _value_rows(record: AnswerRecord, lang: str) -> Iterator[tuple]:
    """(value, value_label) pairs: one per selected code for a multiple choice."""
    question = record.question
    values = record.value if isinstance(record.value, list) else [record.value]
    for value in values:
        if question is not None and question.choices is not None:
            yield value, question.choices.label(value, lang)
        else:
            yield value, None


def answer_rows(db, model, round_id: str, filters: Filters, *, lang: str = "en") -> Iterator[list]:
    """Long format, one list per answer (one per selected code), columns ANSWER_COLUMNS."""
    round_ = round_or_error(db, round_id)
    provisions = export_provisions(db, model, round_, filters)
    for response in responses_in_scope(db, round_id, filters):
        state = state_cells(round_id, response, lang)
        for record in response_answers(db, response["response_id"], provisions):
            for value, label in _value_rows(record, lang):
                yield [
                    *state,
                    record.provision_id,
                    record.question_name,
                    value,
                    label,
                    record.updated_at,
                    record.updated_by,
                ]


def wide_columns(provisions) -> list[str]:
    return [
        *STATE_COLUMNS,
        *(f"{p.id}.{question}" for p in provisions for question in WIDE_QUESTIONS),
    ]


def wide_rows(
    db, model, round_id: str, filters: Filters, provisions, *, lang: str = "en"
) -> Iterator[list]:
    """One list per State: its compliance code and selected TA types (joined with ';') per provision."""
    index = {
        (p.id, question): i
        for i, (p, question) in enumerate(
            (p, question) for p in provisions for question in WIDE_QUESTIONS
        )
    }
    responses = {r["iso3"]: r for r in responses_in_scope(db, round_id, filters)}
    if filters.statuses is None:
        # Without a status filter every State in scope has a row, those not started with empty cells.
        sql = "SELECT * FROM states"
        params: list = []
        if filters.region is not None:
            sql += f" WHERE {region_expression(filters.grouping)} = ?"
            params.append(filters.region)
        states = list(db.query(sql + " ORDER BY iso3", params))
    else:
        states = list(responses.values())
    for state in states:
        response = responses.get(state["iso3"])
        cells: list = [None] * len(index)
        if response is None:
            yield [*state_cells(round_id, {**state, "status": "not started"}, lang), *cells]
            continue
        for record in response_answers(db, response["response_id"], provisions):
            position = index.get((record.provision_id, record.question_name))
            if position is None:
                continue
            value = record.value
            cells[position] = MULTI_SEPARATOR.join(value) if isinstance(value, list) else value
        yield [*state_cells(round_id, response, lang), *cells]


def choice_label(model, list_name: str, code: str, lang: str = "en") -> str:
    choices = model.choice_list(list_name)
    return choices.label(code, lang) if choices else code
