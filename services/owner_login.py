"""Owner login: the limits on failed attempts (per user name and address, and per account) and session versions.

Every attempt is written as a login_failure row, and committed, before the password is checked, so attempts
racing each other see one another: of many at once, only those within the limits get to check a password.
A success deletes its own row, and so does an attempt refused while locked, so neither counts as a failure.
Rows are read as plain values and deleted by id with statements: a parallel request may delete its own row
at any moment, and no ORM object here goes stale (ObjectDeletedError) when it does.
"""
import enum
import logging
import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, insert, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db
from models import LoginFailure, Owner
from services.use_case import use_case

log = logging.getLogger("shop.login")
# Failure rows older than this (or than the limits look back, if longer) are deleted when new ones are written.
FAILURE_RETENTION = timedelta(days=1)
# Checked when the user name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-the-password")


class LoginOutcome(enum.Enum):
    LOGGED_IN = "logged_in"
    WRONG_CREDENTIALS = "wrong_credentials"
    LOCKED_HERE = "locked_here"  # too many failures of this user name from this address
    ACCOUNT_LOCKED = "account_locked"  # too many failures of this user name from all addresses together


@dataclass(frozen=True)
class LoginLimits:
    max_failures: int  # from one address, within `window`: locked there until they age out
    window: timedelta
    account_max_failures: int  # from all addresses, within `account_window`: locked for everyone
    account_window: timedelta
    account_lock: timedelta  # how long, from the failure that started it

    @classmethod
    def from_config(cls, config) -> "LoginLimits":
        return cls(
            max_failures=config["LOGIN_MAX_FAILURES"],
            window=timedelta(minutes=config["LOGIN_FAILURE_WINDOW_MINUTES"]),
            account_max_failures=config["LOGIN_ACCOUNT_MAX_FAILURES"],
            account_window=timedelta(minutes=config["LOGIN_ACCOUNT_WINDOW_MINUTES"]),
            account_lock=timedelta(minutes=config["LOGIN_ACCOUNT_LOCK_MINUTES"]),
        )

    @property
    def lookback(self) -> timedelta:
        """How old a failure can be and still matter: a lock started near its end counted a window before it."""
        return max(self.window, self.account_window + self.account_lock)


@dataclass(frozen=True)
class Failure:
    id: int
    ip: str
    at: datetime


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    owner: Owner | None = None  # when logged in
    retry_after: int = 0  # seconds until the lock ends, when locked
    failures_left: int = 0  # failures from this address before it is locked, when the credentials were wrong


def address_unlock_at(failures: list[Failure], ip: str, now: datetime, limits: LoginLimits) -> datetime | None:
    """When ``ip`` may try this user name again: locked while `max_failures` of its failures are in the window."""
    times = sorted(failure.at for failure in failures if failure.ip == ip and failure.at > now - limits.window)
    if len(times) < limits.max_failures:
        return None
    return times[len(times) - limits.max_failures] + limits.window


def account_unlock_at(failures: list[Failure], limits: LoginLimits) -> datetime | None:
    """When the latest account-wide lock these failures started ends; None if they started none.

    A lock starts at the failure that makes `account_max_failures` within the account window, from any
    addresses, and lasts `account_lock` from then however the failures before it age.
    """
    times = sorted(failure.at for failure in failures)
    unlock_at = None
    for index, at in enumerate(times):
        in_window = index + 1 - bisect_right(times, at - limits.account_window)
        if in_window >= limits.account_max_failures:
            unlock_at = at + limits.account_lock  # times ascend, so the last lock found ends last
    return unlock_at


def lock_on(failures: list[Failure], ip: str, now: datetime, limits: LoginLimits) -> LoginResult | None:
    """The lock ``failures`` put on an attempt from ``ip`` at ``now`` (the one that ends later), or None."""
    locks = [(account_unlock_at(failures, limits), LoginOutcome.ACCOUNT_LOCKED),
             (address_unlock_at(failures, ip, now, limits), LoginOutcome.LOCKED_HERE)]
    active = [(unlock_at, outcome) for unlock_at, outcome in locks if unlock_at and unlock_at > now]
    if not active:
        return None
    unlock_at, outcome = max(active, key=lambda lock: lock[0])  # on a tie, the account-wide lock
    return LoginResult(outcome, retry_after=max(1, math.ceil((unlock_at - now).total_seconds())))


