"""The outbox: alerts for the owner written with the event they report, sent later by the jobs process."""
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.vocabulary import AlertStatus
from models.base import Base
from models.order import Order


class Outbox(Base):
    """One alert to send through one channel (an event with two channels configured makes two rows)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # An AlertKind and an AlertChannel.
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order.id"), index=True)
    # What the message says, as JSON text, fixed when the event happened.
    payload: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(index=True)
    claimed_until: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    order: Mapped[Order | None] = relationship()
    tries: Mapped[list["OutboxAttempt"]] = relationship(
        back_populates="outbox", cascade="all, delete-orphan", order_by="OutboxAttempt.id"
    )


class OutboxAttempt(Base):
    """One try at sending an outbox row, kept whether it worked or not."""

    __tablename__ = "outbox_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool]
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(default=0)

    outbox: Mapped[Outbox] = relationship(back_populates="tries")
