"""Paying an order: the one state machine that applies every result WeChat Pay reports, per attempt.

An order is paid through payment attempts (models.PaymentAttempt): one per channel or payer, each with
its own out_trade_no. Every path that learns what WeChat Pay knows (the notification, the status poll's
query, the scheduler, the owner's buttons, the customer's cancel) ends in ``apply_transaction``. Its
moves are conditional UPDATEs on the attempt's and the order's status, so duplicates and races make one
transition at most; a second payment of an order already paid is refunded in full, automatically.
"""
import functools
import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update

from core.vocabulary import (
    PAID_STATUSES,
    AlertKind,
    AttemptStatus,
    EventKind,
    OrderStatus,
    Outcome,
    PaymentErrorCode,
    RefundStatus,
    TradeState,
)
from extensions import db
from models import Order, PaymentAttempt, PaymentEvent, Refund
from models.order import transition_sources
from payments import PaymentError, Transaction, get_gateway
from services import alerts, stock
from services.use_case import use_case

log = logging.getLogger("shop.payments")
EVENTS = PaymentEvent.__table__
INSERT_EVENT = insert(EVENTS)
SET_EVENT_OUTCOME = update(EVENTS).where(EVENTS.c.id == bindparam("event_id")).values(outcome=bindparam("outcome"))
ACTIVE_QUERY_INTERVAL = timedelta(seconds=10)
# The moves an attempt can make; CLOSED -> PAID because a payment WeChat Pay confirms is real money.
ATTEMPT_TRANSITIONS = {
    AttemptStatus.OPEN: {AttemptStatus.PAID, AttemptStatus.CLOSED},
    AttemptStatus.CLOSED: {AttemptStatus.PAID},
    AttemptStatus.PAID: set(),
}
# When an order's attempts give different results, the order's outcome is the first of these present.
OUTCOME_PRECEDENCE = (Outcome.PAID, Outcome.EXTRA_PAYMENT, Outcome.ALREADY_PAID, Outcome.CLOSED,
                      Outcome.ALREADY_CLOSED, Outcome.UNCHANGED)


def order_attach(token: str, secret_key: str) -> str:
    """The ``attach`` sent to WeChat Pay for an order: names it without handing over its bearer token.

    An HMAC keyed with SECRET_KEY: the same on every retry (WeChat Pay wants the same parameters), and
    nobody without the key can tie it to a token.
    """
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()[:32]


class PaymentMismatch(Exception):
    """WeChat Pay reported something that does not fit the order (amount, merchant, currency)."""


def record_event(order_id, kind: EventKind, now, *, attempt_id=None, state=None, outcome: Outcome | None = None,
                 notification_id=None, event_type=None, detail=None, out_trade_no=None) -> int:
    """Add one append-only payment event (inserted, not committed), log it as one line (with the attempt's
    out_trade_no: pass it if known, else it is looked up) and return its id.

    The event is a Core INSERT on the session's connection, after a flush of whatever the session holds: one
    is written for every notification, query and close, and the ORM's unit of work for it was a large part of
    a notification's CPU, spent while SQLite's write lock was held.
    """
    kind = EventKind(kind)  # a value outside the vocabulary is a bug: fail here, not on the owner's page
    outcome = Outcome(outcome) if outcome is not None else None
    db.session.flush()
    event_id = db.session.connection().execute(INSERT_EVENT, {
        "order_id": order_id, "attempt_id": attempt_id, "kind": kind, "state": state, "outcome": outcome,
        "notification_id": notification_id, "event_type": event_type,
        "detail": json.dumps(detail or {}, ensure_ascii=False, default=str), "created_at": now,
    }).inserted_primary_key[0]
    if attempt_id and out_trade_no is None:
        out_trade_no = db.session.scalar(select(PaymentAttempt.out_trade_no).where(PaymentAttempt.id == attempt_id))
    log.info("payment_event order=%s out_trade_no=%s kind=%s event_type=%s state=%s outcome=%s",
             order_id, out_trade_no, kind, event_type, state, outcome)
    return event_id


def set_event_outcome(event_id: int, outcome: Outcome) -> None:
    """What the shop did with an event recorded before it knew (a notification's, once applied)."""
    db.session.connection().execute(SET_EVENT_OUTCOME, {"event_id": event_id, "outcome": Outcome(outcome)})


def finish_reads() -> None:
    """End the read-only transaction before asking WeChat Pay, so no connection or lock waits on it.

    Called with nothing pending; ORM objects are reloaded on their next use, after the call.
    """
    db.session.commit()