def recent_failures(username: str, now: datetime, limits: LoginLimits) -> list[Failure]:
    rows = db.session.execute(
        select(LoginFailure.id, LoginFailure.ip, LoginFailure.created_at)
        .where(LoginFailure.username == username, LoginFailure.created_at > now - limits.lookback)
    )
    return [Failure(*row) for row in rows]


def forget_attempt(attempt_id: int) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.id == attempt_id))
    db.session.commit()


def warn_account_locked(username: str, owner: Owner | None, failures: list[Failure], now: datetime,
                        limits: LoginLimits) -> None:
    """Tell the owner, in the log, that an account-wide lock has just started (never with a password)."""
    counted = [failure for failure in failures if failure.at > now - limits.account_window]
    log.warning(
        "owner login: user name %r locked for everyone for %d minutes after %d failed logins from %d addresses "
        "within %d minutes%s", username, limits.account_lock.total_seconds() // 60, len(counted),
        len({failure.ip for failure in counted}), limits.account_window.total_seconds() // 60,
        "" if owner else " (no owner has this user name)",
    )


@use_case
def attempt_login(username: str, password: str, ip: str, now: datetime) -> LoginResult:
    """Check one login attempt against the limits and the password; commit its bookkeeping.

    During a lock the password is not checked at all, so a right one neither logs in nor shows it was right.
    The failure that reaches a limit is answered as locked already.
    """
    limits = LoginLimits.from_config(current_app.config)
    attempt_id = db.session.execute(
        insert(LoginFailure).values(username=username, ip=ip, created_at=now).returning(LoginFailure.id)
    ).scalar_one()
    db.session.commit()
    others = [failure for failure in recent_failures(username, now, limits) if failure.id != attempt_id]
    refused = lock_on(others, ip, now, limits)
    if refused:
        forget_attempt(attempt_id)  # attempts refused while locked do not extend the lock
        return refused

    owner = db.session.scalar(select(Owner).filter_by(username=username))
    if owner is None:
        check_password_hash(_DUMMY_HASH, password)  # the same time as a real check; never a match
    elif owner.check_password(password):
        forget_attempt(attempt_id)
        return LoginResult(LoginOutcome.LOGGED_IN, owner=owner)

    db.session.execute(
        delete(LoginFailure).where(LoginFailure.created_at < now - max(FAILURE_RETENTION, limits.lookback))
    )
    db.session.commit()
    failures = [*others, Failure(attempt_id, ip, now)]
    unlock_at = account_unlock_at(failures, limits)
    if unlock_at and unlock_at > now:  # there was no lock before this failure, so it started this one
        warn_account_locked(username, owner, failures, now, limits)
    locked = lock_on(failures, ip, now, limits)
    if locked:
        return locked
    from_here = [failure for failure in failures if failure.ip == ip and failure.at > now - limits.window]
    return LoginResult(LoginOutcome.WRONG_CREDENTIALS, failures_left=limits.max_failures - len(from_here))


def owner_for_session(session_key: str) -> Owner | None:
    """The owner a session belongs to, if it holds their current session version; else None (logged out)."""
    parsed = Owner.parse_session_key(session_key)
    if parsed is None:
        return None
    owner_id, version = parsed
    return db.session.scalar(select(Owner).where(Owner.id == owner_id, Owner.session_version == version))


def revoke_sessions(owner_id: int) -> None:
    """Raise the owner's session version, so every session holding an older one is logged out. No commit."""
    db.session.execute(update(Owner).where(Owner.id == owner_id).values(session_version=Owner.session_version + 1))


@use_case
def log_out_everywhere(owner_id: int) -> None:
    """End every session of the owner (this browser's and any copy of its cookie); commit."""
    revoke_sessions(owner_id)
    db.session.commit()
