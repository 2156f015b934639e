"""What happens to orders and refunds: create, pay, cancel, close, refund, settle.

Functions take an open write session and the current time; they never commit and never do network
I/O (notifications are queued as rows and sent by the worker after the commit).

As on WeChat Pay, `time_expire` only ends the payer's chance to pay: the order stays NOTPAY (and a
query says so) until the merchant closes it. Closing is the merchant's job.
"""

from __future__ import annotations

import secrets
import string
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import clock, notify, users
from .errors import ApiError, invalid_request, param_error
from .models import CLOSED, JSAPI, MWEB, NATIVE, NOTPAY, PROCESSING, REFUND, SUCCESS, TRADE_STATE_DESC, Order, Refund
from .validation import OrderRequest, RefundRequest

# How long a prompt lets the payer start paying: code_url and prepay_id 2 h, h5_url 5 minutes.
PROMPT_TTL = {NATIVE: timedelta(hours=2), JSAPI: timedelta(hours=2), MWEB: timedelta(minutes=5)}
H5_PATH = "/cgi-bin/mmpayweb-bin/checkmweb"
REFUND_DELAY = 5.0  # real-world seconds from PROCESSING to SUCCESS, divided by the time scale
MAX_REFUNDS_PER_ORDER = 50
USER_RECEIVED_ACCOUNT = "支付用户零钱"

ORDER_PAID = ("ORDERPAID", "订单已支付")


