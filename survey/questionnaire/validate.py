"""Stage two of the pipeline: plain dicts -> the immutable model, collecting every problem on the way."""

from __future__ import annotations

import re
from collections import defaultdict

from .errors import Problem, did_you_mean, problem
from .model import (
    INSTRUMENT_CODES,
    LANGUAGES,
    OBLIGATIONS,
    QUESTION_TYPES,
    STANDARD_QUESTIONS,
    Chapter,
    Choice,
    ChoiceList,
    CrossReference,
    ExternalInstrument,
    Instrument,
    Provision,
    Question,
    Questionnaire,
    ScoringConstants,
    Text,
)
from .relevance import RuleSyntaxError, parse_rule

PROVISION_ID = re.compile(r"^(UNTOC|TIP|SOM|FIR|UNCAC)-\d+(-[0-9a-z]+)*$")
ARTICLE_REF = re.compile(r"^(UNTOC|TIP|SOM|FIR|UNCAC)-(\d+)$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# A cross-reference entry linking its provision with more provisions than this is reported.
MAX_REFERENCE_PAIRS = 4

MANIFEST_KEYS = {"id", "version", "title", "shared", "instruments", "scoring"}
MANIFEST_REQUIRED = ("id", "version", "title", "shared", "instruments")
SHARED_KEYS = {"choice_lists", "standard_block", "external_instruments"}
QUESTION_KEYS = {"name", "type", "label", "hint", "required", "relevant", "choices"}
INSTRUMENT_KEYS = {"instrument", "title", "short_title", "chapters"}
CHAPTER_KEYS = {"id", "number", "title", "provisions"}
PROVISION_KEYS = {
    "id",
    "article",
    "paragraphs",
    "title",
    "obligation",
    "summary",
    "cross_references",
    "extra_questions",
}
PROVISION_REQUIRED = ("id", "article", "title", "obligation", "summary")
SCORING_KEYS = {
    "scores": tuple(ScoringConstants().score),  # every scored code of the per-level scales
    "weights": OBLIGATIONS,
    "ta_factor": ("requested", "not_requested"),
}


class _Context:
    """Collects problems for one file."""

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems

    def add(self, code: str, path: str, **context) -> None:
        self.problems.append(problem(code, self.file, path, **context))

    def mapping(self, node, path, allowed, required=()) -> bool:
        if not isinstance(node, dict):
            self.add("wrong_type", path, expected="a mapping", found=_kind(node))
            return False
        for key in node:
            if key not in allowed:
                self.add(
                    "unknown_key",
                    _join(path, key),
                    name=key,
                    suggestion=did_you_mean(key, sorted(allowed)),
                )
        for key in required:
            if node.get(key) in (None, "", [], {}):
                self.add("missing_key", _join(path, key), name=key)
        return True

    def listing(self, node, path) -> list:
        if node is None:
            return []
        if not isinstance(node, list):
            self.add("wrong_type", path, expected="a list", found=_kind(node))
            return []
        return node

    def text(self, node, path, required=True) -> Text | None:
        if node is None:
            if required:
                self.add("missing_key", path, name=path.rsplit(".", 1)[-1])
            return None
        if isinstance(node, str):
            if not node.strip():
                self.add("empty", path)
                return None
            return Text.of(node.strip())
        if isinstance(node, dict):
            clean = {}
            for lang, value in node.items():
                if lang not in LANGUAGES:
                    self.add(
                        "unknown_value",
                        _join(path, lang),
                        value=lang,
                        what="language code",
                        suggestion=did_you_mean(lang, LANGUAGES),
                        valid=", ".join(LANGUAGES),
                    )
                elif not isinstance(value, str):
                    self.add("wrong_type", _join(path, lang), expected="text", found=_kind(value))
                elif value.strip():
                    clean[lang] = value.strip()
            if "en" not in clean:
                self.add("missing_language", path)
                return None
            return Text.of(clean)
        self.add("wrong_type", path, expected="text or a mapping of languages", found=_kind(node))
        return None

    def choice(self, value, path, valid, what):
        if value not in valid:
            self.add(
                "unknown_value",
                path,
                value=value,
                what=what,
                suggestion=did_you_mean(value, valid),
                valid=", ".join(str(v) for v in valid),
            )
            return False
        return True


def _kind(node) -> str:
    if node is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(node), type(node).__name__
    )


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def build(
    manifest, files: dict[str, object], warnings: list[Problem] | None = None
) -> tuple[Questionnaire | None, list[Problem]]:
    """Validate the manifest and the files it names; return (model or None, problems).

    Warnings (see errors.WARNINGS) never stop the build; they are appended to `warnings`
    when a list is given.
    """
    problems: list[Problem] = []
    ctx = _Context("omnibus.yaml", problems)
    if not ctx.mapping(manifest, "", MANIFEST_KEYS, MANIFEST_REQUIRED):
        return None, problems
    title = ctx.text(manifest.get("title"), "title")
    scoring = _scoring(ctx, manifest.get("scoring"))
    version = manifest.get("version")
    if isinstance(version, int | float):
        version = str(version)

    shared_name = manifest.get("shared")
    shared = files.get(shared_name) if isinstance(shared_name, str) else None
    lists, block, external = _shared(_Context(str(shared_name), problems), shared)

    instruments = []
    seen_ids: dict[str, str] = {}
    seen_codes: set[str] = set()
    order = 0
    raw_refs: dict[str, list[tuple[object, str, _Context]]] = {}
    for index, name in enumerate(ctx.listing(manifest.get("instruments"), "instruments")):
        if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
            ctx.add(
                "wrong_type",
                f"instruments[{index}]",
                expected="a file name in this folder",
                found=repr(name),
            )
            continue
        fctx = _Context(name, problems)
        instrument, order = _instrument(
            fctx, files.get(name), lists, block, seen_ids, seen_codes, order, raw_refs
        )
        if instrument:
            instruments.append(instrument)
    if problems:
        return None, problems

    provisions = {p.id: p for inst in instruments for p in inst[3]}
    refs = _resolve_references(raw_refs, provisions, external, warnings)
    if problems:
        return None, problems

    built = []
    for code, inst_title, short_title, _provs, chapters in instruments:
        built_chapters = []
        for chapter_id, number, chapter_title, chapter_provisions in chapters:
            built_chapters.append(
                Chapter(
                    id=chapter_id,
                    instrument=code,
                    number=number,
                    title=chapter_title,
                    provisions=tuple(_with_refs(p, refs.get(p.id, [])) for p in chapter_provisions),
                )
            )
        built.append(Instrument(code, inst_title, short_title or inst_title, tuple(built_chapters)))
    questionnaire = Questionnaire(
        id=str(manifest["id"]),
        version=str(version),
        title=title,
        instruments=tuple(built),
        choice_lists=tuple(lists.values()),
        standard_block=tuple(block),
        external_instruments=tuple(external.values()),
        scoring=scoring,
    )
    return questionnaire, problems


