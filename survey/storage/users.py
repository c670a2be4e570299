"""User accounts, roles, one-time invitations and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

from werkzeug.security import check_password_hash, generate_password_hash

from ..i18n import _
from .db import transaction
from .migrations import now
from .sessions import end_user_sessions

ROLES = ("respondent", "analyst", "admin")
MIN_PASSWORD = 10
INVITATION_HOURS = 72
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Checked when the email is unknown, so both failures cost one hash (no user enumeration by timing).
_DUMMY_HASH = generate_password_hash("not a real password")


class UserError(ValueError):
    pass


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(_("The password must have at least %(n)s characters.", n=MIN_PASSWORD))
    if password.strip() != password or not password.strip():
        raise UserError(_("The password must not start or end with spaces."))


def get_user(db, user_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
    return rows[0] if rows else None


def get_user_by_email(db, email: str) -> dict | None:
    rows = list(db.query("SELECT * FROM users WHERE email = ?", [email.strip()]))
    return rows[0] if rows else None


def list_users(db) -> list[dict]:
    return list(db.query("SELECT * FROM users ORDER BY role, state_iso3, email"))


def create_user(
    db,
    email: str,
    role: str,
    *,
    state_iso3: str | None = None,
    password: str | None = None,
    name: str | None = None,
    language: str | None = None,
) -> dict:
    email = (email or "").strip()
    if not EMAIL.match(email):
        raise UserError(_("'%(email)s' is not an email address", email=email))
    if role not in ROLES:
        raise UserError(
            _("role '%(role)s' is not one of %(valid)s", role=role, valid=", ".join(ROLES))
        )
    if role == "respondent":
        if not state_iso3:
            raise UserError(
                _(
                    "a respondent must be bound to a State: choose one (--state ISO3 on the command line)"
                )
            )
        state_iso3 = state_iso3.upper()
        if not db.execute("SELECT 1 FROM states WHERE iso3 = ?", [state_iso3]).fetchone():
            raise UserError(
                _("'%(iso3)s' is not the ISO3 code of a UN Member State", iso3=state_iso3)
            )
    elif state_iso3:
        raise UserError(
            _("only respondents are bound to a State; an analyst or admin sees all States")
        )
    if get_user_by_email(db, email):
        raise UserError(_("a user with email '%(email)s' already exists", email=email))
    password_hash = None
    if password is not None:
        check_password_strength(password)
        password_hash = generate_password_hash(password)
    with transaction(db):
        cursor = db.execute(
            "INSERT INTO users (email, name, password_hash, role, state_iso3, language, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                email,
                name,
                password_hash,
                role,
                state_iso3 if role == "respondent" else None,
                language,
                now(),
            ],
        )
    return get_user(db, cursor.lastrowid)


def set_password(db, user_id: int, password: str) -> None:
    """Set a new password and end every session of the user: whoever knew the old one is out."""
    check_password_strength(password)
    with transaction(db):
        db.execute(
            "UPDATE users SET password_hash = ?, session_version = session_version + 1 WHERE id = ?",
            [generate_password_hash(password), user_id],
        )
        end_user_sessions(db, user_id)


def set_language(db, user_id: int, language: str) -> None:
    with transaction(db):
        db.execute("UPDATE users SET language = ? WHERE id = ?", [language, user_id])


def set_active(db, user_id: int, active: bool) -> None:
    """Enable or disable an account; disabling ends its sessions, so enabling does not revive them."""
    with transaction(db):
        db.execute(
            "UPDATE users SET active = ?, session_version = session_version + 1 WHERE id = ?",
            [int(active), user_id],
        )
        if not active:
            end_user_sessions(db, user_id)


def authenticate(db, email: str, password: str) -> dict | None:
    """The active user with this email and password, else None (same cost either way)."""
    user = get_user_by_email(db, email or "")
    if user is None or not user["password_hash"] or not user["active"]:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user["password_hash"], password or ""):
        return None
    with transaction(db):
        db.execute("UPDATE users SET last_login_at = ? WHERE id = ?", [now(), user["id"]])
    return user


def create_invitation(db, user_id: int, hours: int = INVITATION_HOURS) -> str:
    """A one-time token that lets the user set a password; only its hash is stored.

    Older links of the user stop working: only the newest link sent is valid.
    """
    token = secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with transaction(db):
        stamp = now()
        # Expiring them now (rather than deleting) keeps when each link was issued and revoked.
        db.execute(
            "UPDATE invitations SET expires_at = ? WHERE user_id = ? AND used_at IS NULL AND expires_at > ?",
            [stamp, user_id, stamp],
        )
        db.execute(
            "INSERT INTO invitations (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            [_hash_token(token), user_id, stamp, expires],
        )
    return token


def invitation_user(db, token: str) -> dict | None:
    """The user a valid (unused, unexpired) invitation belongs to, else None."""
    rows = list(
        db.query(
            "SELECT users.* FROM invitations JOIN users ON users.id = invitations.user_id"
            " WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? AND users.active = 1",
            [_hash_token(token or ""), now()],
        )
    )
    return rows[0] if rows else None


def redeem_invitation(db, token: str, password: str) -> dict:
    check_password_strength(password)
    with transaction(db):
        user = invitation_user(db, token)
        if user is None:
            raise UserError(
                _(
                    "This invitation link is invalid, has expired or was already used; ask for a new one."
                )
            )
        db.execute(
            "UPDATE invitations SET used_at = ? WHERE token_hash = ?", [now(), _hash_token(token)]
        )
        db.execute(
            "UPDATE users SET password_hash = ?, session_version = session_version + 1 WHERE id = ?",
            [generate_password_hash(password), user["id"]],
        )
        # The browser that redeems the link logs in afresh; any older session of the user ends.
        end_user_sessions(db, user["id"])
    return get_user(db, user["id"])


def create_api_token(db, user_id: int, name: str) -> str:
    user = get_user(db, user_id)
    if user is None or user["role"] not in ("analyst", "admin"):
        raise UserError(_("API tokens are for analysts and admins"))
    token = "svy_" + secrets.token_urlsafe(32)
    with transaction(db):
        db.execute(
            "INSERT INTO api_tokens (token_hash, user_id, name, created_at) VALUES (?, ?, ?, ?)",
            [_hash_token(token), user_id, name, now()],
        )
    return token


def user_for_api_token(db, token: str) -> dict | None:
    rows = list(
        db.query(
            "SELECT users.* FROM api_tokens JOIN users ON users.id = api_tokens.user_id"
            " WHERE token_hash = ? AND revoked_at IS NULL AND users.active = 1",
            [_hash_token(token or "")],
        )
    )
    return rows[0] if rows else None


def revoke_api_token(db, token_id: int) -> None:
    with transaction(db):
        db.execute("UPDATE api_tokens SET revoked_at = ? WHERE id = ?", [now(), token_id])
