"""Reconcile: ask WeChat Pay about pending orders on a back-off schedule, in case a notification was lost."""
from datetime import datetime

from sqlalchemy import and_, case, func, or_

from core.vocabulary import EventKind, OrderStatus, Outcome
from extensions import db
from jobs.claims import release
from jobs.common import JobSummary, backoff, next_check, retry_delay, run_claimed, setting
from models import Order
from services.payment import refresh_order


def reschedule(order_id: int, until: datetime, next_query_at: datetime) -> None:
    """Count the query, set the next one (while still pending) and release the claim, in one UPDATE. No commit."""
    release(Order, order_id, until, query_count=Order.query_count + 1, next_query_at=case(
        (Order.status == OrderStatus.PENDING, next_query_at), else_=Order.next_query_at))


def reconcile_orders(now: datetime) -> JobSummary:
    """Query the pending orders whose next check is due; apply what WeChat Pay says. Needs an app context.

    An order is first due at creation + RECONCILE_BACKOFF_MINUTES[0], then at each later offset,
    then every last offset, until its deadline (after which the expire job owns it). SUCCESS makes
    it paid and CLOSED closed, through the one state machine; NOTPAY leaves it pending.
    """
    summary = JobSummary("reconcile")
    offsets = backoff()
    due = or_(Order.next_query_at <= now,
              and_(Order.next_query_at.is_(None), Order.created_at <= now - offsets[0]))
    criteria = [Order.status == OrderStatus.PENDING, Order.expires_at > now, due]
    order_by = [func.coalesce(Order.next_query_at, Order.created_at), Order.id]

    def handle(order_id: int, until: datetime) -> None:
        order = db.session.get(Order, order_id, populate_existing=True)
        created_at, deadline = order.created_at, order.expires_at
        outcome = refresh_order(order, now, source=EventKind.RECONCILE)
        if outcome == Outcome.PAID:
            summary.add("paid")
        elif outcome == Outcome.CLOSED:
            summary.add("closed")
        reschedule(order_id, until, min(next_check(created_at, now, offsets), deadline))
        db.session.commit()

    def on_error(order_id: int, until: datetime, error: Exception) -> None:
        deadline = db.session.get(Order, order_id, populate_existing=True).expires_at
        reschedule(order_id, until, min(now + retry_delay(), deadline))

    workers = int(setting("RECONCILE_CONCURRENCY"))
    run_claimed(summary, Order, criteria, order_by, now, handle, on_error, workers=workers)
    return summary.log()
