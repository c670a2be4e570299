"""Translations of provision titles and summaries: `translations/<lang>.yaml` merged into the model.

Each file holds one language (docs/questionnaire-format.md, "Translation files"):

    language: fr
    status: working            # or: reviewed (by a UN translator)
    provisions:
      UNTOC-5:
        title: "..."           # the article title
        summary: "..."         # what the provision requires
        source: 1a2b3c4d5e6f   # fingerprint of the English title and summary translated

This stage runs after validation and the answer scales (loader.check_directory). A translation
whose `source` is not the fingerprint of the current English texts was made from an earlier
English version: it is left out (the reader sees English, marked) and reported, so a changed
obligation is never shown in a translation that says something else.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from .errors import Problem, did_you_mean, problem
from .model import LANGUAGES, Provision, Questionnaire, Text

FOLDER = "translations"
STATUSES = ("working", "reviewed")
FILE_KEYS = ("language", "status", "provisions")
ENTRY_KEYS = ("title", "summary", "source")
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")


def fingerprint(provision: Provision) -> str:
    """12 hex digits of SHA-256 over the English title and summary a translation is made from."""
    source = f"{provision.title}\n{provision.summary.en}".encode()
    return hashlib.sha256(source).hexdigest()[:12]


def translation_files(directory: Path) -> list[Path]:
    folder = directory / FOLDER
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def apply_translations(
    model: Questionnaire, directory: Path, warnings: list[Problem] | None = None
) -> tuple[Questionnaire, list[Problem]]:
    """The model with every file's titles and summaries merged in; (model, problems).

    Stale translations (English changed since) are left out, listed in the model's
    `stale_translations` and appended to `warnings` when a list is given.
    """
    from .loader import read_yaml

    problems: list[Problem] = []
    status: dict[str, str] = {"en": "reviewed"}
    titles: dict[str, dict[str, str]] = {}
    summaries: dict[str, dict[str, str]] = {}
    stale: list[tuple[str, str]] = []
    for path in translation_files(directory):
        file = f"{FOLDER}/{path.name}"
        data, file_problems = read_yaml(path)
        if file_problems:
            problems += [replace(p, file=file) for p in file_problems]
            continue
        found = _file(data, path.stem, file, model, problems, stale)
        if found is None:
            continue
        lang, lang_status, entries = found
        if lang in status:
            problems.append(
                problem("duplicate_id", file, "language", what="language", value=lang, first=lang)
            )
            continue
        status[lang] = lang_status
        for pid, (title, summary) in entries.items():
            titles.setdefault(pid, {})[lang] = title
            summaries.setdefault(pid, {})[lang] = summary
    if problems:
        return model, problems
    for lang, pid in stale:
        provision = model.provisions[pid]
        if warnings is not None:
            warnings.append(
                problem(
                    "translation_stale",
                    f"{FOLDER}/{lang}.yaml",
                    f"provisions.{pid}",
                    current=fingerprint(provision),
                )
            )

    def merged(p: Provision) -> Provision:
        if p.id not in titles:
            return p
        return replace(
            p,
            title_text=Text.of({"en": p.title, **titles[p.id]}),
            summary=Text.of({**dict(p.summary.translations), **summaries[p.id]}),
        )

    instruments = tuple(
        replace(
            inst,
            chapters=tuple(
                replace(c, provisions=tuple(merged(p) for p in c.provisions)) for c in inst.chapters
            ),
        )
        for inst in model.instruments
    )
    return (
        replace(
            model,
            instruments=instruments,
            translation_status=status,
            stale_translations=tuple(sorted(stale)),
        ),
        [],
    )


def _file(data, stem, file, model, problems, stale):
    """(language, status, {provision id: (title, summary)}) of one file, or None if unusable."""
    add = lambda code, path, **ctx: problems.append(problem(code, file, path, **ctx))  # noqa: E731
    if not isinstance(data, dict):
        add("wrong_type", "", expected="a mapping", found=type(data).__name__)
        return None
    for key in data:
        if key not in FILE_KEYS:
            add("unknown_key", str(key), name=key, suggestion=did_you_mean(key, FILE_KEYS))
    for key in FILE_KEYS:
        if key not in data:
            add("missing_key", key, name=key)
    lang, lang_status, entries = data.get("language"), data.get("status"), data.get("provisions")
    ok = True
    if lang not in TRANSLATED:
        add(
            "unknown_value",
            "language",
            value=lang,
            what="translation language",
            suggestion=did_you_mean(lang, TRANSLATED),
            valid=", ".join(TRANSLATED),
        )
        ok = False
    elif lang != stem:
        add("id_mismatch", "language", detail=f"language '{lang}' in a file named '{stem}.yaml'")
        ok = False
    if lang_status not in STATUSES:
        add(
            "unknown_value",
            "status",
            value=lang_status,
            what="translation status",
            suggestion=did_you_mean(lang_status, STATUSES),
            valid=", ".join(STATUSES),
        )
        ok = False
    if not isinstance(entries, dict):
        if "provisions" in data:
            add("wrong_type", "provisions", expected="a mapping", found=type(entries).__name__)
        return None
    out: dict[str, tuple[str, str]] = {}
    for pid, entry in entries.items():
        path = f"provisions.{pid}"
        provision = model.provisions.get(pid) if isinstance(pid, str) else None
        if provision is None:
            add(
                "unknown_provision", path, value=pid, suggestion=did_you_mean(pid, model.provisions)
            )
            ok = False
            continue
        if not isinstance(entry, dict):
            add("wrong_type", path, expected="a mapping", found=type(entry).__name__)
            ok = False
            continue
        for key in entry:
            if key not in ENTRY_KEYS:
                add(
                    "unknown_key",
                    f"{path}.{key}",
                    name=key,
                    suggestion=did_you_mean(key, ENTRY_KEYS),
                )
                ok = False
        texts = []
        for key in ENTRY_KEYS:
            value = entry.get(key)
            if key not in entry:
                add("missing_key", path, name=key)
            elif not isinstance(value, str):
                add("wrong_type", f"{path}.{key}", expected="text", found=type(value).__name__)
            elif not value.strip():
                add("empty", f"{path}.{key}")
            else:
                texts.append(value.strip())
                continue
            ok = False
        if len(texts) != len(ENTRY_KEYS):
            continue
        title, summary, source = texts
        if source != fingerprint(provision):
            stale.append((lang, pid))
            continue
        out[pid] = (title, summary)
    return (lang, lang_status, out) if ok else None
