"""The one "what the user started from" token: a short fingerprint of an answer's value.

Pages keep it in a hidden field next to each answer and the offline file in a hidden column; a
save compares it with the stored value to tell an untouched answer, a change, and a conflict.
"""

from __future__ import annotations

import hashlib
import json

# 12 hex characters (48 bits): a token only has to tell one answer from the next version of the
# same answer, and every answered question of a page carries one, so its length is most of
# what does not compress in the largest chapter page (issue 13: under 45 KB with gzip).
TOKEN_LENGTH = 12


def answer_token(value) -> str:
    """TOKEN_LENGTH hex characters of SHA-256 over the value's canonical JSON (None: no answer)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:TOKEN_LENGTH]


def matches(token: str | None, value) -> bool:
    """Whether `token` (from a page or an offline file) was made from `value`. Tokens of an
    earlier, longer length (16 hex: pages and files made before the change) still match by
    their prefix, so an upgrade never turns an untouched answer into a conflict."""
    return token is not None and token[:TOKEN_LENGTH] == answer_token(value)


EMPTY = answer_token(None)