def record_failure(order_id, kind: EventKind, now, error: PaymentError, detail=None, attempt_id=None) -> None:
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
    record_event(order_id, kind, now, attempt_id=attempt_id, state=error.code, outcome=Outcome.ERROR,
                 detail={"message": error.message, **(detail or {})})


def transition(order_id: int, target: OrderStatus, where=(), **values) -> OrderStatus | None:
    """Move an order to ``target`` from any allowed status (and only if ``where`` holds too).

    Returns the status it left, or None when it did not move. Does not commit. Order objects already in the
    session keep their old values until the commit expires them (synchronizing them cost a tenth of a
    notification's CPU); callers go by the return value or current_status().
    """
    for source in transition_sources(target):
        if conditional_move(Order.__table__, order_id, source, target, values, where):
            return source
    return None


def move_attempt(attempt_id: int, target: AttemptStatus, **values) -> AttemptStatus | None:
    """Move an attempt to ``target`` from any allowed status; return the status it left, or None.

    Like transition(), it leaves attempt objects already in the session as they were until the commit.
    """
    for source, targets in ATTEMPT_TRANSITIONS.items():
        if target in targets and conditional_move(PaymentAttempt.__table__, attempt_id, source, target, values):
            return source
    return None


def conditional_move(table, row_id: int, source: str, target: str, values: dict, where=()) -> bool:
    """UPDATE one row of ``table`` from status ``source`` to ``target`` (setting ``values`` too); True if it
    moved. A Core UPDATE on the session's connection, after a flush of what the session holds (as the ORM's
    autoflush did), built once per kind of move: built and run through the ORM, the two moves of a payment
    took about a third of a notification's CPU."""
    db.session.flush()
    statement = move_statement(table, source, tuple(values))
    if where:
        statement = statement.where(*where)
    parameters = {"row_id": row_id, "target": target, **{f"new_{name}": value for name, value in values.items()}}
    return bool(db.session.connection().execute(statement, parameters).rowcount)


@functools.cache
def move_statement(table, source: str, names: tuple[str, ...]):
    columns = table.c
    return update(table).where(columns.id == bindparam("row_id"), columns.status == source).values(
        status=bindparam("target", type_=columns.status.type),
        **{name: bindparam(f"new_{name}", type_=columns[name].type) for name in names})


def current_status(order_id: int) -> OrderStatus:
    return OrderStatus(db.session.scalar(select(Order.status).where(Order.id == order_id)))


def check_transaction(attempt: PaymentAttempt, total_fen: int, txn: Transaction) -> None:
    """Raise (and log) PaymentMismatch unless the result is about this attempt, merchant and amount."""
    gateway = get_gateway()
    problem = None
    if txn.out_trade_no != attempt.out_trade_no:
        problem = "out_trade_no does not match"
    elif txn.mchid != gateway.mchid or txn.appid != gateway.appid:
        problem = "mchid or appid does not match"
    elif txn.paid and (txn.total_fen != total_fen or txn.currency != gateway.currency):
        problem = f"amount {txn.total_fen} {txn.currency} does not match the order"
    if problem:
        log.error("attempt %s: WeChat Pay's answer does not fit the order: %s", attempt.out_trade_no, problem)
        raise PaymentMismatch(problem)


def release_stock(order_id: int) -> None:
    stock.release_order(order_id)  # relative UPDATEs, each logged (services/stock.py)


def rereserve_stock(order_id: int) -> list[str]:
    """Take stock again for an order paid after its close; return the lines that could not be had."""
    return stock.rereserve_order(order_id)


def refund_extra_payment(attempt: PaymentAttempt, txn: Transaction, now: datetime) -> None:
    """Return a second payment of an order already paid, in full. No commit.

    The refund is recorded now, in the same transaction as the payment; the refunds job sends it to WeChat
    Pay (a refund WeChat never received is sent with its out_refund_no), so no call is made from here.
    """
    refund = Refund(
        order_id=attempt.order_id, attempt_id=attempt.id, extra_payment=True, amount_fen=txn.total_fen,
        out_refund_no=f"R{attempt.out_trade_no}{secrets.token_hex(3).upper()}"[:64],
        reason="重复支付，自动退回", status=RefundStatus.PROCESSING, created_at=now, next_query_at=now,
    )
    db.session.add(refund)
    db.session.flush()
    log.warning("order %s paid twice: attempt %s (%s) is refunded in full as %s", attempt.order_id,
                attempt.out_trade_no, txn.transaction_id, refund.out_refund_no)