def _with_refs(provision: Provision, refs: list[CrossReference]) -> Provision:
    from dataclasses import replace

    return replace(provision, cross_references=tuple(refs))


def _scoring(ctx: _Context, node) -> ScoringConstants:
    if node is None:
        return ScoringConstants()
    if not ctx.mapping(node, "scoring", set(SCORING_KEYS)):
        return ScoringConstants()
    defaults = ScoringConstants()
    values = {}
    for key, names in SCORING_KEYS.items():
        base = dict(getattr(defaults, key))
        sub = node.get(key)
        if sub is None:
            values[key] = tuple(base.items())
            continue
        if not ctx.mapping(sub, f"scoring.{key}", set(names)):
            continue
        for name, value in sub.items():
            if name in names:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    ctx.add(
                        "wrong_type",
                        f"scoring.{key}.{name}",
                        expected="a number >= 0",
                        found=_kind(value),
                    )
                else:
                    base[name] = float(value)
        values[key] = tuple(base.items())
    return ScoringConstants(**values) if len(values) == 3 else ScoringConstants()


def _shared(ctx: _Context, node):
    lists: dict[str, ChoiceList] = {}
    external: dict[str, ExternalInstrument] = {}
    if not ctx.mapping(node, "", SHARED_KEYS, ("choice_lists", "standard_block")):
        return lists, [], external
    raw_lists = node.get("choice_lists")
    if isinstance(raw_lists, dict):
        for list_name, items in raw_lists.items():
            path = f"choice_lists.{list_name}"
            choices, codes = [], set()
            for i, item in enumerate(ctx.listing(items, path)):
                ipath = f"{path}[{i}]"
                if not ctx.mapping(item, ipath, {"name", "label"}, ("name", "label")):
                    continue
                code = item.get("name")
                if not isinstance(code, str) or not NAME.match(code):
                    ctx.add(
                        "invalid_id",
                        f"{ipath}.name",
                        value=code,
                        what="choice",
                        detail="use lower-case letters, digits and _",
                    )
                    continue
                if code in codes:
                    ctx.add("duplicate_id", f"{ipath}.name", value=code, what="choice", first=path)
                codes.add(code)
                label = ctx.text(item.get("label"), f"{ipath}.label")
                if label:
                    # The offline file separates several answers with ';' or a line break, so a
                    # label holding one could never be read back (survey.exports.offline).
                    for lang, text in label.translations:
                        bad = next((ch for ch in ";\n" if ch in text), None)
                        if bad is not None:
                            ctx.add(
                                "label_separator",
                                _join(f"{ipath}.label", lang),
                                value=text,
                                char="a line break" if bad == "\n" else "';'",
                            )
                    choices.append(Choice(code, label))
            lists[list_name] = ChoiceList(list_name, tuple(choices))
    elif raw_lists is not None:
        ctx.add("wrong_type", "choice_lists", expected="a mapping", found=_kind(raw_lists))
    block = _questions(ctx, node.get("standard_block"), "standard_block", lists, [])
    names = [q.name for q in block]
    for required in STANDARD_QUESTIONS:
        if required not in names and not any(
            p.path.startswith("standard_block") for p in ctx.problems
        ):
            ctx.add("missing_key", "standard_block", name=required)
    raw_external = node.get("external_instruments")
    if isinstance(raw_external, dict):
        for code, spec in raw_external.items():
            path = f"external_instruments.{code}"
            if not ctx.mapping(spec, path, {"title", "articles"}, ("title", "articles")):
                continue
            articles = spec.get("articles")
            if not isinstance(articles, dict):
                ctx.add(
                    "wrong_type",
                    f"{path}.articles",
                    expected="a mapping of article number to title",
                    found=_kind(articles),
                )
                continue
            external[code] = ExternalInstrument(
                code, str(spec["title"]), tuple((str(k), str(v)) for k, v in articles.items())
            )
    return lists, block, external


