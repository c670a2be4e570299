"""Where a response stands, per chapter and overall, kept per response and updated incrementally.

Counting from scratch needs every answer of the response and its relevance rules (~6 ms for a
full response), so each worker keeps, per (questionnaire, response), the counts of every
provision and the id of the latest history row they reflect. Every answer change appends a
history row (survey.storage.responses.write_answers), so on the next request only the
provisions changed since are counted again: exact, and nothing stale is ever returned.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

from ..progress import ChapterProgress, chapters_for, provision_progress
from ..storage.db import database_file
from ..storage.responses import last_change_id, progress_values, provisions_changed_since

_CACHE_SIZE = 512  # responses per worker; a full entry is 271 small tuples
_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class _Counts:
    mark: int  # id of the latest history row reflected
    by_provision: dict  # provision id -> (answered, applicable); never mutated once stored


def _count(model, values: dict, provision_ids) -> dict:
    return {
        pid: provision_progress(model.provisions[pid], values.get(pid, {}))
        for pid in provision_ids
        if pid in model.provisions
    }


def _counts(db, model, response_id: int) -> _Counts:
    # The database file is part of the key: one process may open several (tests, scripts).
    key = (model, database_file(db), response_id)
    mark = last_change_id(db, response_id)
    with _lock:
        known = _cache.get(key)
        if known is not None:
            _cache.move_to_end(key)
    if known is not None and known.mark == mark:
        return known
    if known is None or mark < known.mark:  # never seen, or history went back (a restore)
        counts = _Counts(mark, _count(model, progress_values(db, response_id), model.provisions))
    else:
        changed = provisions_changed_since(db, response_id, known.mark)
        fresh = _count(model, progress_values(db, response_id, changed), changed)
        counts = _Counts(mark, {**known.by_provision, **fresh})
    with _lock:
        _cache[key] = counts
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return counts


@lru_cache(maxsize=4096)
def _unanswered(provision) -> tuple[int, int]:
    return provision_progress(provision, {})


def response_progress(db, model, response_id: int | None, instruments) -> list[ChapterProgress]:
    """Required answers given / required answers, per chapter of `instruments` (survey.progress).

    Same figures as survey.progress.chapter_progress over all the response's answers.
    """
    by_provision = _counts(db, model, response_id).by_provision if response_id else {}
    out = []
    for inst, chapter in chapters_for(model, list(instruments)):
        answered = applicable = 0
        for provision in chapter.provisions:
            done, total = by_provision.get(provision.id) or _unanswered(provision)
            answered += done
            applicable += total
        out.append(ChapterProgress(inst.code, chapter, answered, applicable))
    return out