def apply_transaction(attempt: PaymentAttempt, txn: Transaction, now: datetime, total_fen: int | None = None
                      ) -> Outcome:
    """Apply what WeChat Pay says about one attempt: the one state-machine function. Returns the outcome.

    Paid: the attempt is paid, and the order with it unless another attempt paid it first, in which
    case this payment is refunded (EXTRA_PAYMENT). Closed: the attempt is closed; the order is not (it
    may be paid another way; closing orders is close_order's). Does not commit: the caller records the
    event in the same transaction and commits both. ``attempt`` needs its id, order_id and out_trade_no;
    ``total_fen``, the order's amount (fixed at checkout), is read here unless the caller has it.
    """
    order_id = attempt.order_id
    if total_fen is None:
        total_fen = db.session.scalar(select(Order.total_fen).where(Order.id == order_id))
    check_transaction(attempt, total_fen, txn)
    if txn.paid:
        attempt_was = move_attempt(attempt.id, AttemptStatus.PAID, transaction_id=txn.transaction_id,
                                   paid_at=txn.success_time or now)
        left = transition(order_id, OrderStatus.PAID, paid_at=txn.success_time or now,
                          transaction_id=txn.transaction_id, next_query_at=None)
        if left == OrderStatus.CLOSED:
            short = rereserve_stock(order_id)
            if short:
                db.session.execute(
                    update(Order).where(Order.id == order_id)
                    .values(attention="关闭后收到付款，库存不足：" + "、".join(short))
                )
                alerts.enqueue(AlertKind.ATTENTION, order_id, now=now)  # the outbox, same transaction
            log.warning("order %s paid after close; short: %s", order_id, short or "none")
        if left:
            alerts.enqueue(AlertKind.ORDER_PAID, order_id, now=now)  # the outbox, same transaction
            return Outcome.PAID
        kept = db.session.scalar(select(Order.transaction_id).where(Order.id == order_id))
        if attempt_was is not None and kept != txn.transaction_id:
            refund_extra_payment(attempt, txn, now)  # only the call that moved the attempt gets here
            return Outcome.EXTRA_PAYMENT
        return Outcome.ALREADY_PAID
    if txn.trade_state == TradeState.CLOSED:
        move_attempt(attempt.id, AttemptStatus.CLOSED, closed_at=now)
    return Outcome.UNCHANGED


def query_wechat(out_trade_no: str) -> Transaction | None:
    """The attempt as WeChat Pay knows it, or None when WeChat never saw it."""
    try:
        return get_gateway().query(out_trade_no)
    except PaymentError as error:
        if error.code == PaymentErrorCode.ORDER_NOT_EXIST:
            return None
        raise


def attempts_to_ask(order: Order) -> list[tuple[int, str]]:
    """(id, out_trade_no) of the attempts worth asking WeChat Pay about: the open ones and the kept one."""
    kept = order.transaction_id
    return [(attempt.id, attempt.out_trade_no) for attempt in order.attempts
            if attempt.status == AttemptStatus.OPEN or (kept and attempt.transaction_id == kept)]


def strongest(outcomes) -> Outcome:
    """The outcome that tells most about the order, of its attempts' outcomes (UNCHANGED for none)."""
    present = set(outcomes)
    return next((outcome for outcome in OUTCOME_PRECEDENCE if outcome in present), Outcome.UNCHANGED)


@use_case
def refresh_order(order: Order, now: datetime, source: EventKind = EventKind.QUERY) -> Outcome:
    """Query WeChat Pay about the order's attempts and apply the answers; PaymentError if it cannot be asked."""
    order_id, asked = order.id, attempts_to_ask(order)
    finish_reads()
    outcomes = []
    for attempt_id, out_trade_no in asked:
        try:
            txn = query_wechat(out_trade_no)
        except PaymentError as error:
            record_failure(order_id, source, now, error, attempt_id=attempt_id)
            db.session.commit()
            raise
        attempt = db.session.get(PaymentAttempt, attempt_id)
        outcome = apply_transaction(attempt, txn, now) if txn else Outcome.UNCHANGED
        record_event(order_id, source, now, attempt_id=attempt_id, out_trade_no=out_trade_no,
                     state=txn.trade_state if txn else PaymentErrorCode.ORDER_NOT_EXIST, outcome=outcome,
                     detail=transaction_detail(txn))
        outcomes.append(outcome)
    db.session.execute(update(Order).where(Order.id == order_id).values(last_queried_at=now))
    db.session.commit()
    return strongest(outcomes)


def close_attempt_on_wechat(out_trade_no: str) -> Transaction | None:
    """Query, close unless paid or closed, query again: the last answer, which a payment landing meanwhile wins."""
    txn = query_wechat(out_trade_no)
    if not (txn and (txn.paid or txn.trade_state == TradeState.CLOSED)):
        try:
            get_gateway().close(out_trade_no)
        except PaymentError as error:
            if error.retryable:
                raise
            log.info("close %s answered %s; querying again", out_trade_no, error.code)
        txn = query_wechat(out_trade_no)
    return txn