def _questions(ctx: _Context, node, path: str, lists, earlier: list[Question]) -> list[Question]:
    questions: list[Question] = []
    raw_rules = []
    for i, item in enumerate(ctx.listing(node, path)):
        qpath = f"{path}[{i}]"
        if not ctx.mapping(item, qpath, QUESTION_KEYS, ("name", "type", "label")):
            continue
        name = item.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            ctx.add(
                "invalid_id",
                f"{qpath}.name",
                value=name,
                what="question",
                detail="use lower-case letters, digits and _",
            )
            continue
        if any(q.name == name for q in earlier + questions):
            ctx.add("duplicate_id", f"{qpath}.name", value=name, what="question", first=path)
            continue
        qtype = item.get("type")
        if not ctx.choice(qtype, f"{qpath}.type", QUESTION_TYPES, "question type"):
            continue
        choices = None
        list_name = item.get("choices")
        if qtype in ("select_one", "select_multiple"):
            if list_name is None:
                ctx.add("missing_key", f"{qpath}.choices", name="choices")
            elif ctx.choice(list_name, f"{qpath}.choices", sorted(lists), "choice list"):
                choices = lists[list_name]
        elif qtype == "yes_no":
            choices = lists.get("yes_no")
            if list_name is not None:
                ctx.add(
                    "unknown_key",
                    f"{qpath}.choices",
                    name="choices",
                    suggestion=" (yes_no questions always use the yes_no list)",
                )
            if choices is None:
                ctx.add("missing_key", "choice_lists.yes_no", name="yes_no")
        elif list_name is not None:
            ctx.add(
                "unknown_key",
                f"{qpath}.choices",
                name="choices",
                suggestion=" (only select questions take choices)",
            )
        required = item.get("required", False)
        if not isinstance(required, bool):
            ctx.add(
                "wrong_type", f"{qpath}.required", expected="true or false", found=_kind(required)
            )
            required = False
        label = ctx.text(item.get("label"), f"{qpath}.label")
        hint = ctx.text(item.get("hint"), f"{qpath}.hint", required=False)
        rule = None
        source = item.get("relevant")
        if source is not None:
            try:
                rule = parse_rule(source)
                raw_rules.append((rule, source, f"{qpath}.relevant", len(questions)))
            except RuleSyntaxError as exc:
                ctx.add("bad_relevance", f"{qpath}.relevant", rule=source, detail=str(exc))
        if label:
            questions.append(Question(name, qtype, label, hint, required, rule, source, choices))
    # Rules may only look at questions asked before them, so forms evaluate top-down.
    for rule, source, rpath, position in raw_rules:
        before = {q.name: q for q in earlier + questions[:position]}
        _check_rule(ctx, rule, source, rpath, before)
    return questions


