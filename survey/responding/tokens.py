"""The one "what the user started from" token: a short fingerprint of an answer's value.

Pages keep it in a hidden field next to each answer and the offline file in a hidden column; a
save compares it with the stored value to tell an untouched answer, a change, and a conflict.
"""

from __future__ import annotations

import hashlib
import json


def answer_token(value) -> str:
    """16 hex characters of SHA-256 over the value's canonical JSON (None for no answer)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


EMPTY = answer_token(None)
