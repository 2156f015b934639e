"""Applying a verified WeChat Pay notification exactly once, dispatched on its event_type."""
import logging
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from core.vocabulary import EventKind, Outcome
from extensions import db
from models import Order, PaymentAttempt
from payments import Notification, NotificationRejected
from services.payment import PaymentMismatch, apply_transaction, record_event, set_event_outcome, transaction_detail
from services.use_case import use_case

log = logging.getLogger("shop.payments")
ATTEMPT_AND_AMOUNT = (
    select(PaymentAttempt.id, PaymentAttempt.order_id, PaymentAttempt.out_trade_no, Order.total_fen)
    .join(Order, Order.id == PaymentAttempt.order_id).where(PaymentAttempt.out_trade_no == bindparam("out_trade_no"))
)


@use_case
def handle_notification(notification: Notification, now: datetime) -> Outcome:
    """Apply one verified notification; return the outcome. Raises NotificationRejected on a mismatch."""
    if notification.event_type.startswith("TRANSACTION."):
        return handle_transaction(notification, now)
    if notification.event_type.startswith("REFUND."):
        from services.refunds import handle_refund_notification

        return handle_refund_notification(notification, now)
    log.info("notification %s of type %s ignored", notification.id, notification.event_type)
    return Outcome.IGNORED


def handle_transaction(notification: Notification, now: datetime) -> Outcome:
    txn = notification.resource
    # Read before the event's INSERT takes SQLite's write lock: the attempt and the order's amount, one row.
    attempt = db.session.execute(ATTEMPT_AND_AMOUNT, {"out_trade_no": txn.out_trade_no}).first()
    if attempt is None:
        raise NotificationRejected("unknown out_trade_no")
    order_id = attempt.order_id
    try:
        # The unique notification id is written first: of ten copies racing, one inserts, nine fail.
        event_id = record_event(
            order_id, EventKind.NOTIFICATION, now, attempt_id=attempt.id, notification_id=notification.id,
            event_type=notification.event_type, state=txn.trade_state, detail=transaction_detail(txn),
            out_trade_no=attempt.out_trade_no,
        )
    except IntegrityError:
        db.session.rollback()
        return Outcome.DUPLICATE
    try:
        outcome = apply_transaction(attempt, txn, now, total_fen=attempt.total_fen)
    except PaymentMismatch as mismatch:
        log.error("notification %s for order %s rejected: %s", notification.id, order_id, mismatch)
        raise NotificationRejected(str(mismatch)) from None
    set_event_outcome(event_id, outcome)
    db.session.commit()
    return outcome
