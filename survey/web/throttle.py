"""Login throttling that one client cannot turn against another (design in SECURITY.md).

Two counters, kept in the storage that `RATELIMIT_STORAGE_URI` names (by default the app's own
database, so every worker and every restart sees the same counts):

- per client address, every login or invitation post (`RATELIMIT_LOGIN`): an address over the
  limit waits; no other address is affected;
- per account, failed logins only (`RATELIMIT_LOGIN_ACCOUNT`), and alongside it, per account
  and address, whether that address has failed on the account. Once the account's failures
  reach the limit, an address that has failed on it waits; an address with no failure on it is
  still let through to try its password, so an attacker hammering an account cannot lock its
  owner out.

The client address is the connection's, or, with `TRUSTED_PROXIES` > 0, the one the trusted
proxies put in X-Forwarded-For (werkzeug's ProxyFix, installed by the app factory).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from flask import current_app, flash, render_template, request
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_wtf.csrf import validate_csrf
from limits import RateLimitItem, parse_many
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from wtforms import ValidationError

from ..i18n import N_
from ..settings import SettingError, setting
from ..storage.ratelimit import storage_uri

ADDRESS_REFUSED = N_("Too many attempts from your network address. Try again in %(wait)s.")
ACCOUNT_REFUSED = N_(
    "Too many failed logins to this account from your network address. Try again in %(wait)s. If these attempts were not yours, tell the secretariat."
)
EXTENSION = "survey_login_throttle"


class LoginThrottle:
    """The two counters over one `limits` storage; plain data in and out, no request needed.

    `storage`: a `limits` storage URI; `per_address`, `per_account`: limit strings such as
    "10 per minute;50 per hour". Raises ConfigurationError or ValueError for an unknown storage
    or an unreadable limit. Every method returns None when the attempt may go ahead, else the
    whole seconds to wait (at least 1).
    """

    def __init__(self, storage: str, per_address: str, per_account: str):
        self.storage = storage_from_string(storage)
        self.windows = FixedWindowRateLimiter(self.storage)
        self.per_address: list[RateLimitItem] = parse_many(per_address)
        self.per_account: list[RateLimitItem] = parse_many(per_account)

    def attempt(self, action: str, address: str) -> int | None:
        """Count one post of `action` ('login', 'invite') from `address`."""
        waits = [
            self._wait(item, "address", action, address)
            for item in self.per_address
            if not self.windows.hit(item, "address", action, address)
        ]
        return max(waits) if waits else None

    def account_wait(self, email: str, address: str) -> int | None:
        """Whether `address` must wait before trying a password for `email` (unknown or not)."""
        account = _account(email)
        waits = []
        for item in self.per_account:
            if self.windows.test(item, "account", account):
                continue  # the account's failures are under the limit
            if self.storage.get(item.key_for("account-address", account, address)) == 0:
                continue  # this address has not failed on the account: its owner may be here
            # Either window ending lets the address try again.
            waits.append(
                min(
                    self._wait(item, "account", account),
                    self._wait(item, "account-address", account, address),
                )
            )
        return max(waits) if waits else None

    def failed(self, email: str, address: str) -> None:
        """Record a failed login for `email` from `address`."""
        account = _account(email)
        for item in self.per_account:
            self.windows.hit(item, "account", account)
            self.windows.hit(item, "account-address", account, address)

    def _wait(self, item: RateLimitItem, *identifiers: str) -> int:
        ends = self.storage.get_expiry(item.key_for(*identifiers))
        return max(1, math.ceil(ends - time.time()))


def _account(email: str) -> str:
    # Accounts are matched case-insensitively; the counter key need not hold the address itself.
    return hashlib.sha256((email or "").strip().lower().encode()).hexdigest()[:32]


def init_app(app) -> None:
    """Read the throttling settings into app.config (explicit config wins) and open the storage.

    Raises SettingError naming the setting when the storage URI or a limit cannot be used.
    """
    for name in (
        "RATELIMIT_ENABLED",
        "RATELIMIT_LOGIN",
        "RATELIMIT_LOGIN_ACCOUNT",
        "RATELIMIT_STORAGE_URI",
    ):
        if name not in app.config:  # an explicit value wins, even over an unreadable variable
            app.config[name] = setting(name)
    if not app.config["RATELIMIT_ENABLED"]:
        app.extensions[EXTENSION] = None
        return
    uri = app.config["RATELIMIT_STORAGE_URI"] or storage_uri(app.config["DATABASE"])
    try:
        app.extensions[EXTENSION] = LoginThrottle(
            uri, app.config["RATELIMIT_LOGIN"], app.config["RATELIMIT_LOGIN_ACCOUNT"]
        )
    except (ConfigurationError, ValueError) as exc:
        raise SettingError(
            f"login throttling cannot start with storage {uri!r}, limits "
            f"{app.config['RATELIMIT_LOGIN']!r} and {app.config['RATELIMIT_LOGIN_ACCOUNT']!r}: "
            f"{exc} (see SURVEY_LOGIN_THROTTLE_STORAGE, SURVEY_LOGIN_LIMIT, "
            "SURVEY_LOGIN_ACCOUNT_LIMIT)"
        ) from None


@dataclass(frozen=True)
class Refusal:
    """A throttled post: the translated message to show and the seconds to wait."""

    message: str
    retry_after: int

    def render(self, template: str, **context):
        """The page again with the message, as 429 with Retry-After (whole seconds)."""
        flash(self.message, "error")
        return (
            render_template(template, **context),
            429,
            {"Retry-After": str(self.retry_after)},
        )


def _throttle() -> LoginThrottle | None:
    return current_app.extensions.get(EXTENSION)


def _address() -> str:
    return request.remote_addr or "unknown"


def _refusal(message: str, seconds: int) -> Refusal:
    wait = format_timedelta(seconds, threshold=1, add_direction=False)
    return Refusal(_(message, wait=wait), seconds)


def _from_our_form() -> bool:
    """Whether the post carries this session's CSRF token, i.e. was made from our own page."""
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return True
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        return False
    return True


def refuse_post(action: str) -> Refusal | None:
    """Count this post of `action` ('login', 'invite') against the client address.

    Only posts made from our form count (they carry the session's CSRF token): another site
    can make its visitors' browsers post here, and must not spend the budget of their address.
    A post without a valid token is refused anyway, without checking any password.
    """
    throttle = _throttle()
    if throttle is None or not _from_our_form():
        return None
    seconds = throttle.attempt(action, _address())
    return _refusal(ADDRESS_REFUSED, seconds) if seconds else None


def refuse_account(email: str) -> Refusal | None:
    """A Refusal when this client must wait before trying a password for `email`."""
    throttle = _throttle()
    seconds = throttle.account_wait(email, _address()) if throttle else None
    return _refusal(ACCOUNT_REFUSED, seconds) if seconds else None


def note_failed_login(email: str) -> None:
    throttle = _throttle()
    if throttle:
        throttle.failed(email, _address())
