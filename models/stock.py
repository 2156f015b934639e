"""The stock log: every change of a product's stock, with its reason, kept for the owner."""
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from models.base import Base
from models.catalog import Product
from models.order import Order


class StockLog(Base):
    __tablename__ = "stock_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    # Signed: -2 for a sale of two, +10 for a restock.
    change: Mapped[int]
    # The stock right after this change (read back by the same UPDATE, so it is exact under races).
    stock_after: Mapped[int]
    # A StockReason.
    reason: Mapped[str] = mapped_column(String(20))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("order.id"), index=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    # The owner's user name for changes made on the owner's pages; None for the shop's own.
    by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    product: Mapped[Product] = relationship()
    order: Mapped[Order | None] = relationship()
