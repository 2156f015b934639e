"""Alerts for the owner: written to the outbox in the event's own transaction, sent later by the jobs process.

``enqueue`` is the one function the services call when something the owner must hear about happens (an
order paid, an order flagged for attention, a refund that failed). It only inserts rows, one per channel
configured, so a webhook or mail server that is down never slows or breaks payment handling; and since
the rows commit or roll back with the event, an event is alerted once if it happened, never if it did not.
The jobs process (jobs/alerts.py) claims due rows, sends each (services/alert_channels.py), records every
attempt and retries with back-off.
"""
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from core.clock import format_local_time, utcnow
from core.money import format_fen
from core.vocabulary import AlertChannel, AlertKind, AlertStatus, RefundStatus
from extensions import db
from models import Order, OrderItem, Outbox, OutboxAttempt, Refund
from services import alert_channels
from services.use_case import use_case

log = logging.getLogger("shop.alerts")
ERROR_MAX_LENGTH = 500


def configured_channels(config=None) -> list[AlertChannel]:
    """The channels the environment turns on (none by default)."""
    config = config or current_app.config
    channels = []
    if config.get("ALERT_WECOM_WEBHOOK_URL"):
        channels.append(AlertChannel.WECOM)
    if config.get("ALERT_SMTP_HOST") and config.get("ALERT_SMTP_TO"):
        channels.append(AlertChannel.EMAIL)
    return channels


def enqueue(kind: AlertKind, order_id: int | None = None, *, refund_id: int | None = None,
            message: str | None = None, path: str | None = None, now: datetime | None = None) -> int:
    """Write the alert to the outbox, one row per configured channel; return how many. Does not commit.

    Called inside the transaction of the event itself, so the alert exists exactly when the event does.
    """
    kind = AlertKind(kind)
    channels = configured_channels()
    if not channels:
        return 0
    now = now or utcnow()
    payload = build_payload(kind, order_id, refund_id, message, now)
    if path:
        payload["path"] = path  # the owner's page to open, when it is not the order's
    payload = json.dumps(payload, ensure_ascii=False)
    for channel in channels:
        db.session.add(Outbox(kind=kind, channel=channel, order_id=order_id, payload=payload,
                              status=AlertStatus.PENDING, next_attempt_at=now, created_at=now))
    return len(channels)


def build_payload(kind, order_id, refund_id, message, now) -> dict:
    """What the alert will say, fixed now (the order may change before it is sent)."""
    payload = {"shop": current_app.config["SHOP_NAME"], "at": now.isoformat()}
    if message:
        payload["message"] = message
    if order_id is not None:
        row = db.session.execute(
            select(Order.out_trade_no, Order.total_fen, Order.contact_name, Order.mobile, Order.attention,
                   Order.paid_at).where(Order.id == order_id)
        ).one()
        items = db.session.execute(
            select(OrderItem.product_name, OrderItem.quantity).where(OrderItem.order_id == order_id)
            .order_by(OrderItem.id)
        ).all()
        payload.update(
            order_id=order_id, out_trade_no=row.out_trade_no, total_fen=row.total_fen,
            contact_name=row.contact_name, mobile_tail=row.mobile[-4:], attention=row.attention,
            paid_at=row.paid_at.isoformat() if row.paid_at else None,
            items="、".join(f"{name}×{quantity}" for name, quantity in items),
        )
    if refund_id is not None:
        refund = db.session.get(Refund, refund_id)
        payload.update(out_refund_no=refund.out_refund_no, refund_fen=refund.amount_fen,
                       refund_status=RefundStatus.label_of(refund.status))
    return payload


@dataclass(frozen=True)
class Message:
    title: str
    lines: list[str]
    link: str | None = None


def compose(kind: str, payload: dict, link_base: str | None = None) -> Message:
    """The words of an alert, from its payload (the same for every channel)."""
    shop, lines = payload.get("shop", ""), []
    if kind == AlertKind.ORDER_PAID:
        title = f"【{shop}】新订单已支付 {format_fen(payload.get('total_fen', 0))}"
    elif kind == AlertKind.ATTENTION:
        title = f"【{shop}】订单需处理"
        lines.append(f"原因：{payload.get('attention') or '见订单页'}")
    elif kind == AlertKind.REFUND_FAILED:
        title = f"【{shop}】退款失败 {format_fen(payload.get('refund_fen', 0))}"
        lines.append(f"退款单号：{payload.get('out_refund_no', '')}（{payload.get('refund_status', '')}）")
    else:
        title = f"【{shop}】{AlertKind.label_of(kind)}"
    if payload.get("message"):
        lines.append(payload["message"])
    if payload.get("out_trade_no"):
        lines += [
            f"订单号：{payload['out_trade_no']}",
            f"商品：{payload.get('items', '')}",
            f"金额：{format_fen(payload.get('total_fen', 0))}",
            f"收货人：{payload.get('contact_name', '')}（手机尾号 {payload.get('mobile_tail', '')}）",
        ]
    if payload.get("at"):
        lines.append(f"时间：{format_local_time(datetime.fromisoformat(payload['at']), '%Y-%m-%d %H:%M:%S')}")
    link = None
    if link_base and payload.get("path"):
        link = f"{link_base.rstrip('/')}{payload['path']}"
    elif link_base and payload.get("order_id"):
        link = f"{link_base.rstrip('/')}/admin/orders/{payload['order_id']}"
    return Message(title, lines, link)


