"""Report aggregates cached in the process, per database, questionnaire, round(s), filters and
version of the counted responses, so a report page recomputes only when what it counts changed.

The version of a round (`counted_version`) is read from the database on every call (one small
query over the round's counted responses, about a millisecond): the id, status and last update of
each response whose status counts, and the id of its latest answer-history row. It changes when a
response enters or leaves the counted set (submitted, validated, returned) and when any answer of
a counted response changes, whoever writes it (every write path appends history), in this process
or in another worker. It does not change when drafts are edited, nor when another round changes,
so a closed round computes once and is then served from the cache until evicted.

Entries are pickled: every hit returns a fresh copy a caller may change, and the memory bound
(`max_bytes`) is exact. A new version of the same call replaces the old entry at once.
"""

from __future__ import annotations

import hashlib
import itertools
import pickle
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from .. import scoring
from ..scoring import COUNTED_STATUSES

T = TypeVar("T")

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def counted_version(db, round_id: str, statuses=COUNTED_STATUSES) -> str:
    """16 hex characters that change whenever the responses counted in `round_id` (status in
    `statuses`) or their answers change; the same for an unknown round as for a round with no
    counted response. Served by the indexes of migration 0008 (one index seek per response)."""
    statuses = tuple(statuses)
    marks = ", ".join("?" for _ in statuses)
    rows = db.execute(
        f"""SELECT r.id, r.status, r.updated_at,
                   (SELECT h.id FROM answer_history h WHERE h.response_id = r.id
                    ORDER BY h.id DESC LIMIT 1)
            FROM responses r WHERE r.round_id = ? AND r.status IN ({marks}) ORDER BY r.id""",
        [round_id, *statuses],
    ).fetchall()
    return hashlib.blake2b(repr(rows).encode(), digest_size=8).hexdigest()


def _database_key(db) -> tuple:
    """The database file (absolute path) a connection reads; an in-memory database by connection."""
    row = db.execute("PRAGMA database_list").fetchone()
    path = row[2] if row else ""
    return ("file", path) if path else ("memory", id(db.conn))


class ReportCache:
    """A bounded least-recently-used store of pickled aggregates; safe across threads."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES):
        self.max_bytes = max_bytes
        self.enabled = True
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[tuple, tuple[str, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        # One token per questionnaire model alive in the process: models hash by identity, and a
        # token (never an id()) cannot be reused by a later model at the same address.
        self._models: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._tokens = itertools.count(1)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _model_token(self, model) -> int:
        with self._lock:
            token = self._models.get(model)
            if token is None:
                token = self._models[model] = next(self._tokens)
            return token

    def get_or_compute(
        self,
        name: str,
        db,
        model,
        rounds,
        params: dict,
        compute: Callable[[], T],
        *,
        statuses=COUNTED_STATUSES,
    ) -> T:
        """compute() once per (name, database, model, rounds, params) and version of each round's
        counted responses; later calls with the same inputs and versions return a copy of the
        stored result. `params` must be the full set of filters that change the result (values
        with a stable repr: strings, numbers, None, tuples)."""
        if not self.enabled:
            return compute()
        statuses = tuple(statuses)
        key = (
            name,
            _database_key(db),
            self._model_token(model),
            tuple(rounds),
            statuses,
            tuple(sorted(params.items())),
        )
        version = "/".join(counted_version(db, r, statuses) for r in rounds)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                self.hits += 1
                # Bytes this process pickled itself a moment ago; nothing from outside.
                return pickle.loads(entry[1])  # noqa: S301
        value = compute()
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self.misses += 1
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old[1])
            if len(blob) <= self.max_bytes:
                self._entries[key] = (version, blob)
                self._bytes += len(blob)
                while self._bytes > self.max_bytes:
                    _key, (_v, dropped) = self._entries.popitem(last=False)
                    self._bytes -= len(dropped)
        return value


REPORT_CACHE = ReportCache()


# -- the scoring aggregates, cached (same signatures and results as survey.scoring) ----------


def regional_priorities(
    db, model, round_id: str, grouping: str, *, region=None, statuses=COUNTED_STATUSES
) -> list[dict]:
    """survey.scoring.regional_priorities through REPORT_CACHE."""
    return REPORT_CACHE.get_or_compute(
        "regional_priorities",
        db,
        model,
        (round_id,),
        {"grouping": grouping, "region": region},
        lambda: scoring.regional_priorities(
            db, model, round_id, grouping, region=region, statuses=statuses
        ),
        statuses=statuses,
    )


def all_priorities(
    db, model, round_id: str, *, groupings=None, statuses=COUNTED_STATUSES
) -> list[dict]:
    """survey.scoring.all_priorities through REPORT_CACHE."""
    groupings = tuple(groupings) if groupings else None
    return REPORT_CACHE.get_or_compute(
        "all_priorities",
        db,
        model,
        (round_id,),
        {"groupings": groupings},
        lambda: scoring.all_priorities(db, model, round_id, groupings=groupings, statuses=statuses),
        statuses=statuses,
    )


def ta_demand(
    db,
    model,
    round_id: str,
    grouping: str,
    *,
    region=None,
    instrument=None,
    statuses=COUNTED_STATUSES,
) -> list[dict]:
    """survey.scoring.ta_demand through REPORT_CACHE."""
    return REPORT_CACHE.get_or_compute(
        "ta_demand",
        db,
        model,
        (round_id,),
        {"grouping": grouping, "region": region, "instrument": instrument},
        lambda: scoring.ta_demand(
            db,
            model,
            round_id,
            grouping,
            region=region,
            instrument=instrument,
            statuses=statuses,
        ),
        statuses=statuses,
    )