def _check_rule(ctx, rule, source, path, before: dict[str, Question]) -> None:
    stack = [rule]
    while stack:
        node = stack.pop()
        if hasattr(node, "parts"):
            stack.extend(node.parts)
            continue
        if hasattr(node, "clause"):
            stack.append(node.clause)
            continue
        question = before.get(node.question)
        if question is None:
            ctx.add(
                "bad_relevance",
                path,
                rule=source,
                detail=f"unknown question '{node.question}'{did_you_mean(node.question, before)}; "
                "a rule may name only questions asked before it",
            )
            continue
        valid = question.choices.codes if question.choices else ()
        if node.codes and not question.choices:
            ctx.add(
                "bad_relevance",
                path,
                rule=source,
                detail=f"'{node.question}' is a text question and has no codes",
            )
        for code in node.codes:
            if question.choices and code not in valid:
                ctx.add(
                    "bad_relevance",
                    path,
                    rule=source,
                    detail=f"'{code}' is not a code of '{node.question}'{did_you_mean(code, valid)}; "
                    f"valid: {', '.join(valid)}",
                )


def _instrument(ctx, node, lists, block, seen_ids, seen_codes, order, raw_refs):
    if not ctx.mapping(node, "", INSTRUMENT_KEYS, ("instrument", "title", "chapters")):
        return None, order
    code = node.get("instrument")
    if not ctx.choice(code, "instrument", INSTRUMENT_CODES, "instrument code"):
        return None, order
    if code in seen_codes:
        ctx.add("duplicate_id", "instrument", value=code, what="instrument", first="another file")
    seen_codes.add(code)
    title = ctx.text(node.get("title"), "title")
    short_title = ctx.text(node.get("short_title"), "short_title", required=False)
    chapters, all_provisions, chapter_ids = [], [], set()
    for c, chapter in enumerate(ctx.listing(node.get("chapters"), "chapters")):
        cpath = f"chapters[{c}]"
        if not ctx.mapping(chapter, cpath, CHAPTER_KEYS, ("id", "title", "provisions")):
            continue
        chapter_id = chapter.get("id")
        if not isinstance(chapter_id, str) or not NAME.match(chapter_id):
            ctx.add(
                "invalid_id",
                f"{cpath}.id",
                value=chapter_id,
                what="chapter",
                detail="use lower-case letters, digits and _",
            )
            continue
        if chapter_id in chapter_ids:
            ctx.add("duplicate_id", f"{cpath}.id", value=chapter_id, what="chapter", first=code)
        chapter_ids.add(chapter_id)
        chapter_title = ctx.text(chapter.get("title"), f"{cpath}.title")
        provisions = []
        for i, item in enumerate(ctx.listing(chapter.get("provisions"), f"{cpath}.provisions")):
            ppath = f"{cpath}.provisions[{i}]"
            provision = _provision(
                ctx, item, ppath, code, chapter_id, lists, block, seen_ids, order, raw_refs
            )
            if provision:
                order += 1
                provisions.append(provision)
        if not provisions and chapter.get("provisions") in (None, []):
            pass  # missing_key already reported
        number = chapter.get("number")
        chapters.append(
            (chapter_id, None if number is None else str(number), chapter_title, provisions)
        )
        all_provisions += provisions
    return (code, title, short_title, all_provisions, chapters), order


