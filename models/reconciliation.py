"""Daily reconciliation against WeChat Pay's trade bill (交易账单): one run per day and its differences."""
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from models.base import Base


class BillRun(Base):
    """One Beijing-time day compared with its trade bill; re-running a day replaces its differences."""

    __tablename__ = "bill_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_date: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # a BillRunStatus
    tries: Mapped[int] = mapped_column(default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_until: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(String(200), default="")
    # The bill as downloaded (uncompressed) and its SHA1, for the owner to download.
    hash_value: Mapped[str | None] = mapped_column(String(40))
    bill_text: Mapped[str | None] = mapped_column(Text)
    # Totals of both sides: payments (收款), refunds (退款), and how many of each (笔数).
    bill_paid_fen: Mapped[int] = mapped_column(default=0)
    bill_refunded_fen: Mapped[int] = mapped_column(default=0)
    bill_payments: Mapped[int] = mapped_column(default=0)
    bill_refunds: Mapped[int] = mapped_column(default=0)
    shop_paid_fen: Mapped[int] = mapped_column(default=0)
    shop_refunded_fen: Mapped[int] = mapped_column(default=0)
    shop_payments: Mapped[int] = mapped_column(default=0)
    shop_refunds: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    differences: Mapped[list["BillDifference"]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="BillDifference.id")


class BillDifference(Base):
    __tablename__ = "bill_difference"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("bill_run.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # a DifferenceKind
    action: Mapped[str] = mapped_column(String(12))  # a DifferenceAction
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order.id"), index=True)
    out_trade_no: Mapped[str | None] = mapped_column(String(32))
    out_refund_no: Mapped[str | None] = mapped_column(String(64))
    transaction_id: Mapped[str | None] = mapped_column(String(32))
    bill_fen: Mapped[int | None]
    shop_fen: Mapped[int | None]
    note: Mapped[str] = mapped_column(String(200), default="")

    run: Mapped[BillRun] = relationship(back_populates="differences")
