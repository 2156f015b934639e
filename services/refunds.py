"""Refunds: asking WeChat Pay for one, and applying its result exactly once."""
import logging
import secrets
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.money import fen_to_yuan
from core.vocabulary import (
    FINAL_REFUND_STATUSES,
    PAID_STATUSES,
    AlertKind,
    EventKind,
    Outcome,
    PaymentErrorCode,
    RefundStatus,
)
from extensions import db
from models import Order, PaymentAttempt, Refund
from payments import Notification, NotificationRejected, PaymentError, RefundResult, get_gateway
from services import alerts
from services.payment import finish_reads, record_event, set_event_outcome
from services.use_case import use_case

log = logging.getLogger("shop.payments")


class RefundRefused(Exception):
    """The refund cannot be made (nothing left to refund, order not paid...). The message is for people."""


# Refunds that took or may still take money back: everything not known to have failed.
COMMITTED_REFUND_STATUSES = (RefundStatus.PROCESSING, RefundStatus.SUCCESS)


def committed_refunds_fen():
    """SQL: the sum of the order's refunds done or in flight (correlates to the enclosing Order)."""
    return (
        select(func.coalesce(func.sum(Refund.amount_fen), 0))
        .where(Refund.order_id == Order.id, Refund.status.in_(COMMITTED_REFUND_STATUSES),
               Refund.extra_payment.is_(False))
        .correlate(Order)
        .scalar_subquery()
    )


def refundable_fen(order_id: int) -> int:
    """What is left to refund: the total less every refund not known to have failed."""
    return int(db.session.scalar(select(Order.total_fen - committed_refunds_fen()).where(Order.id == order_id)))


def new_out_refund_no(attempt: PaymentAttempt) -> str:
    return f"R{attempt.out_trade_no}{secrets.token_hex(3).upper()}"[:64]


def kept_attempt(order: Order) -> PaymentAttempt:
    """The attempt whose payment the order keeps (the one its transaction_id names)."""
    return db.session.scalar(select(PaymentAttempt).where(PaymentAttempt.order_id == order.id,
                                                          PaymentAttempt.transaction_id == order.transaction_id))


@use_case
def create_refund(order: Order, amount_fen: int, reason: str, now: datetime) -> Refund:
    """Record a refund, then ask WeChat Pay for it. Raises RefundRefused or PaymentError."""
    # An UPDATE on the order row locks it (row lock on PostgreSQL, write lock on SQLite), so two
    # refunds made at once cannot both see the same refundable amount.
    locked = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status.in_(PAID_STATUSES))
        .values(status=Order.status)
    ).rowcount
    if not locked:
        db.session.rollback()
        raise RefundRefused("只有已支付的订单可以退款")
    left = refundable_fen(order.id)
    if not 0 < amount_fen <= left:
        db.session.rollback()
        raise RefundRefused(f"退款金额须在 0.01 到 {fen_to_yuan(left)} 元之间")
    order_id, total_fen = order.id, order.total_fen
    kept = kept_attempt(order)
    out_trade_no, attempt_id = kept.out_trade_no, kept.id
    refund = Refund(
        order_id=order_id, attempt_id=kept.id, out_refund_no=new_out_refund_no(kept), amount_fen=amount_fen,
        # No next_query_at: the refunds job first asks at creation + RECONCILE_BACKOFF_MINUTES[0], as for orders,
        # so that WeChat Pay's REFUND.SUCCESS notification usually settles it first.
        reason=reason[:80], status=RefundStatus.PROCESSING, created_at=now,
    )
    out_refund_no = refund.out_refund_no
    db.session.add(refund)
    db.session.commit()  # the refund exists before WeChat hears of it: nothing is lost if we crash

    try:
        result = get_gateway().refund(out_trade_no, out_refund_no, amount_fen, total_fen, reason)
    except PaymentError as error:
        if error.retryable:
            # Acceptance unknown: the follow-up job queries by out_refund_no and settles it.
            record_event(order_id, EventKind.REFUND, now, attempt_id=attempt_id, state=error.code,
                         outcome=Outcome.PENDING,
                         detail={"out_refund_no": out_refund_no, "amount_fen": amount_fen})
            db.session.commit()
            raise
        db.session.execute(
            update(Refund).where(Refund.out_refund_no == out_refund_no, Refund.status == RefundStatus.PROCESSING)
            .values(status=RefundStatus.CLOSED, next_query_at=None)
        )
        record_event(order_id, EventKind.REFUND, now, attempt_id=attempt_id, state=error.code,
                     outcome=Outcome.REFUSED,
                     detail={"out_refund_no": out_refund_no, "message": error.message})
        db.session.commit()
        raise
    refund.refund_id = result.refund_id
    outcome = apply_refund_result(refund, result, now)
    record_event(order_id, EventKind.REFUND, now, attempt_id=attempt_id, state=result.status, outcome=outcome,
                 detail=refund_detail(result))
    db.session.commit()
    return refund