def _provision(ctx, node, path, code, chapter_id, lists, block, seen_ids, order, raw_refs):
    if not ctx.mapping(node, path, PROVISION_KEYS, PROVISION_REQUIRED):
        return None
    pid = node.get("id")
    if not isinstance(pid, str) or not PROVISION_ID.match(pid):
        ctx.add(
            "invalid_id",
            f"{path}.id",
            value=pid,
            what="provision",
            detail="expected INSTRUMENT-ARTICLE[-PARAGRAPH[-SUBPARAGRAPH]], e.g. UNCAC-16-2",
        )
        return None
    label = f"{path}.id"
    ok = True
    if not pid.startswith(code + "-"):
        ctx.add(
            "id_mismatch",
            label,
            detail=f"provision '{pid}' is in the {code} file; its id must start with '{code}-'",
        )
        ok = False
    if pid in seen_ids:
        ctx.add("duplicate_id", label, value=pid, what="provision", first=seen_ids[pid])
        ok = False
    else:
        seen_ids[pid] = f"{ctx.file}: {path}"
    article = node.get("article")
    if isinstance(article, bool) or not isinstance(article, int):
        if article is not None:
            ctx.add(
                "wrong_type", f"{path}.article", expected="an article number", found=_kind(article)
            )
        ok = False
    elif pid.split("-")[1] != str(article):
        ctx.add(
            "id_mismatch",
            f"{path}.article",
            detail=f"article {article} does not match id '{pid}' (article {pid.split('-')[1]})",
        )
        ok = False
    obligation = node.get("obligation")
    if obligation is not None and not ctx.choice(
        obligation, f"{path}.obligation", OBLIGATIONS, "obligation level"
    ):
        ok = False
    title = node.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        ctx.add(
            "wrong_type",
            f"{path}.title",
            expected="the article's official title",
            found=_kind(title),
        )
        ok = False
    summary = (
        ctx.text(node.get("summary"), f"{path}.summary")
        if node.get("summary") is not None
        else None
    )
    paragraphs = node.get("paragraphs")
    extra = _questions(
        ctx, node.get("extra_questions"), f"{path}.extra_questions", lists, list(block)
    )
    raw_refs[pid] = [
        (ref, f"{path}.cross_references[{i}]", ctx)
        for i, ref in enumerate(
            ctx.listing(node.get("cross_references"), f"{path}.cross_references")
        )
    ]
    if not ok or summary is None or obligation is None or title is None:
        return None
    return Provision(
        id=pid,
        instrument=code,
        article=article,
        title=title.strip(),
        chapter=chapter_id,
        obligation=obligation,
        summary=summary,
        questions=tuple(block) + tuple(extra),
        order=order,
        paragraphs=None if paragraphs is None else str(paragraphs),
    )


