"""Stage one of the pipeline: questionnaire files -> plain dicts, read with a safe YAML loader."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import yaml

from .errors import Problem, QuestionnaireError, problem


class _SafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader without YAML 1.1 booleans, so `yes`, `no`, `on`, `off` stay strings.

    Only `true` and `false` are booleans: choice codes such as `yes` and `no` must not turn into
    True and False behind an author's back. Being a SafeLoader, it builds only plain data: no
    Python objects, no tags that execute anything, no external references.
    """


_BOOL = "tag:yaml.org,2002:bool"
_SafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SafeLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

MAX_FILE_BYTES = 5 * 1024 * 1024


def parse_yaml(text: str, file: str) -> tuple[object, list[Problem]]:
    """Parse one YAML document; return (data, problems)."""
    try:
        return yaml.load(text, Loader=_SafeLoader), []  # noqa: S506 - _SafeLoader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        detail = getattr(exc, "problem", None) or str(exc)
        return None, [problem("yaml_syntax", file, where, detail=detail)]
    except (ValueError, RecursionError) as exc:  # e.g. huge or deeply nested documents
        return None, [problem("yaml_syntax", file, "", detail=str(exc)[:200])]


def read_yaml(path: Path) -> tuple[object, list[Problem]]:
    name = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, [problem("file_missing", name, "", detail=str(path))]
    if len(raw) > MAX_FILE_BYTES:
        return None, [problem("yaml_syntax", name, "", detail="file larger than 5 MB")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [problem("yaml_syntax", name, "", detail=f"not UTF-8 text ({exc.reason})")]
    return parse_yaml(text, name)


_PACKAGE = Path(__file__).resolve().parents[1]
# In a wheel: the copy of the repository's questionnaires/ that setup.py's build step puts
# inside the package. In a source checkout (editable install, tests): the repository's folder.
BUNDLED_DIRECTORY = _PACKAGE / "data" / "questionnaires"
SOURCE_DIRECTORY = _PACKAGE.parent / "questionnaires"


def default_directory() -> Path:
    """The questionnaire folder used when none is named: SURVEY_QUESTIONNAIRES if set, else the
    copy inside an installed package, else the repository's `questionnaires/` (source checkout).
    """
    from ..settings import setting

    chosen = setting("QUESTIONNAIRE_DIR")
    if chosen:
        return Path(chosen)
    return BUNDLED_DIRECTORY if BUNDLED_DIRECTORY.is_dir() else SOURCE_DIRECTORY


def check_directory(directory: Path | str | None = None, warnings: list[Problem] | None = None):
    """Load and validate a questionnaire folder; return (questionnaire or None, problems).

    Warnings (e.g. cross-references that pair too many paragraphs) are appended to `warnings`
    when a list is given; they never make the folder invalid.
    """
    from .scales import apply_scales, split_scales
    from .translations import apply_translations
    from .validate import build

    directory = Path(directory) if directory else default_directory()
    manifest, problems = read_yaml(directory / "omnibus.yaml")
    if problems:
        return None, problems
    files: dict[str, object] = {}
    names = []
    if isinstance(manifest, dict):
        shared = manifest.get("shared")
        names = ([shared] if isinstance(shared, str) else []) + [
            n for n in manifest.get("instruments") or [] if isinstance(n, str)
        ]
    for name in names:
        if "/" in name or "\\" in name or name.startswith("."):
            continue  # build() reports it; never read outside the folder
        data, file_problems = read_yaml(directory / name)
        problems += file_problems
        files[name] = data
    if problems:
        return None, problems
    # Answer scales per obligation level are applied to the validated model (scales.py).
    shared_name = manifest.get("shared") if isinstance(manifest, dict) else None
    scales = None
    if isinstance(shared_name, str) and shared_name in files:
        files[shared_name], scales = split_scales(files[shared_name])
    model, problems = build(manifest, files, warnings)
    if model is None:
        return model, problems
    model, scale_problems = apply_scales(model, scales, shared_name)
    if scale_problems:
        return None, scale_problems
    # Translated titles and summaries (translations/<lang>.yaml), stale ones left out.
    model, translation_problems = apply_translations(model, directory, warnings)
    return (None, translation_problems) if translation_problems else (model, problems)


def load_questionnaire(directory: Path | str | None = None):
    """Load a questionnaire folder or raise QuestionnaireError listing every problem."""
    questionnaire, problems = check_directory(directory)
    if problems:
        raise QuestionnaireError(problems)
    return questionnaire


def _fingerprint(directory: Path) -> tuple:
    files = [*directory.glob("*.yaml"), *directory.glob("translations/*.yaml")]
    return tuple(
        sorted(
            (str(p.relative_to(directory)), p.stat().st_mtime_ns, p.stat().st_size) for p in files
        )
    )


@functools.lru_cache(maxsize=8)
def _cached(directory: str, fingerprint: tuple):
    return load_questionnaire(directory)


def get_questionnaire(directory: Path | str | None = None):
    """The parsed questionnaire, cached until a file in the folder changes."""
    directory = Path(directory) if directory else default_directory()
    return _cached(str(directory.resolve()), _fingerprint(directory))