def apply_refund_result(refund: Refund, result: RefundResult, now: datetime) -> Outcome:
    """Move a PROCESSING refund to its final state once; count a success into the order. No commit."""
    if result.status not in FINAL_REFUND_STATUSES:
        return Outcome.PROCESSING
    moved = db.session.execute(
        update(Refund).where(Refund.id == refund.id, Refund.status == RefundStatus.PROCESSING)
        .values(status=result.status, refund_id=result.refund_id or refund.refund_id,
                succeeded_at=(result.success_time or now) if result.status == RefundStatus.SUCCESS else None,
                next_query_at=None)
    ).rowcount
    if not moved:
        return Outcome.DUPLICATE
    if result.status == RefundStatus.SUCCESS:
        if not refund.extra_payment:  # a second payment's return is not a refund of the order
            db.session.execute(update(Order).where(Order.id == refund.order_id)
                               .values(refunded_fen=Order.refunded_fen + refund.amount_fen))
        return Outcome.REFUNDED
    what = "重复付款的自动退款" if refund.extra_payment else "退款"
    db.session.execute(
        update(Order).where(Order.id == refund.order_id)
        .values(attention=f"{what} {refund.out_refund_no} 失败（{RefundStatus.label_of(result.status)}），请人工处理")
    )
    alerts.enqueue(AlertKind.REFUND_FAILED, refund.order_id, refund_id=refund.id, now=now)  # the outbox
    return Outcome.REFUND_FAILED


@use_case
def refresh_refund(refund: Refund, now: datetime) -> Outcome:
    """Query a PROCESSING refund and apply the answer; re-send it if WeChat never received it."""
    order = db.session.get(Order, refund.order_id)
    out_trade_no, total_fen, attempt_id = refund.attempt.out_trade_no, order.total_fen, refund.attempt_id
    out_refund_no, amount_fen, reason, order_id = refund.out_refund_no, refund.amount_fen, refund.reason, order.id
    finish_reads()
    gateway = get_gateway()
    try:
        result = gateway.query_refund(out_refund_no)
    except PaymentError as error:
        if error.code != PaymentErrorCode.RESOURCE_NOT_EXISTS:
            raise
        result = gateway.refund(out_trade_no, out_refund_no, amount_fen, total_fen, reason)
    outcome = apply_refund_result(refund, result, now)
    record_event(order_id, EventKind.REFUND_QUERY, now, attempt_id=attempt_id, state=result.status,
                 outcome=outcome,
                 detail=refund_detail(result))
    db.session.commit()
    return outcome


@use_case
def handle_refund_notification(notification: Notification, now: datetime) -> Outcome:
    """Apply a REFUND.* notification once. Unknown refunds (made outside the shop) are recorded only."""
    result: RefundResult = notification.resource
    if result.mchid and result.mchid != get_gateway().mchid:
        raise NotificationRejected("mchid does not match")
    refund = db.session.scalar(select(Refund).filter_by(out_refund_no=result.out_refund_no))
    if refund is not None and result.refund_fen != refund.amount_fen:
        raise NotificationRejected("refund amount does not match")
    attempt = refund.attempt if refund else db.session.scalar(
        select(PaymentAttempt).filter_by(out_trade_no=result.out_trade_no or ""))
    order_id = attempt.order_id if attempt else (refund.order_id if refund else None)
    try:
        event_id = record_event(order_id, EventKind.NOTIFICATION, now, notification_id=notification.id,
                             attempt_id=attempt.id if attempt else None,
                             event_type=notification.event_type, state=result.status, detail=refund_detail(result))
    except IntegrityError:
        db.session.rollback()
        return Outcome.DUPLICATE
    outcome = apply_refund_result(refund, result, now) if refund else Outcome.UNKNOWN_REFUND
    set_event_outcome(event_id, outcome)
    db.session.commit()
    return outcome


def refund_detail(result: RefundResult) -> dict:
    return {"out_refund_no": result.out_refund_no, "refund_id": result.refund_id, "status": result.status,
            "refund_fen": result.refund_fen}
