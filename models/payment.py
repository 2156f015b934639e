"""What WeChat Pay said about an order, kept append-only, and the refunds the owner made."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, event, update
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.vocabulary import AttemptStatus, RefundStatus
from models.base import Base
from models.order import Order


class PaymentAttempt(Base):
    """One way of paying an order on WeChat Pay: its own out_trade_no, channel, prompt and expiry.

    WeChat Pay refuses an out_trade_no again with other parameters or another trade type, so paying by
    QR code, inside WeChat or in a phone browser are separate attempts of one order. The order is paid
    once: by the attempt whose transaction_id the order holds; any other paid attempt is refunded.
    """

    __tablename__ = "payment_attempt"
    __table_args__ = (CheckConstraint("length(out_trade_no) BETWEEN 6 AND 32", name="out_trade_no_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    # A PaymentChannel and an AttemptStatus.
    channel: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), default=AttemptStatus.OPEN, index=True)
    # What the customer pays with: the code_url (Native), the prepay_id (JSAPI) or the h5_url (H5).
    prompt: Mapped[str | None] = mapped_column(String(512))
    prompt_expires_at: Mapped[datetime | None]
    # JSAPI: the payer the prepay_id was made for; H5: the payer's IP sent to WeChat Pay.
    payer_openid: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(back_populates="attempts")


class PaymentEvent(Base):
    """One notification, query, close or refund call. Notifications are unique by their WeChat id."""

    __tablename__ = "payment_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order.id"), index=True)
    # The attempt the event is about, when it is about one (notifications, queries, closes, refunds).
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("payment_attempt.id"), index=True)
    # An EventKind.
    kind: Mapped[str] = mapped_column(String(20))
    # The notification's own id; unique so a notification delivered ten times is recorded once.
    notification_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    event_type: Mapped[str | None] = mapped_column(String(40))
    # The state WeChat reported (a TradeState or RefundStatus) or a PaymentErrorCode.
    state: Mapped[str | None] = mapped_column(String(40))
    # What the shop did with it: an Outcome.
    outcome: Mapped[str | None] = mapped_column(String(40))
    # Decrypted, non-secret payload fields, as JSON text, for the owner's timeline.
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    order: Mapped[Order | None] = relationship()
    attempt: Mapped[PaymentAttempt | None] = relationship()


class Refund(Base):
    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_fen_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    # The payment it returns money from.
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("payment_attempt.id"), index=True)
    # A second payment of an order already paid, returned in full by the shop: not counted as a refund
    # of the order (its refunded_fen), since the order's own payment was kept.
    extra_payment: Mapped[bool] = mapped_column(default=False)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    refund_id: Mapped[str | None] = mapped_column(String(32))
    amount_fen: Mapped[int]
    reason: Mapped[str] = mapped_column(String(80), default="")
    status: Mapped[str] = mapped_column(String(16), default=RefundStatus.PROCESSING, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded_at: Mapped[datetime | None]
    next_query_at: Mapped[datetime | None]
    claimed_until: Mapped[datetime | None]

    order: Mapped[Order] = relationship()
    attempt: Mapped[PaymentAttempt | None] = relationship()


@event.listens_for(Refund, "after_insert")
def mark_order_refunded(_mapper, connection, refund: Refund) -> None:
    """Order.has_refund, in the refund's own transaction: set by its first refund, never cleared."""
    connection.execute(update(Order).where(Order.id == refund.order_id, Order.has_refund.is_(False))
                       .values(has_refund=True))
