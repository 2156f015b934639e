"""Rate limits that hold across gunicorn workers and processes.

Flask-Limiter (through the `limits` library) keeps its counters in Redis when RATELIMIT_STORAGE_URI
names one, and otherwise in the shop's own database through DatabaseStorage (scheme ``shopdb://``):
one upsert per hit on its own short transaction, never the request's.
"""
import random
import time

from limits import parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from extensions import db
from models.rate_limit import RateLimitCounter as Counter

INSERTS = {"postgresql": postgresql_insert, "sqlite": sqlite_insert}
# Expired counters are deleted now and then, by about one hit in this many.
SWEEP_ONE_IN = 200


class DatabaseStorage(Storage):
    """A `limits` storage on the shop's database (fixed windows; needs an app context)."""

    STORAGE_SCHEME = ["shopdb"]

    @property
    def base_exceptions(self):
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        expired = Counter.expires_at <= now
        statement = INSERTS[db.engine.dialect.name](Counter).values(key=key, count=amount, expires_at=now + expiry)
        statement = statement.on_conflict_do_update(
            index_elements=[Counter.key],
            set_={"count": case((expired, amount), else_=Counter.count + amount),
                  "expires_at": case((expired, now + expiry), else_=Counter.expires_at)},
        ).returning(Counter.count)
        with db.engine.begin() as connection:
            count = connection.scalar(statement)
            if random.randrange(SWEEP_ONE_IN) == 0:
                connection.execute(delete(Counter).where(Counter.expires_at < now - 3600))
        return count

    def get(self, key: str) -> int:
        with db.engine.connect() as connection:
            row = connection.execute(select(Counter.count, Counter.expires_at).where(Counter.key == key)).first()
        return row.count if row and row.expires_at > time.time() else 0

    def get_expiry(self, key: str) -> float:
        with db.engine.connect() as connection:
            expires_at = connection.scalar(select(Counter.expires_at).where(Counter.key == key))
        return expires_at if expires_at and expires_at > time.time() else time.time()

    def check(self) -> bool:
        try:
            with db.engine.connect() as connection:
                connection.scalar(select(1))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with db.engine.begin() as connection:
            return connection.execute(delete(Counter)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(delete(Counter).where(Counter.key == key))


def within_rate(limiter, key: str, rate: str) -> bool:
    """Count one hit of ``key`` against ``rate`` ("5 per second") in the limiter's shared storage."""
    return FixedWindowRateLimiter(limiter.storage).hit(parse(rate), key)
