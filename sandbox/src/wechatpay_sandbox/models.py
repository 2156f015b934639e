"""Rows the sandbox keeps: orders, refunds, notification deliveries (with each HTTP attempt), faults,
WeChat users (their openids per appid), OAuth codes and handed-out trade bills."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, UTCDateTime

# Trade types (trade_type in the query answer): the prompt each hands out, and how long it is valid.
NATIVE, JSAPI, MWEB = "NATIVE", "JSAPI", "MWEB"

# Order states as WeChat Pay reports them in trade_state.
NOTPAY, SUCCESS, CLOSED, REFUND = "NOTPAY", "SUCCESS", "CLOSED", "REFUND"
TRADE_STATE_DESC = {NOTPAY: "订单未支付", SUCCESS: "支付成功", CLOSED: "订单已关闭", REFUND: "转入退款"}

# Refund states.
PROCESSING = "PROCESSING"

# Delivery states.
PENDING, ACKNOWLEDGED, FAILED, DROPPED = "pending", "acknowledged", "failed", "dropped"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("total_fen > 0", name="total_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    appid: Mapped[str] = mapped_column(String(32))
    mchid: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(127))
    notify_url: Mapped[str] = mapped_column(String(255))
    attach: Mapped[str | None] = mapped_column(String(128))
    total_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(16), default="CNY")
    # Canonical form of the create request: a repeat with other parameters is OUT_TRADE_NO_USED.
    fingerprint: Mapped[str] = mapped_column(Text)
    time_expire: Mapped[datetime] = mapped_column(UTCDateTime)
    trade_type: Mapped[str] = mapped_column(String(16), default=NATIVE)
    # The prompt: a code_url (Native), a prepay_id (JSAPI; H5's h5_url carries one with its package).
    code_url: Mapped[str | None] = mapped_column(String(128), unique=True)
    prepay_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    h5_package: Mapped[str | None] = mapped_column(String(16))
    prompt_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    jsapi_openid: Mapped[str | None] = mapped_column(String(128))  # JSAPI: payer.openid, the one who may pay
    bridge_ticket: Mapped[str | None] = mapped_column(String(64))  # JSAPI pay sheet open: what 支付 must show
    trade_state: Mapped[str] = mapped_column(String(16), default=NOTPAY)
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    payer_openid: Mapped[str | None] = mapped_column(String(128))
    bank_type: Mapped[str | None] = mapped_column(String(32))
    success_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(32))  # "merchant" (only the merchant closes)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # customer pressed Cancel
    # A payment the merchant never hears of (control API): no notification, and the v3 API shows the
    # order unpaid (NOTPAY, or CLOSED after the merchant's close) until revealed. Only the bill has it.
    silent: Mapped[bool] = mapped_column(Boolean, default=False)
    silent_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    refunds: Mapped[list["Refund"]] = relationship(back_populates="order", order_by="Refund.id")


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (CheckConstraint("refund_fen > 0", name="refund_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[str] = mapped_column(String(32), unique=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    reason: Mapped[str | None] = mapped_column(String(80))
    notify_url: Mapped[str | None] = mapped_column(String(255))  # where REFUND.* goes; None: nowhere
    funds_account: Mapped[str | None] = mapped_column(String(32))
    refund_fen: Mapped[int] = mapped_column(Integer)
    total_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(16), default="CNY")
    fingerprint: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PROCESSING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settle_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when PROCESSING becomes SUCCESS
    success_time: Mapped[datetime | None] = mapped_column(UTCDateTime)

    order: Mapped[Order] = relationship(back_populates="refunds")


class Delivery(Base):
    """One notification event and its delivery state; retries resend the same body."""

    __tablename__ = "deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the notification id
    event_type: Mapped[str] = mapped_column(String(64))
    out_trade_no: Mapped[str | None] = mapped_column(String(32), index=True)
    out_refund_no: Mapped[str | None] = mapped_column(String(64))
    notify_url: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # scheduled attempts made
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(255))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Fault injection, fixed when the event is created:
    copies: Mapped[int] = mapped_column(Integer, default=1)  # send each attempt this many times
    concurrent: Mapped[bool] = mapped_column(Boolean, default=False)  # ...all at once
    probe_pending: Mapped[bool] = mapped_column(Boolean, default=False)  # send a SIGNTEST probe first
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    log: Mapped[list["DeliveryAttempt"]] = relationship(order_by="DeliveryAttempt.id")


class DeliveryAttempt(Base):
    """One HTTP POST of a notification, kept for the overview page and the control API."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # normal / duplicate / probe
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(255))
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)


class WeChatUser(Base):
    """A simulated WeChat user's openid under an appid, issued by web OAuth (JSAPI orders need one)."""

    __tablename__ = "wechat_users"
    __table_args__ = (UniqueConstraint("appid", "user", name="appid_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(32))
    user: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OAuthCode(Base):
    """A web-OAuth code: single use, valid 5 minutes, for one appid and user."""

    __tablename__ = "oauth_codes"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    appid: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BillDownload(Base):
    """A trade bill handed out by /v3/bill/tradebill: its exact text, hashed, downloadable by token."""

    __tablename__ = "bill_downloads"

    token: Mapped[str] = mapped_column(String(96), primary_key=True)
    bill_date: Mapped[str] = mapped_column(String(10))
    gzip: Mapped[bool] = mapped_column(Boolean, default=False)
    content: Mapped[str] = mapped_column(Text)  # the uncompressed CSV, as hashed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Fault(Base):
    """An armed fault: the next `remaining` matching calls or notifications misbehave, or (with a `rate`)
    each one with that probability."""

    __tablename__ = "faults"

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(16))  # api / notify / oauth / bridge / bill
    mode: Mapped[str] = mapped_column(String(32))
    # How many more times it fires; None (a rate fault only) for as long as it stays armed.
    remaining: Mapped[int | None] = mapped_column(Integer)
    # None: every matching call or notification until `remaining` runs out; else each one with this probability.
    rate: Mapped[float | None] = mapped_column(Float)
    fired: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # times it misbehaved
    times: Mapped[int] = mapped_column(Integer, default=2)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    path_prefix: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
