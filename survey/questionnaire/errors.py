"""The catalogue of questionnaire problems: each a named entry that the validator and its tests share."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# Problem codes and the message template each uses. Tests assert on the code and on the
# rendered text, so a message changes in one place.
CATALOGUE = {
    "yaml_syntax": "YAML syntax error: {detail}",
    "file_missing": "file not found: {detail}",
    "unknown_key": "unknown key '{name}'{suggestion}",
    "missing_key": "missing required key '{name}'",
    "wrong_type": "expected {expected}, found {found}",
    "empty": "must not be empty",
    "invalid_id": "'{value}' is not a valid {what} id: {detail}",
    "duplicate_id": "duplicate {what} id '{value}' (first defined at {first})",
    "id_mismatch": "{detail}",
    "unknown_value": "'{value}' is not a valid {what}{suggestion}; valid: {valid}",
    "bad_relevance": "relevance rule '{rule}': {detail}",
    "unknown_reference": "cross-reference '{value}' names no provision or article{suggestion}",
    "unknown_article": "{instrument} has no article '{value}'{suggestion}",
    "self_reference": "a provision cannot cross-reference itself",
    "unknown_provision": "no provision '{value}' in the questionnaire{suggestion}",
    "missing_language": "no English ('en') text; English is required",
    "label_separator": (
        "choice label '{value}' contains {char}, which separates several answers in the offline "
        "file, so the label could not be read back; write it with ',' or '/' instead"
    ),
    # Warnings: the questionnaire still loads, but a legal reviewer should look again.
    "translation_stale": (
        "translated from an earlier English text, so it is not shown (English is, "
        "marked); translate it again from the current English and write source: '{current}'"
    ),
    "reference_fan_out": (
        "cross-reference '{value}' links {provision} with {count} provisions ({targets}); "
        "more than {limit} pairs from one entry usually means a whole article was named where "
        "paragraphs were meant: name the provisions whose obligations match"
    ),
    "reference_mixed_detail": (
        "cross-reference '{value}' joins the paragraph-level provision {provision} to the whole "
        "of an article split into {count} provisions ({targets}); name the matching paragraph(s)"
    ),
}

# Codes that are warnings: reported by `survey questionnaire check` without failing it.
WARNINGS = frozenset({"reference_fan_out", "reference_mixed_detail", "translation_stale"})


def did_you_mean(value: object, candidates) -> str:
    """Return ' (did you mean 'x'?)' for the closest candidate, or ''."""
    if not isinstance(value, str):
        return ""
    matches = difflib.get_close_matches(value, [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a questionnaire file, with where it is."""

    code: str
    file: str
    path: str
    message: str

    @property
    def is_warning(self) -> bool:
        return self.code in WARNINGS

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


def problem(code: str, file: str, path: str, **context) -> Problem:
    return Problem(code, file, path, CATALOGUE[code].format(**context))


class QuestionnaireError(Exception):
    """Raised when a questionnaire does not validate; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
