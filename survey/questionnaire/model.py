"""The immutable questionnaire model that web forms, scoring, reports and exports are built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

LANGUAGES = ("en", "fr", "es", "ru", "zh", "ar")
INSTRUMENT_CODES = ("UNTOC", "TIP", "SOM", "FIR", "UNCAC")
OBLIGATIONS = ("mandatory", "consider", "optional")
QUESTION_TYPES = ("select_one", "select_multiple", "yes_no", "text")
STANDARD_QUESTIONS = (
    "compliance",
    "reason",
    "measures",
    "examples",
    "steps",
    "challenges",
    "challenges_other",
    "ta_needed",
    "ta_types",
    "ta_other",
    "ta_received",
    "ta_provider",
)


@dataclass(frozen=True)
class Text:
    """A text in one or more languages; English is always present."""

    translations: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, value: str | dict) -> Text:
        if isinstance(value, str):
            return cls((("en", value),))
        return cls(tuple(sorted(value.items())))

    def get(self, lang: str = "en") -> str:
        mapping = dict(self.translations)
        return mapping.get(lang) or mapping.get("en", "")

    def has(self, lang: str) -> bool:
        return bool(dict(self.translations).get(lang))

    @property
    def en(self) -> str:
        return self.get("en")

    def __str__(self) -> str:
        return self.en


@dataclass(frozen=True)
class Choice:
    name: str
    label: Text


@dataclass(frozen=True)
class ChoiceList:
    name: str
    choices: tuple[Choice, ...]

    @cached_property
    def codes(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.choices)

    def label(self, code: str, lang: str = "en") -> str:
        for choice in self.choices:
            if choice.name == code:
                return choice.label.get(lang)
        return code


@dataclass(frozen=True, eq=False)  # identity hash: used as a cache key on hot paths
class Question:
    name: str
    type: str
    label: Text
    hint: Text | None = None
    required: bool = False
    relevant: object | None = None  # a parsed relevance rule (survey.questionnaire.relevance)
    relevant_source: str | None = None
    choices: ChoiceList | None = None

    @property
    def is_choice(self) -> bool:
        return self.type in ("select_one", "select_multiple", "yes_no")

    @property
    def is_multiple(self) -> bool:
        return self.type == "select_multiple"

    def is_relevant(self, answers) -> bool:
        return self.relevant is None or self.relevant.evaluate(answers)


def _once_per_language(cited, lang: str, work) -> str:
    """`work()` (a citation in `lang`) kept on the frozen object `cited` per language: the
    questionnaire's objects live until it is reloaded, and pages cite them on every row."""
    kept = cited.__dict__.setdefault("_citations", {})
    if lang not in kept:
        kept[lang] = work()
    return kept[lang]


@dataclass(frozen=True)
class CrossReference:
    """A link from a provision to a UN provision (`provision`) or an article of another instrument."""

    instrument: str
    article: str
    provision: str | None = None  # set for links between UN provisions
    note: str | None = None
    title: str | None = None  # the article's title (external instruments)
    # The note and the article title in every language held (translations/<lang>.yaml), and
    # the external instrument's name; `note` and `title` stay the English str.
    note_text: Text | None = None
    title_text: Text | None = None
    instrument_title: Text | None = None

    def __post_init__(self):
        if self.note_text is None and self.note:
            object.__setattr__(self, "note_text", Text.of(self.note))
        if self.title_text is None and self.title:
            object.__setattr__(self, "title_text", Text.of(self.title))

    @property
    def is_un(self) -> bool:
        return self.provision is not None

    @property
    def key(self) -> str:
        """How the translation files name the reference: 'COECRIM-13', or the UN provision id."""
        return self.provision if self.is_un else f"{self.instrument}-{self.article}"

    def citation(self, lang: str = "en") -> str:
        """'COECRIM art. 13' in `lang` ('COECRIM, art. 13', 'COECRIM第13条'), worked out once
        per language, as Provision.citation (the national report cites each on every gap)."""
        if self.is_un:
            return self.provision
        from ..i18n import external_citation

        return _once_per_language(
            self, lang, lambda: external_citation(self.instrument, self.article, lang)
        )

    @property
    def label(self) -> str:
        return self.provision if self.is_un else f"{self.instrument} art. {self.article}"


@dataclass(frozen=True, eq=False)  # identity hash: used as a cache key on hot paths
class Provision:
    id: str
    instrument: str
    article: int
    title: str
    chapter: str
    obligation: str
    summary: Text
    questions: tuple[Question, ...]
    order: int
    paragraphs: str | None = None
    cross_references: tuple[CrossReference, ...] = ()
    # The article title in every language held (translations/<lang>.yaml); `title` stays the
    # English str that reports and exports use. Left out, it is the English title alone.
    title_text: Text | None = None

    def __post_init__(self):
        if self.title_text is None:
            object.__setattr__(self, "title_text", Text.of(self.title))

    @cached_property  # reports and exports ask for it once per State and provision
    def reference(self) -> str:
        """How the provision is cited in English (reports, exports): 'Art. 16',
        'Art. 16, para. 2', 'Art. 46, paras. 9-12', 'Art. 6, para. 2(b)-(d)'."""
        return self.citation("en")

    def citation(self, lang: str = "en") -> str:
        """How the provision is cited in `lang`: 'art. 46, par. 9-12', 'ст. 16, п. 2',
        '第16条第2款', 'المادة 16، الفقرة 2' (survey.i18n.citation), worked out once per
        language (a page or file cites a provision on every one of its rows)."""
        from ..i18n import citation

        return _once_per_language(self, lang, lambda: citation(self.article, self.paragraphs, lang))

    @property
    def treaty_key(self) -> tuple:
        """Sort key in the order of the treaty text: article, then paragraph, subparagraph and
        so on as written in the id ('UNTOC-18-9' before 'UNTOC-18-10'; 'UNCAC-43-1' before
        'UNCAC-43-1-s2'); numbers compare as numbers, letters and roman numerals as text."""
        parts = self.id.split("-")[2:]
        return (
            self.article,
            tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts),
        )

    def question(self, name: str) -> Question | None:
        for question in self.questions:
            if question.name == name:
                return question
        return None

    def relevant_questions(self, answers) -> list[Question]:
        return [q for q in self.questions if q.is_relevant(answers)]