class Conflict(Exception):
    """The customer's action is impossible in the order's current state (control API: 409)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _digits(count: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(count))


def new_code_url() -> str:
    token = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
    return f"weixin://wxpay/bizpayurl?pr={token}"


def new_prepay_id(now: datetime) -> str:
    """Like wx201410272009395522657a690389285100: wx, the Beijing time, 20 hex digits."""
    return "wx" + now.astimezone(clock.CHINA).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10)


def _new_prompt(order: Order, now: datetime) -> None:
    if order.trade_type == NATIVE:
        order.code_url = new_code_url()
    else:
        order.prepay_id = new_prepay_id(now)
        order.h5_package = _digits(10) if order.trade_type == MWEB else None
    order.prompt_expires_at = now + PROMPT_TTL[order.trade_type]


def h5_url(order: Order, public_url: str) -> str:
    return f"{public_url}{H5_PATH}?prepay_id={order.prepay_id}&package={order.h5_package}"


def prompt_json(order: Order, public_url: str) -> dict:
    """What the create call answers: code_url, prepay_id or h5_url."""
    if order.trade_type == NATIVE:
        return {"code_url": order.code_url}
    if order.trade_type == JSAPI:
        return {"prepay_id": order.prepay_id}
    return {"h5_url": h5_url(order, public_url)}


def find_by_prepay_id(session: Session, prepay_id) -> Order | None:
    if not isinstance(prepay_id, str) or not prepay_id:
        return None
    return session.scalar(select(Order).where(Order.prepay_id == prepay_id))


def find_order(session: Session, out_trade_no: str) -> Order | None:
    return session.scalar(select(Order).where(Order.out_trade_no == out_trade_no))


def find_refund(session: Session, out_refund_no: str) -> Refund | None:
    return session.scalar(select(Refund).where(Refund.out_refund_no == out_refund_no))


def merchant_view(order: Order) -> str:
    """The trade_state the merchant's API calls see: a silent payment stays hidden (NOTPAY, or CLOSED once
    the merchant closed it) until revealed; everything else as it is."""
    if order.silent:
        return CLOSED if order.silent_closed_at else NOTPAY
    return order.trade_state


def past_time_expire(order: Order, now: datetime) -> bool:
    """An unpaid order the payer can no longer pay (still NOTPAY until the merchant closes it)."""
    return order.trade_state == NOTPAY and now >= order.time_expire


def settle_due_refunds(session: Session, rt, now: datetime) -> None:
    """Settle the refunds whose delay has passed (the worker's tick; pages call it too)."""
    for refund in session.scalars(select(Refund).where(Refund.status == PROCESSING,
                                                       Refund.settle_at <= now)).all():
        settle_refund(session, rt, refund, now)


def next_settlement(session: Session) -> datetime | None:
    return session.scalar(select(func.min(Refund.settle_at)).where(Refund.status == PROCESSING))


def create_order(session: Session, rt, req: OrderRequest, now: datetime) -> Order:
    """Create an order, or hand back a current prompt for an identical repeat (same trade type too)."""
    if req.appid != rt.keys.appid:
        raise ApiError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
    if req.trade_type == JSAPI and not users.issued(session, req.appid, req.payer_openid):
        raise param_error("/payer/openid", "用户标识", "openid与appid不匹配（不是此appid下的用户）", req.payer_openid)
    order = find_order(session, req.out_trade_no)
    if order is not None:
        state = merchant_view(order)
        if state == CLOSED:
            raise ApiError(400, "ORDER_CLOSED", "订单已关闭")
        if state in (SUCCESS, REFUND):
            raise ApiError(400, *ORDER_PAID)
        if order.fingerprint != req.fingerprint:
            raise ApiError(403, "OUT_TRADE_NO_USED", "商户订单号重复")
        if past_time_expire(order, now):  # the docs are silent; no new prompt for an unpayable order
            raise ApiError(400, "ORDER_CLOSED", "订单已过期，请使用新的商户订单号下单")
        if now >= order.prompt_expires_at:
            _new_prompt(order, now)
        return order
    order = Order(
        out_trade_no=req.out_trade_no, appid=req.appid, mchid=req.mchid, description=req.description,
        notify_url=req.notify_url, attach=req.attach, total_fen=req.total_fen, currency=req.currency,
        fingerprint=req.fingerprint, time_expire=req.time_expire, trade_type=req.trade_type,
        jsapi_openid=req.payer_openid, trade_state=NOTPAY, created_at=now)
    _new_prompt(order, now)
    session.add(order)
    session.flush()
    return order


def pay(session: Session, rt, order: Order, now: datetime, *, user: str = users.DEFAULT_USER,
        started_before_expiry: bool = False, silently: bool = False) -> Order:
    """The customer pays: SUCCESS with transaction id, payer and time; the notification is queued.

    The payer is the user holding the phone, except for JSAPI, where only payer.openid can pay. After
    time_expire only a payment the payer had already started (the pay_on_close fault) completes.
    `silently`: the merchant never hears of it (no notification; see merchant_view) until revealed.
    """
    if order.trade_state in (SUCCESS, REFUND):
        raise Conflict(*ORDER_PAID)
    if order.trade_state == CLOSED:
        raise Conflict("ORDER_CLOSED", "订单已关闭，无法支付")
    if past_time_expire(order, now) and not started_before_expiry:
        raise Conflict("ORDER_EXPIRED", "订单已过期，无法支付")
    order.trade_state = SUCCESS
    order.transaction_id = "4200" + _digits(6) + now.astimezone(clock.CHINA).strftime("%Y%m%d") + _digits(10)
    order.payer_openid = order.jsapi_openid or users.issue(session, order.appid, user, now)
    order.bridge_ticket = None
    order.bank_type = "OTHERS"
    order.success_time = now
    order.silent = silently
    if silently:
        return order
    notify.enqueue(session, rt, event_type="TRANSACTION.SUCCESS", summary="支付成功",
                   original_type="transaction", resource=transaction_json(order),
                   notify_url=order.notify_url, out_trade_no=order.out_trade_no, now=now)
    return order


def cancel(order: Order, now: datetime) -> Order:
    """The customer presses Cancel on the phone: nothing changes for the merchant (still NOTPAY)."""
    if order.trade_state != NOTPAY or past_time_expire(order, now):
        raise Conflict("NOT_PAYABLE", f"订单状态为 {order.trade_state}，不能取消")
    order.cancelled_at = now
    return order


def close(session: Session, rt, out_trade_no: str, now: datetime,
          paid_just_before: bool = False) -> ApiError | None:
    """Close an unpaid order. Unknown and already closed orders also succeed, as on the real service.

    Returns the error to answer instead of raising it, so a payment made by the pay_on_close fault
    is committed together with the refused close.
    """
    order = find_order(session, out_trade_no)
    if order is None:
        return None
    if order.silent:  # the merchant believes it unpaid: its close "succeeds"
        order.silent_closed_at = order.silent_closed_at or now
        return None
    if paid_just_before and order.trade_state == NOTPAY:
        pay(session, rt, order, now, started_before_expiry=True)
    if order.trade_state in (SUCCESS, REFUND):
        return ApiError(400, *ORDER_PAID)
    if order.trade_state == NOTPAY:
        order.trade_state, order.closed_at, order.close_reason = CLOSED, now, "merchant"
    return None


def transaction_json(order: Order, state: str | None = None) -> dict:
    """The Transaction object of the query API (state=merchant_view(order)) and of notifications."""
    state = state or order.trade_state
    paid = state in (SUCCESS, REFUND)
    data = {
        "appid": order.appid,
        "mchid": order.mchid,
        "out_trade_no": order.out_trade_no,
        "trade_state": state,
        "trade_state_desc": TRADE_STATE_DESC[state],
        "amount": {"total": order.total_fen, "currency": order.currency,
                   "payer_currency": order.currency},
        "promotion_detail": [],
    }
    if order.attach is not None:
        data["attach"] = order.attach
    if paid:
        data.update({
            "transaction_id": order.transaction_id,
            "trade_type": order.trade_type,
            "bank_type": order.bank_type,
            "success_time": clock.rfc3339(order.success_time),
            "payer": {"openid": order.payer_openid},
        })
        data["amount"]["payer_total"] = order.total_fen
    return data


def create_refund(session: Session, rt, req: RefundRequest, now: datetime) -> Refund:
    """Accept a refund (PROCESSING); it settles to SUCCESS after REFUND_DELAY / time scale."""
    if req.transaction_id:
        order = session.scalar(select(Order).where(Order.transaction_id == req.transaction_id))
        if order is not None and req.out_trade_no and order.out_trade_no != req.out_trade_no:
            order = None
    else:
        order = find_order(session, req.out_trade_no)
    if order is None:
        raise ApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    existing = find_refund(session, req.out_refund_no)
    if existing is not None:
        if existing.order_id != order.id or existing.fingerprint != req.fingerprint:
            raise invalid_request("商户退款单号已存在，且与本次请求的参数不一致")
        if existing.status == PROCESSING and now >= existing.settle_at:
            settle_refund(session, rt, existing, now)
        return existing
    if merchant_view(order) not in (SUCCESS, REFUND):
        raise invalid_request("订单未支付，不能退款")
    if req.total_fen != order.total_fen:
        raise invalid_request("原订单金额与实际支付金额不一致")
    if len(order.refunds) >= MAX_REFUNDS_PER_ORDER:
        raise invalid_request("一笔订单最多退款50次")
    refunded = sum(refund.refund_fen for refund in order.refunds)
    if req.refund_fen > order.total_fen - refunded:
        raise invalid_request("申请退款金额超过订单可退金额")
    refund = Refund(
        refund_id="50" + _digits(7) + now.astimezone(clock.CHINA).strftime("%Y%m%d") + _digits(12),
        out_refund_no=req.out_refund_no, order=order, reason=req.reason,
        # Without notify_url, WeChat uses the refund callback the merchant has configured (if any).
        notify_url=req.notify_url or rt.refund_notify_url,
        funds_account=req.funds_account, refund_fen=req.refund_fen, total_fen=req.total_fen,
        currency=req.currency, fingerprint=req.fingerprint, status=PROCESSING, created_at=now,
        settle_at=now + rt.scaled(REFUND_DELAY))
    session.add(refund)
    order.trade_state = REFUND
    session.flush()
    session.info.setdefault("after_commit", []).append(rt.wake_worker)  # settle it on time
    return refund


def settle_refund(session: Session, rt, refund: Refund, now: datetime) -> Refund:
    """SUCCESS, and REFUND.SUCCESS to the refund's callback if it has one (never the payment's)."""
    refund.status = SUCCESS
    refund.success_time = now
    order = refund.order
    if refund.notify_url:
        notify.enqueue(session, rt, event_type="REFUND.SUCCESS", summary="退款成功", original_type="refund",
                       resource=refund_notice_json(refund), notify_url=refund.notify_url,
                       out_trade_no=order.out_trade_no, out_refund_no=refund.out_refund_no, now=now)
    return refund


def refund_json(refund: Refund) -> dict:
    """The Refund object answered by create and query."""
    order = refund.order
    data = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.transaction_id,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": USER_RECEIVED_ACCOUNT,
        "create_time": clock.rfc3339(refund.created_at),
        "status": refund.status,
        "funds_account": refund.funds_account or "AVAILABLE",
        "amount": {
            "total": refund.total_fen, "refund": refund.refund_fen, "from": [],
            "payer_total": order.total_fen, "payer_refund": refund.refund_fen,
            "settlement_refund": refund.refund_fen, "settlement_total": order.total_fen,
            "discount_refund": 0, "currency": refund.currency, "refund_fee": 0,
        },
        "promotion_detail": [],
    }
    if refund.success_time is not None:
        data["success_time"] = clock.rfc3339(refund.success_time)
    return data


def refund_notice_json(refund: Refund) -> dict:
    """The decrypted resource of a REFUND.* notification."""
    order = refund.order
    return {
        "mchid": order.mchid,
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.transaction_id,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status,
        "success_time": clock.rfc3339(refund.success_time),
        "user_received_account": USER_RECEIVED_ACCOUNT,
        "amount": {"total": order.total_fen, "refund": refund.refund_fen,
                   "payer_total": order.total_fen, "payer_refund": refund.refund_fen},
    }