# ---- Sending (the jobs process) ----


@dataclass(frozen=True)
class Delivery:
    ok: bool
    error: str | None
    duration_ms: int


def deliver(outbox_id: int) -> Delivery:
    """Send one outbox row through its channel. Ends the read transaction first: no database work waits on
    the network. Never raises for a channel's failure: it is returned, to be recorded."""
    row = db.session.get(Outbox, outbox_id, populate_existing=True)
    kind, channel, payload, row_id = row.kind, row.channel, json.loads(row.payload or "{}"), row.id
    config = current_app.config
    db.session.commit()
    message = compose(kind, payload, config.get("ALERT_LINK_BASE_URL"))
    # Its number, the same on every retry: should a crash make it go out twice, the owner sees it is one alert.
    message.lines.append(f"提醒编号：#{row_id}")
    started = utcnow()
    try:
        if channel == AlertChannel.WECOM and config.get("ALERT_WECOM_WEBHOOK_URL"):
            alert_channels.send_wecom(config, message)
        elif channel == AlertChannel.EMAIL and config.get("ALERT_SMTP_HOST") and config.get("ALERT_SMTP_TO"):
            alert_channels.send_email(config, message, message_id=f"shop-alert-{row_id}")
        else:
            raise alert_channels.AlertNotSent(f"{AlertChannel.label_of(channel)}未配置")
        error = None
    except alert_channels.AlertNotSent as failure:
        error = str(failure)
    except Exception as failure:  # a bug or an odd library error: recorded like any failure, retried
        log.exception("alert %s via %s failed unexpectedly", row_id, channel)
        error = f"{type(failure).__name__}: {failure}"
    duration = int((utcnow() - started).total_seconds() * 1000)
    return Delivery(error is None, error[:ERROR_MAX_LENGTH] if error else None, duration)


def backoff(config=None) -> list[timedelta]:
    value = (config or current_app.config)["ALERT_BACKOFF_MINUTES"]
    if isinstance(value, str):
        value = [part for part in value.replace(" ", "").split(",") if part]
    offsets = [timedelta(minutes=float(minutes)) for minutes in value]
    if not offsets or any(offset <= timedelta(0) for offset in offsets):
        raise ValueError("ALERT_BACKOFF_MINUTES must be positive minutes, e.g. 1,5,15,60,180")
    return offsets


def after_attempt(outbox_id: int, delivery: Delivery, now: datetime) -> dict:
    """Record the attempt (flushed, not committed) and return the row's new values for the caller's release."""
    attempts = db.session.scalar(select(Outbox.attempts).where(Outbox.id == outbox_id)) + 1
    db.session.add(OutboxAttempt(outbox_id=outbox_id, attempted_at=now, ok=delivery.ok, error=delivery.error,
                                 duration_ms=delivery.duration_ms))
    if delivery.ok:
        log.info("alert %s sent after %s attempt(s)", outbox_id, attempts)
        return {"attempts": attempts, "status": AlertStatus.SENT, "sent_at": now, "last_error": None}
    values = {"attempts": attempts, "last_error": delivery.error}
    if attempts >= int(current_app.config["ALERT_MAX_ATTEMPTS"]):
        log.warning("alert %s failed %s times, giving up: %s", outbox_id, attempts, delivery.error)
        return {**values, "status": AlertStatus.FAILED}
    offsets = backoff()
    log.warning("alert %s failed (attempt %s), will retry: %s", outbox_id, attempts, delivery.error)
    return {**values, "next_attempt_at": now + offsets[min(attempts, len(offsets)) - 1]}


# ---- The owner's buttons ----


@use_case
def send_test_alert(by: str, now: datetime) -> int:
    """Queue a test alert on every configured channel; commit. Returns how many rows (0: none configured)."""
    message = f"这是一条测试提醒，由店主 {by} 在后台发出。收到即说明提醒设置正确。"
    count = enqueue(AlertKind.TEST, message=message, now=now)
    db.session.commit()
    return count


@use_case
def retry_now(outbox_id: int, now: datetime) -> bool:
    """Send a failed (given up) or waiting alert again at the next run; commit. False if it was already sent."""
    moved = db.session.execute(
        update(Outbox).where(Outbox.id == outbox_id, Outbox.status.in_([AlertStatus.PENDING, AlertStatus.FAILED]))
        .values(status=AlertStatus.PENDING, next_attempt_at=now, attempts=0)
    ).rowcount
    db.session.commit()
    return bool(moved)
