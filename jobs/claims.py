"""Row claims: how two scheduler processes running at once still handle each row once.

A claim is a conditional UPDATE of ``claimed_until`` from NULL (or a lease that has run out) to
``at + lease``; only the rows the UPDATE actually changed belong to the caller. On PostgreSQL the
candidates are first selected ``FOR UPDATE SKIP LOCKED``, so a second process passes over rows the
first is claiming instead of waiting for them. The lease value doubles as the claim's token: the
claimant releases (or updates) a row only while it still holds that exact lease.
"""
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from extensions import db


@dataclass(frozen=True)
class Claim:
    ids: list[int]
    until: datetime


def free(model, at: datetime):
    """The rows nobody holds at ``at``: never claimed, released, or their lease ran out."""
    return or_(model.claimed_until.is_(None), model.claimed_until <= at)


def claim(model, criteria, *, at: datetime, lease: timedelta, limit: int, order_by=()) -> Claim:
    """Claim up to ``limit`` rows of ``model`` matching ``criteria``; commit and return the claimed ids.

    ``criteria`` are checked again in the UPDATE, so a row another process changed between the
    SELECT and the UPDATE (claimed it, paid it, closed it) is not claimed.
    """
    until = at + lease
    candidates = select(model.id).where(*criteria, free(model, at)).order_by(*order_by).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(candidates))
    if not ids:
        db.session.rollback()
        return Claim([], until)
    claimed = db.session.scalars(
        update(model)
        .where(model.id.in_(ids), *criteria, free(model, at))
        .values(claimed_until=until)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return Claim(sorted(claimed), until)


def release(model, row_id: int, until: datetime, **values) -> bool:
    """Give a claimed row back, setting ``values`` too; False if the claim was lost (lease ran out).

    Does not commit.
    """
    return bool(db.session.execute(
        update(model)
        .where(model.id == row_id, model.claimed_until == until)
        .values(claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    ).rowcount)


def release_all(model, row_ids: list[int], until: datetime) -> None:
    """Give back claimed rows unhandled (those still held under the lease ``until``). Does not commit."""
    db.session.execute(
        update(model)
        .where(model.id.in_(row_ids), model.claimed_until == until)
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )
