"""Answer scales per obligation level: each provision's `compliance` question gets its level's scale.

A "may" provision requires nothing and a "shall consider" provision requires consideration, not
adoption, so one yes / partly / no scale misreads both (docs/scoring.md). `shared.yaml` names, in
`answer_scales`, the choice list, label and hint of the compliance question for each level; this
stage runs after validation (loader.check_directory) and gives every provision the compliance
question of its level. A questionnaire without `answer_scales` keeps one scale for all.
"""

from __future__ import annotations

from dataclasses import replace

from .errors import Problem, did_you_mean, problem
from .model import OBLIGATIONS, Question, Questionnaire, Text

KEY = "answer_scales"
SCALE_KEYS = {"choices", "label", "hint"}


def split_scales(shared) -> tuple[object, object]:
    """(shared without `answer_scales`, the raw `answer_scales` or None), for the validator."""
    if not isinstance(shared, dict) or KEY not in shared:
        return shared, None
    rest = {k: v for k, v in shared.items() if k != KEY}
    return rest, shared[KEY]


def _text(node) -> Text | None:
    if isinstance(node, str) and node.strip():
        return Text.of(node.strip())
    if isinstance(node, dict) and isinstance(node.get("en"), str) and node["en"].strip():
        return Text.of({k: v.strip() for k, v in node.items() if isinstance(v, str) and v.strip()})
    return None


def apply_scales(
    model: Questionnaire, raw, file: str = "shared.yaml"
) -> tuple[Questionnaire, list[Problem]]:
    """Give each provision the compliance question of its obligation level; return (model, problems)."""
    if raw is None:
        return model, []
    problems: list[Problem] = []
    add = lambda code, path, **ctx: problems.append(problem(code, file, path, **ctx))  # noqa: E731
    if not isinstance(raw, dict):
        add("wrong_type", KEY, expected="a mapping of obligation level to scale", found="other")
        return model, problems
    base = next(q for q in model.standard_block if q.name == "compliance")
    all_codes = base.choices.codes if base.choices else ()
    questions: dict[str, Question] = {}
    for level in OBLIGATIONS:
        if level not in raw:
            add("missing_key", f"{KEY}.{level}", name=level)
    for level, spec in raw.items():
        path = f"{KEY}.{level}"
        if level not in OBLIGATIONS:
            add(
                "unknown_value",
                path,
                value=level,
                what="obligation level",
                suggestion=did_you_mean(level, OBLIGATIONS),
                valid=", ".join(OBLIGATIONS),
            )
            continue
        if not isinstance(spec, dict):
            add("wrong_type", path, expected="a mapping", found=type(spec).__name__)
            continue
        for key in spec:
            if key not in SCALE_KEYS:
                add(
                    "unknown_key",
                    f"{path}.{key}",
                    name=key,
                    suggestion=did_you_mean(key, SCALE_KEYS),
                )
        list_name = spec.get("choices")
        choices = model.choice_list(list_name) if isinstance(list_name, str) else None
        if choices is None:
            add(
                "unknown_value",
                f"{path}.choices",
                value=list_name,
                what="choice list",
                suggestion=did_you_mean(list_name, [c.name for c in model.choice_lists]),
                valid=", ".join(c.name for c in model.choice_lists),
            )
            continue
        # Relevance rules are checked against the standard block's compliance list, so a code
        # outside it could never show the questions that depend on it.
        for code in choices.codes:
            if code not in all_codes:
                add(
                    "unknown_value",
                    f"{path}.choices",
                    value=code,
                    what=f"code of the standard block's compliance list '{base.choices.name}'",
                    suggestion="",
                    valid=", ".join(all_codes),
                )
        label = _text(spec.get("label"))
        if label is None:
            add("missing_language", f"{path}.label")
            continue
        hint = _text(spec.get("hint")) if spec.get("hint") is not None else None
        questions[level] = replace(base, label=label, hint=hint, choices=choices)
    if problems:
        return model, problems
    return with_scales(model, questions), []


def with_scales(model: Questionnaire, questions: dict[str, Question]) -> Questionnaire:
    """The model with each provision's compliance question replaced by its level's question."""

    def provision(p):
        scaled = questions.get(p.obligation)
        if scaled is None:
            return p
        return replace(
            p, questions=tuple(scaled if q.name == "compliance" else q for q in p.questions)
        )

    instruments = tuple(
        replace(
            inst,
            chapters=tuple(
                replace(c, provisions=tuple(provision(p) for p in c.provisions))
                for c in inst.chapters
            ),
        )
        for inst in model.instruments
    )
    return replace(model, instruments=instruments)