def closed_transaction(out_trade_no: str) -> Transaction:
    """What a closed attempt WeChat Pay never knew (placing it failed) amounts to."""
    gateway = get_gateway()
    return Transaction(out_trade_no=out_trade_no, trade_state=TradeState.CLOSED, mchid=gateway.mchid,
                       appid=gateway.appid)


def close_open_attempts(order: Order, now: datetime, keep: int | None = None) -> list[tuple[int, Transaction, Outcome]]:
    """Close the order's open attempts (all but ``keep``) on WeChat Pay and apply the answers. No commit.

    Returns (attempt id, WeChat's last answer, outcome) for each: CLOSED, or PAID / EXTRA_PAYMENT /
    ALREADY_PAID when it turned out paid, or UNCHANGED when WeChat Pay still says unpaid after the close.
    """
    to_close = [(attempt.id, attempt.out_trade_no) for attempt in order.attempts
                if attempt.status == AttemptStatus.OPEN and attempt.id != keep]
    finish_reads()
    closed = []
    for attempt_id, out_trade_no in to_close:
        txn = close_attempt_on_wechat(out_trade_no) or closed_transaction(out_trade_no)
        outcome = apply_transaction(db.session.get(PaymentAttempt, attempt_id), txn, now)
        closed.append((attempt_id, txn, Outcome.CLOSED if txn.trade_state == TradeState.CLOSED else outcome))
    return closed


def record_closes(order_id: int, source: EventKind, now: datetime, closed, final: Outcome | None = None) -> None:
    """One event per attempt closed; the last one carries the order's outcome when there is one."""
    for n, (attempt_id, txn, outcome) in enumerate(closed, start=1):
        record_event(order_id, source, now, attempt_id=attempt_id, out_trade_no=txn.out_trade_no,
                     state=txn.trade_state, outcome=final if final and n == len(closed) else outcome,
                     detail=transaction_detail(txn))
    if final and not closed:
        record_event(order_id, source, now, state=TradeState.CLOSED, outcome=final)


@use_case
def close_order(order: Order, now: datetime, source: EventKind = EventKind.CLOSE) -> Outcome:
    """Close an unpaid order: its attempts on WeChat Pay, then the order, releasing its stock. Paid wins.

    Each attempt is queried, closed and queried again, and the last answer applied: a payment landing
    between the first query and the close is seen by the second query. Safe to run again after a crash
    at any step. Returns CLOSED, ALREADY_CLOSED, PAID, ALREADY_PAID or UNCHANGED (WeChat Pay still says
    NOTPAY). With no attempt at all (never placed) the order is closed locally.
    """
    order_id = order.id
    closed = close_open_attempts(order, now)
    attempts = strongest(outcome for _, _, outcome in closed) if closed else Outcome.CLOSED
    if attempts != Outcome.CLOSED:  # one was paid (or WeChat Pay would not close it): the order stays open
        record_closes(order_id, source, now, closed)
        db.session.commit()
        return Outcome.ALREADY_PAID if attempts == Outcome.EXTRA_PAYMENT else attempts
    if transition(order_id, OrderStatus.CLOSED, closed_at=now, next_query_at=None):
        release_stock(order_id)
        final = Outcome.CLOSED
    else:  # not moved: say what the order really is (a payment may have been applied meanwhile)
        final = Outcome.ALREADY_PAID if current_status(order_id) in PAID_STATUSES else Outcome.ALREADY_CLOSED
    record_closes(order_id, source, now, closed, final)
    db.session.commit()
    return final


def active_query_due(last_queried_at: datetime | None, now: datetime) -> bool:
    """Whether WeChat Pay may be asked about a pending order again (see claim_active_query)."""
    return last_queried_at is None or last_queried_at <= now - ACTIVE_QUERY_INTERVAL


@use_case
def claim_active_query(order_id: int, last_queried_at: datetime | None, now: datetime) -> bool:
    """Allow one active query per order per ACTIVE_QUERY_INTERVAL, across all processes.

    Takes the columns the status poll already read, so that most polls (not due) end without a write.
    """
    if not active_query_due(last_queried_at, now):
        return False
    open_attempt = select(PaymentAttempt.id).where(PaymentAttempt.order_id == Order.id,
                                                   PaymentAttempt.status == AttemptStatus.OPEN).exists()
    claimed = db.session.execute(
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.PENDING, open_attempt)
        .where((Order.last_queried_at.is_(None)) | (Order.last_queried_at <= now - ACTIVE_QUERY_INTERVAL))
        .values(last_queried_at=now)
        .execution_options(synchronize_session=False)
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
