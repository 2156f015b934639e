"""Paying an order: placing it on WeChat Pay, and the one state machine that applies every result.

Every path that learns what WeChat Pay knows (the notification, the status poll's query, the
scheduler, the owner's buttons) ends in ``apply_transaction``. Its moves are conditional UPDATEs on
the order's status, so duplicates and races make one transition at most.
"""
import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from core.vocabulary import PAID_STATUSES, AlertKind, EventKind, OrderStatus, Outcome, PaymentErrorCode, TradeState
from extensions import db
from models import Order, PaymentEvent
from models.order import transition_sources
from payments import NativeOrderRequest, PaymentError, Transaction, get_gateway
from services import alerts, stock
from services.use_case import use_case

log = logging.getLogger("shop.payments")
CODE_URL_LIFETIME = timedelta(hours=2)
ACTIVE_QUERY_INTERVAL = timedelta(seconds=10)


def order_attach(token: str, secret_key: str) -> str:
    """The ``attach`` sent to WeChat Pay for an order: names it without handing over its bearer token.

    An HMAC keyed with SECRET_KEY: the same on every retry (WeChat Pay wants the same parameters), and
    nobody without the key can tie it to a token.
    """
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]


class PaymentMismatch(Exception):
    """WeChat Pay reported something that does not fit the order (amount, merchant, currency)."""


def record_event(order_id, kind: EventKind, now, *, state=None, outcome: Outcome | None = None,
                 notification_id=None, event_type=None, detail=None) -> PaymentEvent:
    """Add one append-only payment event (flushed, not committed) and log it as one line."""
    kind = EventKind(kind)  # a value outside the vocabulary is a bug: fail here, not on the owner's page
    outcome = Outcome(outcome) if outcome is not None else None
    event = PaymentEvent(
        order_id=order_id, kind=kind, state=state, outcome=outcome, notification_id=notification_id,
        event_type=event_type, detail=json.dumps(detail or {}, ensure_ascii=False, default=str),
        created_at=now,
    )
    db.session.add(event)
    db.session.flush()
    out_trade_no = db.session.scalar(select(Order.out_trade_no).where(Order.id == order_id)) if order_id else None
    log.info("payment_event order=%s out_trade_no=%s kind=%s event_type=%s state=%s outcome=%s",
             order_id, out_trade_no, kind, event_type, state, outcome)
    return event


def finish_reads() -> None:
    """End the read-only transaction before asking WeChat Pay, so no connection or lock waits on it.

    Called with nothing pending; ORM objects are reloaded on their next use, after the call.
    """
    db.session.commit()


def record_failure(order_id, kind: EventKind, now, error: PaymentError, detail=None) -> None:
    """Record that WeChat Pay could not be asked about an order: once per outage, not once per attempt.

    While the order's latest event is the same failure, a repeat is only logged, so a minute without
    WeChat Pay adds one row per order, not one per poll or job run. Flushed, not committed.
    """
    latest = db.session.execute(
        select(PaymentEvent.outcome, PaymentEvent.state).where(PaymentEvent.order_id == order_id)
        .order_by(PaymentEvent.id.desc()).limit(1)
    ).first()
    if latest and latest.outcome == Outcome.ERROR and latest.state == error.code:
        log.info("payment_event order=%s kind=%s state=%s outcome=error (repeat, not recorded)",
                 order_id, kind, error.code)
        return
    record_event(order_id, kind, now, state=error.code, outcome=Outcome.ERROR,
                 detail={"message": error.message, **(detail or {})})


def transition(order_id: int, target: OrderStatus, where=(), **values) -> OrderStatus | None:
    """Move an order to ``target`` from any allowed status (and only if ``where`` holds too).

    Returns the status it left, or None when it did not move. Does not commit.
    """
    for source in transition_sources(target):
        moved = db.session.execute(
            update(Order).where(Order.id == order_id, Order.status == source, *where)
            .values(status=target, **values)
        ).rowcount
        if moved:
            return source
    return None


