"""Ship: move paid orders on to shipped once SHIP_DELAY_MINUTES have passed since payment."""
from datetime import datetime

from sqlalchemy import select

from extensions import db
from jobs.common import JobSummary, batch_size, log, ship_delay
from models import Order, OrderStatus
from services.payment import record_event, transition


def ship_orders(now: datetime) -> JobSummary:
    """Mark a batch of paid orders shipped, each once; one transaction. Needs an app context.

    Orders waiting for the owner (``attention`` set, e.g. paid after close without stock) and fully
    refunded ones are left alone. The move is the state machine's conditional UPDATE paid -> shipped,
    so two runs at once ship an order once; on PostgreSQL they also skip each other's locked rows.
    """
    summary = JobSummary("ship")
    candidates = (
        select(Order.id)
        .where(Order.status == OrderStatus.PAID, Order.paid_at <= now - ship_delay(),
               Order.attention.is_(None), Order.refunded_fen < Order.total_fen)
        .order_by(Order.paid_at, Order.id)
        .limit(batch_size())
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    try:
        order_ids = list(db.session.scalars(candidates))
        summary.checked = len(order_ids)
        shipped = []
        for order_id in order_ids:
            if transition(order_id, OrderStatus.SHIPPED, shipped_at=now):
                record_event(order_id, "ship", now, outcome="shipped")
                shipped.append(order_id)
        db.session.commit()
        summary.shipped = len(shipped)
    except Exception:
        db.session.rollback()
        summary.errors += 1
        log.exception("job=ship batch failed; will retry")
    return summary.log()
