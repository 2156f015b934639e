"""Payment attempts: placing an order on WeChat Pay by a channel, and switching to another.

Each way of paying an order is its own attempt with its own out_trade_no (WeChat Pay refuses an
out_trade_no again with other parameters or another trade type). An order keeps at most one attempt
open: opening one by another channel (or, for JSAPI, for another payer) first closes the others
(query, close, query; paid wins). A prompt that ran out is renewed by placing the same attempt again
with the same parameters, which WeChat Pay answers with a fresh prompt.
"""
import logging
import secrets
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from core.vocabulary import AttemptStatus, EventKind, OrderStatus, Outcome, PaymentChannel, PaymentErrorCode
from extensions import db
from models import Order, PaymentAttempt
from payments import PaymentError, PaymentRequest, get_gateway
from services.payment import (
    close_open_attempts,
    finish_reads,
    order_attach,
    record_closes,
    record_event,
    record_failure,
)
from services.use_case import use_case

log = logging.getLogger("shop.payments")
# How long WeChat Pay honours each channel's prompt (its documentation): a fresh one is asked for after.
PROMPT_LIFETIME = {
    PaymentChannel.NATIVE: timedelta(hours=2),  # code_url
    PaymentChannel.JSAPI: timedelta(hours=2),  # prepay_id
    PaymentChannel.H5: timedelta(minutes=5),  # h5_url
}
# Renew a prompt this long before it runs out, so the customer never opens a dead one.
PROMPT_MARGIN = timedelta(seconds=30)
PROMPT_OUTCOME = {PaymentChannel.NATIVE: Outcome.CODE_URL, PaymentChannel.JSAPI: Outcome.PREPAY_ID,
                  PaymentChannel.H5: Outcome.H5_URL}
# WeChat Pay's answers meaning "this out_trade_no cannot be placed again as asked": use a new attempt.
SPENT_NUMBER = {PaymentErrorCode.OUT_TRADE_NO_USED, PaymentErrorCode.ORDER_CLOSED}


def attempt_number(order: Order, n: int) -> str:
    """The out_trade_no of the order's n-th attempt: the order number itself first, then '-2', '-3'..."""
    return order.out_trade_no if n == 1 else f"{order.out_trade_no}-{n}"


def matches(attempt: PaymentAttempt, channel: PaymentChannel, openid: str | None) -> bool:
    return attempt.channel == channel and (channel != PaymentChannel.JSAPI or attempt.payer_openid == openid)


def prompt_is_live(attempt: PaymentAttempt, now: datetime) -> bool:
    return bool(attempt.prompt and attempt.prompt_expires_at and attempt.prompt_expires_at > now + PROMPT_MARGIN)


@use_case
def open_attempt(order: Order, channel: PaymentChannel, now: datetime, *, openid: str | None = None,
                 client_ip: str | None = None, source: EventKind = EventKind.SWITCH) -> PaymentAttempt | None:
    """The order's open attempt by ``channel`` with a live prompt, placed (or renewed) on WeChat Pay.

    Other open attempts are closed first; if one of them turns out paid, or the order is no longer
    pending, nothing is placed and None is returned (the caller shows the order as it now is). Raises
    PaymentError when WeChat Pay cannot place it (the order keeps its stock; the page offers a retry).
    """
    if order.status != OrderStatus.PENDING or order.expires_at <= now:
        return None
    order_id = order.id
    current = next((a for a in order.attempts if a.status == AttemptStatus.OPEN and matches(a, channel, openid)),
                   None)
    if any(a.status == AttemptStatus.OPEN and a is not current for a in order.attempts):
        closed = close_open_attempts(order, now, keep=current.id if current else None)
        record_closes(order_id, source, now, closed)
        db.session.commit()
        order = db.session.get(Order, order_id)
        if order.status != OrderStatus.PENDING:
            return None  # paid meanwhile (by the way being closed)
        if any(a.status == AttemptStatus.OPEN and a is not current for a in order.attempts):
            raise PaymentError(PaymentErrorCode.SYSTEM_ERROR, "微信支付暂时无法关闭原支付方式，请稍后再试")
    if current is not None and prompt_is_live(current, now):
        return current
    attempt = current or new_attempt(order, channel, now, openid=openid, client_ip=client_ip)
    try:
        return place(attempt, now)
    except PaymentError as error:
        if error.code not in SPENT_NUMBER:
            raise
        # The number was placed before with other parameters (or closed): give it up, use a new one.
        log.info("attempt %s answered %s: placing the order under a new number", attempt.out_trade_no, error.code)
        closed = close_open_attempts(db.session.get(Order, order_id), now)
        record_closes(order_id, source, now, closed)
        db.session.commit()
        order = db.session.get(Order, order_id)
        if order.status != OrderStatus.PENDING:
            return None
        return place(new_attempt(order, channel, now, openid=openid, client_ip=client_ip), now)


def new_attempt(order: Order, channel: PaymentChannel, now: datetime, *, openid=None,
                client_ip=None) -> PaymentAttempt:
    """Record a new attempt (committed) before WeChat Pay hears of it: nothing is lost if we crash."""
    count = db.session.scalar(select(func.count(PaymentAttempt.id)).where(PaymentAttempt.order_id == order.id))
    attempt = PaymentAttempt(
        order_id=order.id, out_trade_no=attempt_number(order, count + 1), channel=channel, created_at=now,
        payer_openid=openid if channel == PaymentChannel.JSAPI else None,
        client_ip=(client_ip or order.client_ip) if channel == PaymentChannel.H5 else None,
    )
    db.session.add(attempt)
    db.session.commit()
    return attempt


def place(attempt: PaymentAttempt, now: datetime) -> PaymentAttempt:
    """Place the attempt on WeChat Pay (again: same out_trade_no, same parameters) and keep its prompt."""
    order = attempt.order
    attempt_id, order_id, channel = attempt.id, order.id, PaymentChannel(attempt.channel)
    request = PaymentRequest(
        channel=channel, out_trade_no=attempt.out_trade_no, description=order.description,
        total_fen=order.total_fen, time_expire=order.expires_at,
        attach=order_attach(order.token, current_app.config["SECRET_KEY"]),
        notify_url=current_app.config["WECHATPAY_NOTIFY_URL"], openid=attempt.payer_openid,
        client_ip=attempt.client_ip,
    )
    finish_reads()
    try:
        prompt = get_gateway().create_payment(request)
    except PaymentError as error:
        record_failure(order_id, EventKind.CREATE, now, error, attempt_id=attempt_id)
        db.session.commit()
        raise
    db.session.execute(
        update(PaymentAttempt).where(PaymentAttempt.id == attempt_id)
        .values(prompt=prompt.value, prompt_expires_at=now + PROMPT_LIFETIME[channel])
    )
    record_event(order_id, EventKind.CREATE, now, attempt_id=attempt_id, outcome=PROMPT_OUTCOME[channel])
    db.session.commit()
    return db.session.get(PaymentAttempt, attempt_id)


def jsapi_parameters(attempt: PaymentAttempt) -> dict:
    """The signed parameters a JSAPI page hands WeixinJSBridge (no network: signed with the merchant key)."""
    return get_gateway().jsapi_parameters(attempt.prompt, int(time.time()), secrets.token_hex(16))