def current_status(order_id: int) -> OrderStatus:
    return OrderStatus(db.session.scalar(select(Order.status).where(Order.id == order_id)))


def check_transaction(order: Order, txn: Transaction) -> None:
    """Raise (and log) PaymentMismatch unless the result is about this order, merchant and amount."""
    gateway = get_gateway()
    problem = None
    if txn.out_trade_no != order.out_trade_no:
        problem = "out_trade_no does not match"
    elif txn.mchid != gateway.mchid or txn.appid != gateway.appid:
        problem = "mchid or appid does not match"
    elif txn.paid and (txn.total_fen != order.total_fen or txn.currency != gateway.currency):
        problem = f"amount {txn.total_fen} {txn.currency} does not match the order"
    if problem:
        log.error("order %s: WeChat Pay's answer does not fit the order: %s", order.out_trade_no, problem)
        raise PaymentMismatch(problem)


def release_stock(order_id: int) -> None:
    stock.release_order(order_id)  # relative UPDATEs, each logged (services/stock.py)


def rereserve_stock(order_id: int) -> list[str]:
    """Take stock again for an order paid after its close; return the lines that could not be had."""
    return stock.rereserve_order(order_id)


def apply_transaction(order: Order, txn: Transaction, now: datetime) -> Outcome:
    """Apply what WeChat Pay says about an order: the one state-machine function. Returns the outcome.

    Does not commit: the caller records the event in the same transaction and commits both.
    """
    check_transaction(order, txn)
    if txn.paid:
        left = transition(
            order.id, OrderStatus.PAID, paid_at=txn.success_time or now, transaction_id=txn.transaction_id,
            next_query_at=None,
        )
        if left == OrderStatus.CLOSED:
            short = rereserve_stock(order.id)
            if short:
                db.session.execute(
                    update(Order).where(Order.id == order.id)
                    .values(attention="关闭后收到付款，库存不足：" + "、".join(short))
                )
                alerts.enqueue(AlertKind.ATTENTION, order.id, now=now)  # the outbox, same transaction
            log.warning("order %s paid after close; short: %s", order.out_trade_no, short or "none")
        if left:
            alerts.enqueue(AlertKind.ORDER_PAID, order.id, now=now)  # the outbox, same transaction
        return Outcome.PAID if left else Outcome.ALREADY_PAID
    if txn.trade_state == TradeState.CLOSED:
        if transition(order.id, OrderStatus.CLOSED, closed_at=now, next_query_at=None):
            release_stock(order.id)
            return Outcome.CLOSED
        # Not moved: say what the order really is (a payment may have been applied meanwhile).
        return Outcome.ALREADY_PAID if current_status(order.id) in PAID_STATUSES else Outcome.ALREADY_CLOSED
    return Outcome.UNCHANGED


@use_case
def place_native_order(order: Order, now: datetime) -> None:
    """Ask WeChat Pay for the order's code_url (idempotent: same out_trade_no, same parameters)."""
    if order.status != OrderStatus.PENDING:
        return
    if order.code_url and order.code_url_expires_at and order.code_url_expires_at > now:
        return
    order_id = order.id
    request = NativeOrderRequest(
        out_trade_no=order.out_trade_no, description=order.description, total_fen=order.total_fen,
        time_expire=order.expires_at, attach=order_attach(order.token, current_app.config["SECRET_KEY"]),
        notify_url=current_app.config["WECHATPAY_NOTIFY_URL"],
    )
    finish_reads()
    try:
        code_url = get_gateway().create_native_order(request)
    except PaymentError as error:
        record_failure(order_id, EventKind.CREATE, now, error)
        db.session.commit()
        raise
    db.session.execute(
        update(Order).where(Order.id == order_id).values(code_url=code_url, code_url_expires_at=now + CODE_URL_LIFETIME)
    )
    record_event(order_id, EventKind.CREATE, now, outcome=Outcome.CODE_URL)
    db.session.commit()


