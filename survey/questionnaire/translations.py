"""Translations of provision titles and summaries, cross-reference notes and the names of other
instruments and their articles: `translations/<lang>.yaml` merged into the model.

Each file holds one language (docs/questionnaire-format.md, "Translation files"):

    language: fr
    status: working            # or: reviewed (by a UN translator)
    provisions:
      UNTOC-5:
        title: "..."           # the article title
        summary: "..."         # what the provision requires
        source: 1a2b3c4d5e6f   # fingerprint of the English title and summary translated
    notes:                     # the notes of a provision's cross-references, by reference
      UNTOC-6-1:
        COECRIM-13: {note: "...", source: 9e8d7c6b5a4f}
    external:                  # other instruments (by code) and their articles (code-article)
      OECD: {title: "...", source: ...}
      OECD-7: {title: "...", source: ...}

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
from .model import LANGUAGES, CrossReference, Provision, Questionnaire, Text

FOLDER = "translations"
STATUSES = ("working", "reviewed")
FILE_KEYS = ("language", "status", "provisions", "notes", "external")
REQUIRED_FILE_KEYS = ("language", "status", "provisions")
ENTRY_KEYS = ("title", "summary", "source")
NOTE_KEYS = ("note", "source")
EXTERNAL_KEYS = ("title", "source")
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")


def fingerprint(provision: Provision) -> str:
    """12 hex digits of SHA-256 over the English title and summary a translation is made from."""
    return text_fingerprint(f"{provision.title}\n{provision.summary.en}")


def text_fingerprint(english: str) -> str:
    """12 hex digits of SHA-256 over one English text (a note, an instrument or article title)."""
    return hashlib.sha256(english.encode()).hexdigest()[:12]


def external_texts(model: Questionnaire) -> dict[str, str]:
    """The English names a file's `external` section translates, by key: each other instrument
    cited ('OECD') and each of its articles a cross-reference cites ('OECD-7')."""
    out: dict[str, str] = {}
    for inst in model.external_instruments:
        out[inst.code] = inst.title
    for provision in model.provisions.values():
        for ref in provision.cross_references:
            if not ref.is_un and ref.title:
                out[ref.key] = ref.title
    return out


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
    notes: dict[tuple[str, str], dict[str, str]] = {}  # (provision, reference key) -> lang -> note
    names: dict[str, dict[str, str]] = {}  # 'OECD' or 'OECD-7' -> lang -> title
    stale: list[tuple[str, str]] = []
    stale_paths: list[tuple[str, str, str]] = []  # (language, path in the file, fingerprint)
    english_names = external_texts(model)
    for path in translation_files(directory):
        file = f"{FOLDER}/{path.name}"
        data, file_problems = read_yaml(path)
        if file_problems:
            problems += [replace(p, file=file) for p in file_problems]
            continue
        found = _file(data, path.stem, file, model, english_names, problems, stale, stale_paths)
        if found is None:
            continue
        lang, lang_status, entries, file_notes, file_names = found
        if lang in status:
            problems.append(
                problem("duplicate_id", file, "language", what="language", value=lang, first=lang)
            )
            continue
        status[lang] = lang_status
        for pid, (title, summary) in entries.items():
            titles.setdefault(pid, {})[lang] = title
            summaries.setdefault(pid, {})[lang] = summary
        for key, note in file_notes.items():
            notes.setdefault(key, {})[lang] = note
        for key, name in file_names.items():
            names.setdefault(key, {})[lang] = name
    if problems:
        return model, problems
    if warnings is not None:
        for lang, where, current in stale_paths:
            warnings.append(
                problem("translation_stale", f"{FOLDER}/{lang}.yaml", where, current=current)
            )

    def named(key: str, english: str) -> Text:
        return Text.of({"en": english, **names.get(key, {})})

    def ref_merged(pid: str, ref: CrossReference) -> CrossReference:
        if ref.is_un:
            return ref
        return replace(
            ref,
            note_text=Text.of({"en": ref.note, **notes.get((pid, ref.key), {})})
            if ref.note
            else None,
            title_text=named(ref.key, ref.title) if ref.title else None,
            instrument_title=named(ref.instrument, external[ref.instrument].title)
            if ref.instrument in external
            else None,
        )

    external = {e.code: e for e in model.external_instruments}

    def merged(p: Provision) -> Provision:
        changes = {}
        if p.id in titles:
            changes = dict(
                title_text=Text.of({"en": p.title, **titles[p.id]}),
                summary=Text.of({**dict(p.summary.translations), **summaries[p.id]}),
            )
        if any(not r.is_un for r in p.cross_references):
            changes["cross_references"] = tuple(ref_merged(p.id, r) for r in p.cross_references)
        return replace(p, **changes) if changes else p

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
            external_instruments=tuple(
                replace(e, title_text=named(e.code, e.title)) for e in model.external_instruments
            ),
            translation_status=status,
            stale_translations=tuple(sorted(stale)),
        ),
        [],
    )


def _file(data, stem, file, model, english_names, problems, stale, stale_paths):
    """(language, status, {provision id: (title, summary)}, {(provision id, reference key):
    note}, {instrument or article key: title}) of one file, or None if unusable."""
    add = lambda code, path, **ctx: problems.append(problem(code, file, path, **ctx))  # noqa: E731
    if not isinstance(data, dict):
        add("wrong_type", "", expected="a mapping", found=type(data).__name__)
        return None
    for key in data:
        if key not in FILE_KEYS:
            add("unknown_key", str(key), name=key, suggestion=did_you_mean(key, FILE_KEYS))
    for key in REQUIRED_FILE_KEYS:
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

    def texts_of(entry, path, keys) -> list[str] | None:
        """The entry's texts in the order of `keys`, or None (each problem reported)."""
        nonlocal ok
        if not isinstance(entry, dict):
            add("wrong_type", path, expected="a mapping", found=type(entry).__name__)
            ok = False
            return None
        for key in entry:
            if key not in keys:
                add("unknown_key", f"{path}.{key}", name=key, suggestion=did_you_mean(key, keys))
                ok = False
        texts = []
        for key in keys:
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
        return texts if len(texts) == len(keys) else None

    def current(path, source, english) -> bool:
        """Whether `source` is the fingerprint of `english`; a stale entry is recorded."""
        if source == (now := text_fingerprint(english)):
            return True
        stale.append((lang, path))
        stale_paths.append((lang, path, now))
        return False

    def provision_of(pid, path):
        """The provision a key names, or None (reported as unknown)."""
        nonlocal ok
        provision = model.provisions.get(pid) if isinstance(pid, str) else None
        if provision is None:
            add(
                "unknown_provision", path, value=pid, suggestion=did_you_mean(pid, model.provisions)
            )
            ok = False
        return provision

    out: dict[str, tuple[str, str]] = {}
    for pid, entry in entries.items():
        path = f"provisions.{pid}"
        provision = provision_of(pid, path)
        if provision is None:
            continue
        texts = texts_of(entry, path, ENTRY_KEYS)
        if texts is None:
            continue
        title, summary, source = texts
        if source != fingerprint(provision):
            stale.append((lang, pid))
            stale_paths.append((lang, path, fingerprint(provision)))
            continue
        out[pid] = (title, summary)

    notes: dict[tuple[str, str], str] = {}
    raw_notes = data.get("notes", {})
    if not isinstance(raw_notes, dict):
        add("wrong_type", "notes", expected="a mapping", found=type(raw_notes).__name__)
        raw_notes, ok = {}, False
    for pid, refs in raw_notes.items():
        path = f"notes.{pid}"
        provision = provision_of(pid, path)
        if provision is None:
            continue
        if not isinstance(refs, dict):
            add("wrong_type", path, expected="a mapping", found=type(refs).__name__)
            ok = False
            continue
        noted = {r.key: r.note for r in provision.cross_references if r.note}
        for key, entry in refs.items():
            if key not in noted:
                add(
                    "unknown_value",
                    f"{path}.{key}",
                    value=key,
                    what=f"cross-reference with a note of {pid}",
                    suggestion=did_you_mean(str(key), noted),
                    valid=", ".join(noted) or "none",
                )
                ok = False
                continue
            texts = texts_of(entry, f"{path}.{key}", NOTE_KEYS)
            if texts and current(f"{path}.{key}", texts[1], noted[key]):
                notes[(pid, key)] = texts[0]

    names: dict[str, str] = {}
    raw_names = data.get("external", {})
    if not isinstance(raw_names, dict):
        add("wrong_type", "external", expected="a mapping", found=type(raw_names).__name__)
        raw_names, ok = {}, False
    for key, entry in raw_names.items():
        path = f"external.{key}"
        if key not in english_names:
            add(
                "unknown_value",
                path,
                value=key,
                what="instrument, or article cited by a cross-reference",
                suggestion=did_you_mean(str(key), english_names),
                valid="an instrument code ('OECD') or a cited article ('OECD-7')",
            )
            ok = False
            continue
        texts = texts_of(entry, path, EXTERNAL_KEYS)
        if texts and current(path, texts[1], english_names[key]):
            names[key] = texts[0]
    return (lang, lang_status, out, notes, names) if ok else None