def _resolve_references(
    raw_refs, provisions, external, warnings=None
) -> dict[str, list[CrossReference]]:
    by_article: dict[str, list[str]] = defaultdict(list)
    for pid, provision in provisions.items():
        by_article[f"{provision.instrument}-{provision.article}"].append(pid)
    links: dict[str, dict[tuple, CrossReference]] = defaultdict(dict)

    def link(source: str, target: str, note):
        target_p = provisions[target]
        ref = CrossReference(
            target_p.instrument, str(target_p.article), provision=target, note=note
        )
        links[source].setdefault(("un", target), ref)
        back = provisions[source]
        links[target].setdefault(
            ("un", source),
            CrossReference(back.instrument, str(back.article), provision=source, note=note),
        )

    for pid, refs in raw_refs.items():
        if pid not in provisions:
            continue
        for ref, path, ctx in refs:
            note = None
            if isinstance(ref, dict):
                if not ctx.mapping(
                    ref, path, {"instrument", "article", "note"}, ("instrument", "article")
                ):
                    continue
                note = ref.get("note")
                inst, article = ref.get("instrument"), str(ref.get("article"))
                if inst in INSTRUMENT_CODES:
                    ref = f"{inst}-{article}"
                else:
                    if not ctx.choice(
                        inst,
                        f"{path}.instrument",
                        sorted(external),
                        "instrument of a cross-reference",
                    ):
                        continue
                    articles = dict(external[inst].articles)
                    if article not in articles:
                        ctx.add(
                            "unknown_article",
                            f"{path}.article",
                            instrument=inst,
                            value=article,
                            suggestion=did_you_mean(article, articles),
                        )
                        continue
                    links[pid].setdefault(
                        ("ext", inst, article),
                        CrossReference(
                            inst,
                            article,
                            note=note,
                            title=articles[article],
                            instrument_title=external[inst].title_text,
                        ),
                    )
                    continue
            if not isinstance(ref, str):
                ctx.add(
                    "wrong_type",
                    path,
                    expected="a provision id or a mapping with instrument and article",
                    found=_kind(ref),
                )
                continue
            targets = [ref] if ref in provisions else by_article.get(ref, [])
            if not targets:
                ctx.add(
                    "unknown_reference",
                    path,
                    value=ref,
                    suggestion=did_you_mean(ref, list(provisions) + list(by_article)),
                )
                continue
            if targets == [pid]:
                ctx.add("self_reference", path)
                continue
            for target in targets:
                if target != pid:
                    link(pid, target, note)
            if warnings is not None:
                _reference_warnings(warnings, ctx, path, ref, pid, targets, provisions, by_article)

    order = {pid: p.order for pid, p in provisions.items()}

    def sort_key(ref: CrossReference):
        if ref.is_un:
            return (0, order[ref.provision], "", "")
        return (1, 0, ref.instrument, ref.article.zfill(4))

    return {pid: sorted(refs.values(), key=sort_key) for pid, refs in links.items()}


def _reference_warnings(warnings, ctx, path, ref, pid, targets, provisions, by_article) -> None:
    """Warn about an entry that pairs provisions too broadly for an answer to be reused.

    Answers are offered for reuse between linked provisions, so a link should join provisions
    whose obligations match: one paragraph with its counterpart, not every paragraph of one
    article with every paragraph of another.
    """
    others = [t for t in targets if t != pid]
    source = provisions[pid]
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    context = {"value": ref, "provision": pid, "count": len(others), "targets": shown}
    if len(others) > MAX_REFERENCE_PAIRS:
        warnings.append(
            problem("reference_fan_out", ctx.file, path, limit=MAX_REFERENCE_PAIRS, **context)
        )
    names_whole_article = ref not in provisions and len(others) > 1
    source_is_paragraph = (
        source.paragraphs is not None
        or len(by_article[f"{source.instrument}-{source.article}"]) > 1
    )
    if names_whole_article and source_is_paragraph:
        warnings.append(problem("reference_mixed_detail", ctx.file, path, **context))
