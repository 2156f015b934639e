"""Services own their transactions: a use case commits what it finishes and rolls back what it leaves."""
from functools import wraps

from extensions import db


def use_case(function):
    """Roll the session back if ``function`` raises, so no caller (view, job) inherits half its work.

    The use case commits its own results (and records of failures it wants kept) before returning or
    raising; the rollback only discards what was still pending.
    """
    @wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except BaseException:
            db.session.rollback()
            raise

    return run