def query_wechat(out_trade_no: str) -> Transaction | None:
    """The order as WeChat Pay knows it, or None when WeChat never saw it."""
    try:
        return get_gateway().query(out_trade_no)
    except PaymentError as error:
        if error.code == PaymentErrorCode.ORDER_NOT_EXIST:
            return None
        raise


@use_case
def refresh_order(order: Order, now: datetime, source: EventKind = EventKind.QUERY) -> Outcome:
    """Query WeChat Pay and apply the answer; raises PaymentError when WeChat cannot be asked."""
    order_id, out_trade_no = order.id, order.out_trade_no
    finish_reads()
    try:
        txn = query_wechat(out_trade_no)
    except PaymentError as error:
        record_failure(order_id, source, now, error)
        db.session.commit()
        raise
    outcome = apply_transaction(order, txn, now) if txn else Outcome.UNCHANGED
    record_event(order_id, source, now, state=txn.trade_state if txn else PaymentErrorCode.ORDER_NOT_EXIST,
                 outcome=outcome, detail=transaction_detail(txn))
    db.session.execute(update(Order).where(Order.id == order_id).values(last_queried_at=now))
    db.session.commit()
    return outcome


@use_case
def close_order(order: Order, now: datetime, source: EventKind = EventKind.CLOSE) -> Outcome:
    """Close an unpaid order on WeChat Pay and locally, releasing its stock. Paid wins if it was paid.

    Query, close, query again, then apply the last answer: a payment that lands between the first
    query and the close is seen by the second query. Safe to run again after a crash at any step.
    Returns CLOSED, ALREADY_CLOSED, PAID, ALREADY_PAID or UNCHANGED (WeChat Pay still says NOTPAY).
    """
    order_id, out_trade_no = order.id, order.out_trade_no
    finish_reads()
    gateway = get_gateway()
    txn = query_wechat(out_trade_no)
    if not (txn and (txn.paid or txn.trade_state == TradeState.CLOSED)):
        try:
            gateway.close(out_trade_no)
        except PaymentError as error:
            if error.retryable:
                raise
            log.info("close %s answered %s; querying again", out_trade_no, error.code)
        txn = query_wechat(out_trade_no)
    if txn is None:
        # WeChat never knew the order (placing it failed), so closing it locally is the whole job.
        txn = Transaction(out_trade_no=out_trade_no, trade_state=TradeState.CLOSED, mchid=gateway.mchid,
                          appid=gateway.appid)
    outcome = apply_transaction(order, txn, now)
    record_event(order_id, source, now, state=txn.trade_state, outcome=outcome, detail=transaction_detail(txn))
    db.session.commit()
    return outcome


@use_case
def claim_active_query(order: Order, now: datetime) -> bool:
    """Allow one active query per order per ACTIVE_QUERY_INTERVAL, across all processes."""
    if order.code_url is None or (order.last_queried_at and order.last_queried_at > now - ACTIVE_QUERY_INTERVAL):
        return False  # most polls end here, without a write
    claimed = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == OrderStatus.PENDING, Order.code_url.is_not(None))
        .where((Order.last_queried_at.is_(None)) | (Order.last_queried_at <= now - ACTIVE_QUERY_INTERVAL))
        .values(last_queried_at=now)
    ).rowcount
    db.session.commit()
    return bool(claimed)


def transaction_detail(txn: Transaction | None) -> dict:
    """The non-secret fields of a transaction, for the owner's timeline."""
    if txn is None:
        return {}
    return {
        "trade_state": txn.trade_state, "trade_state_desc": txn.trade_state_desc,
        "transaction_id": txn.transaction_id, "total_fen": txn.total_fen,
        "success_time": txn.success_time.isoformat() if txn.success_time else None,
    }