@dataclass(frozen=True, eq=False)  # identity hash: used as a cache key on hot paths
class Chapter:
    id: str
    instrument: str
    title: Text
    provisions: tuple[Provision, ...]
    number: str | None = None

    @property
    def key(self) -> str:
        """Unique across the questionnaire: 'UNCAC/criminalization'."""
        return f"{self.instrument}/{self.id}"


@dataclass(frozen=True, eq=False)  # identity hash: used as a cache key on hot paths
class Instrument:
    code: str
    title: Text
    short_title: Text
    chapters: tuple[Chapter, ...]

    @property
    def provisions(self) -> list[Provision]:
        return [p for chapter in self.chapters for p in chapter.provisions]


@dataclass(frozen=True)
class ExternalInstrument:
    """Another (regional or OECD) instrument that cross-references cite, with its article
    titles; `title` and `articles` are English, `title_text` holds the name in every language
    held (translations/<lang>.yaml)."""

    code: str
    title: str
    articles: tuple[tuple[str, str], ...]
    title_text: Text | None = None

    def __post_init__(self):
        if self.title_text is None:
            object.__setattr__(self, "title_text", Text.of(self.title))


@dataclass(frozen=True)
class ScoringConstants:
    # Score per compliance code (docs/scoring.md); a code not listed ('na') is not scored. An option
    # not used and a measure considered and declined meet the provision: never a gap.
    scores: tuple[tuple[str, float], ...] = (
        ("fully", 1.0),  # mandatory
        ("partly", 0.5),
        ("not_yet", 0.0),
        ("adopted", 1.0),  # consider: the obligation is to consider, met by any considered answer
        ("partly_adopted", 1.0),
        ("declined", 1.0),
        ("not_yet_considered", 0.0),
        ("used", 1.0),  # optional: a "may" provision requires nothing
        ("not_used", 1.0),
    )
    weights: tuple[tuple[str, float], ...] = (
        ("mandatory", 1.0),
        ("consider", 0.5),
        ("optional", 0.25),
    )
    ta_factor: tuple[tuple[str, float], ...] = (("requested", 1.0), ("not_requested", 0.5))

    @property
    def score(self) -> dict[str, float]:
        return dict(self.scores)

    @property
    def weight(self) -> dict[str, float]:
        return dict(self.weights)

    @property
    def ta(self) -> dict[str, float]:
        return dict(self.ta_factor)


@dataclass(frozen=True, eq=False)  # identity hash: used as a cache key on hot paths
class Questionnaire:
    id: str
    version: str
    title: Text
    instruments: tuple[Instrument, ...]
    choice_lists: tuple[ChoiceList, ...]
    standard_block: tuple[Question, ...]
    external_instruments: tuple[ExternalInstrument, ...] = ()
    scoring: ScoringConstants = field(default_factory=ScoringConstants)
    # Per language with a translation file: 'working' (not reviewed by a UN translator) or
    # 'reviewed'. English, the source, is always 'reviewed'.
    translation_status: dict[str, str] = field(default_factory=lambda: {"en": "reviewed"})
    # (language, provision id) of translations left out because their English source changed.
    stale_translations: tuple[tuple[str, str], ...] = ()

    @cached_property
    def provisions(self) -> dict[str, Provision]:
        """All provisions by id, in questionnaire order."""
        return {p.id: p for inst in self.instruments for p in inst.provisions}

    @cached_property
    def chapters(self) -> dict[str, Chapter]:
        return {c.key: c for inst in self.instruments for c in inst.chapters}

    def instrument(self, code: str) -> Instrument | None:
        return next((i for i in self.instruments if i.code == code), None)

    def choice_list(self, name: str) -> ChoiceList | None:
        return next((c for c in self.choice_lists if c.name == name), None)

    def chapter_of(self, provision: Provision) -> Chapter:
        return self.chapters[f"{provision.instrument}/{provision.chapter}"]

    def related(self, provision_id: str) -> list[Provision]:
        """UN provisions cross-referenced with this one (both directions are in the model)."""
        provision = self.provisions[provision_id]
        return [self.provisions[r.provision] for r in provision.cross_references if r.is_un]

    def counts(self) -> dict[str, dict[str, int]]:
        """Provision counts per instrument and obligation level."""
        out: dict[str, dict[str, int]] = {}
        for inst in self.instruments:
            row = {level: 0 for level in OBLIGATIONS}
            for p in inst.provisions:
                row[p.obligation] += 1
            row["total"] = len(inst.provisions)
            out[inst.code] = row
        return out
