"""Refund follow-up: query refunds still PROCESSING until WeChat Pay reports a final state."""
from datetime import datetime

from sqlalchemy import and_, func, or_

from core.vocabulary import EventKind, Outcome, RefundStatus
from extensions import db
from jobs.claims import release
from jobs.common import JobSummary, backoff, next_check, retry_delay, run_claimed
from models import Refund
from payments import PaymentError
from services.payment import record_failure
from services.refunds import refresh_refund


def follow_up_refunds(now: datetime) -> JobSummary:
    """Query the PROCESSING refunds whose next check is due and apply the answer. Needs an app context.

    Checks follow RECONCILE_BACKOFF_MINUTES from the refund's creation, with no end: a refund is
    real money and is followed until it is SUCCESS, CLOSED or ABNORMAL. A refund without a next check
    is first due at creation + the first offset; one with a next check (a second payment to send back
    at once, a retry after an error) when it says.
    """
    summary = JobSummary("refunds")
    offsets = backoff()
    due = or_(Refund.next_query_at <= now,
              and_(Refund.next_query_at.is_(None), Refund.created_at <= now - offsets[0]))
    criteria = [Refund.status == RefundStatus.PROCESSING, due]
    order_by = [func.coalesce(Refund.next_query_at, Refund.created_at), Refund.id]

    def handle(refund_id: int, until: datetime) -> None:
        refund = db.session.get(Refund, refund_id, populate_existing=True)
        created_at = refund.created_at
        outcome = refresh_refund(refund, now)
        if outcome in (Outcome.REFUNDED, Outcome.REFUND_FAILED):
            summary.add("settled")
        if outcome == Outcome.PROCESSING:
            release(Refund, refund_id, until, next_query_at=next_check(created_at, now, offsets))
        else:
            release(Refund, refund_id, until)
        db.session.commit()

    def on_error(refund_id: int, until: datetime, error: Exception) -> None:
        if isinstance(error, PaymentError):
            refund = db.session.get(Refund, refund_id, populate_existing=True)
            record_failure(refund.order_id, EventKind.REFUND_QUERY, now, error,
                           detail={"out_refund_no": refund.out_refund_no})
        release(Refund, refund_id, until, next_query_at=now + retry_delay())

    run_claimed(summary, Refund, criteria, order_by, now, handle, on_error)
    return summary.log()
