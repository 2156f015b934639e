"""Expire: close pending orders past their deadline on WeChat Pay and locally, giving their stock back."""
from datetime import datetime

from sqlalchemy import or_, update

from core.vocabulary import EventKind, OrderStatus, Outcome
from extensions import db
from jobs.claims import release
from jobs.common import JobSummary, log, retry_delay, run_claimed
from models import Order
from payments import PaymentError
from services.payment import close_order, record_failure


def retry_later(order_id: int, until: datetime, now: datetime) -> None:
    """Release the claim and look at the order again after JOBS_RETRY_SECONDS. No commit."""
    release(Order, order_id, until)
    db.session.execute(
        update(Order).where(Order.id == order_id, Order.status == OrderStatus.PENDING)
        .values(next_query_at=now + retry_delay()).execution_options(synchronize_session=False)
    )


def expire_orders(now: datetime) -> JobSummary:
    """Close the pending orders past their deadline; a payment that beat the close wins. Needs an app context.

    ``close_order`` queries, closes, queries again and applies the last answer, so an order paid
    just before (or during) the close ends paid, never closed; a closed one releases its stock once.
    """
    summary = JobSummary("expire")
    criteria = [Order.status == OrderStatus.PENDING, Order.expires_at <= now,
                or_(Order.next_query_at.is_(None), Order.next_query_at <= now)]
    order_by = [Order.expires_at, Order.id]

    def handle(order_id: int, until: datetime) -> None:
        order = db.session.get(Order, order_id, populate_existing=True)
        outcome = close_order(order, now, source=EventKind.EXPIRE)
        if outcome == Outcome.PAID:
            summary.add("paid")
        elif outcome == Outcome.CLOSED:
            summary.add("closed")
        if outcome == Outcome.UNCHANGED:
            # WeChat Pay still says NOTPAY after a refused close: try again later.
            log.warning("job=expire order %s still NOTPAY after close; will retry", order_id)
            retry_later(order_id, until, now)
        else:
            release(Order, order_id, until)
        db.session.commit()

    def on_error(order_id: int, until: datetime, error: Exception) -> None:
        if isinstance(error, PaymentError):
            record_failure(order_id, EventKind.EXPIRE, now, error)
        retry_later(order_id, until, now)

    run_claimed(summary, Order, criteria, order_by, now, handle, on_error)
    return summary.log()
