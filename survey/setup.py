"""Preparing an instance: database, States, a default round and a first admin (used by serve and tests)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .questionnaire import get_questionnaire
from .storage import connect
from .storage.rounds import ensure_default_round
from .storage.states import load_states
from .storage.users import create_user

FIRST_ADMIN_EMAIL = "admin@example.org"
FIRST_ADMIN_FILE = "initial-admin.txt"


def prepare(db_path: Path, questionnaire_dir=None) -> tuple[object, str | None]:
    """Make the database ready to use; return (db, a message about a newly created admin or None)."""
    db = connect(db_path)
    if not db.execute("SELECT 1 FROM states LIMIT 1").fetchone():
        load_states(db)
    questionnaire = get_questionnaire(questionnaire_dir)
    ensure_default_round(db, questionnaire)
    message = None
    if not db.execute("SELECT 1 FROM users WHERE role = 'admin' LIMIT 1").fetchone():
        password = secrets.token_urlsafe(12)
        create_user(db, FIRST_ADMIN_EMAIL, "admin", password=password, name="First administrator")
        note = Path(db_path).parent / FIRST_ADMIN_FILE
        note.write_text(
            f"First administrator of this instance\nemail: {FIRST_ADMIN_EMAIL}\npassword: {password}\n"
            "Log in, create your own admin account under Users, then delete this file.\n",
            encoding="utf-8",
        )
        os.chmod(note, 0o600)
        message = (
            f"Created the first administrator: {FIRST_ADMIN_EMAIL} / {password}\n"
            f"(also written to {note}; change it after logging in)"
        )
    return db, message
