"""What WeChat Pay said about an order, kept append-only, and the refunds the owner made."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.vocabulary import RefundStatus
from models.base import Base
from models.order import Order


class PaymentEvent(Base):
    """One notification, query, close or refund call. Notifications are unique by their WeChat id."""

    __tablename__ = "payment_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order.id"), index=True)
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


class Refund(Base):
    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount_fen_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
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
