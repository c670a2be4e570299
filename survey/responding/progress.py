"""Where a response stands, per chapter and overall, cached until one of its answers changes."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..progress import ChapterProgress, chapter_progress
from ..storage.responses import last_change_id, progress_values

_CACHE_SIZE = 512
_cache: OrderedDict = OrderedDict()
_lock = threading.Lock()


def response_progress(db, model, response_id: int | None, instruments) -> list[ChapterProgress]:
    """Required answers given / required, per chapter of `instruments` (survey.progress).

    Counting needs every answer of the response and its relevance rules (~10 ms for a full
    response), so the result is kept per (questionnaire, response, instruments, latest change):
    any saved answer adds a history row and so a new key; nothing stale is ever returned.
    """
    instruments = tuple(instruments)
    if response_id is None:
        return chapter_progress(model, list(instruments), {})
    key = (model, response_id, instruments, last_change_id(db, response_id))
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    progress = chapter_progress(model, list(instruments), progress_values(db, response_id))
    with _lock:
        _cache[key] = progress
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return progress
