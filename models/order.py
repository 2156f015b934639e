"""Orders and their lines. Amounts are integer fen; timestamps are naive UTC."""
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import ClassVar

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.regions import region_text
from core.vocabulary import OrderStatus
from models.base import Base

# WeChat Pay counts its field limits in UTF-8 bytes: 127 bytes is about 42 Chinese characters.
DESCRIPTION_MAX_BYTES = 127


# The only moves an order can make. CLOSED -> PAID exists because a payment WeChat confirms is real
# money: it wins over a local close (timeout, cancel) that raced it.
TRANSITIONS = {
    OrderStatus.PENDING: {OrderStatus.PAID, OrderStatus.CLOSED},
    OrderStatus.CLOSED: {OrderStatus.PAID},
    OrderStatus.PAID: {OrderStatus.SHIPPED},
    OrderStatus.SHIPPED: set(),
}


def transition_sources(target: OrderStatus) -> list[OrderStatus]:
    """The statuses an order may be in to move to ``target``."""
    return [source for source, targets in TRANSITIONS.items() if target in targets]


@dataclass(frozen=True)
class Delivery:
    """Who receives an order and where: the one list of delivery fields (form -> Delivery -> Order).

    The address is chosen as 省/市/区 from the bundled dataset (core.regions) plus the street address;
    ``address`` is the whole of it as one line, stored with the order for display, CSV and labels.
    Orders from before the three fields existed have only ``address`` (Order.delivery reads it as the detail).
    """

    contact_name: str
    mobile: str
    province: str
    city: str
    district: str
    address_detail: str
    note: str = ""

    # Longest text each field may hold; the columns, the form and its inputs all read these.
    MAX_LENGTH: ClassVar[dict[str, int]] = {
        "contact_name": 40, "mobile": 11, "province": 20, "city": 20, "district": 20, "address_detail": 120,
        "note": 200,
    }
    # The one-line address column: the region's 8 + 11 + 15 characters at most, a space, the detail.
    ADDRESS_MAX_LENGTH: ClassVar[int] = 200

    @property
    def address(self) -> str:
        """'北京市海淀区 中关村大街 27 号'."""
        region = region_text(self.province, self.city, self.district)
        return " ".join(part for part in (region, self.address_detail) if part)

    def order_columns(self) -> dict[str, str]:
        """The Order columns these details fill (the fields, and the one-line address)."""
        return {**asdict(self), "address": self.address}


def new_token() -> str:
    return secrets.token_urlsafe(16)


def new_out_trade_no(now: datetime) -> str:
    """Time-ordered, unique and limited to [A-Za-z0-9] so the SDK signs the exact URL it sends."""
    return f"{now:%Y%m%d%H%M%S}{secrets.token_hex(5).upper()}"


class Order(Base):
    __tablename__ = "order"
    __table_args__ = (
        CheckConstraint("total_fen >= 0", name="total_fen_not_negative"),
        CheckConstraint("shipping_fen >= 0 AND shipping_fen <= total_fen", name="shipping_fen_within_total"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= total_fen", name="refunded_fen_within_total"),
        CheckConstraint("length(out_trade_no) BETWEEN 6 AND 32", name="out_trade_no_length"),
        # The owner's order list, newest first, whole or by status: the page read in index order, and its
        # totals (count, paid, refunded) summed from the index alone. The status one also finds the pending
        # orders for the jobs.
        Index("ix_order_created_at_id", "created_at", "id", "status", "total_fen", "refunded_fen"),
        Index("ix_order_status_created_at", "status", "created_at", "id", "total_fen", "refunded_fen"),
        # The reconcile job's due pending orders: two ranges (next_query_at passed; never queried and old
        # enough), not a pass over every pending order for each claim.
        Index("ix_order_status_next_query_at", "status", "next_query_at", "created_at"),
        # The owner's search looks inside mobiles: a pass over one narrow index, not the table (names have
        # their own term index, models/order_search.py).
        Index("ix_order_mobile", "mobile"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(32), unique=True, default=new_token)
    # The checkout form's one-time token: the same form submitted twice finds this order, not a new one.
    submission_token: Mapped[str | None] = mapped_column(String(43), unique=True)
    # Who placed it: the browser (a random id in its session) and its IP address, for the abuse limits
    # and as the payer's IP that H5 payments must send to WeChat Pay.
    visitor_id: Mapped[str | None] = mapped_column(String(32), index=True)
    client_ip: Mapped[str | None] = mapped_column(String(45), index=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=OrderStatus.PENDING)
    # Everything the customer pays: the lines and the shipping fee (its own line, part of the WeChat Pay amount).
    total_fen: Mapped[int]
    shipping_fen: Mapped[int] = mapped_column(default=0, server_default="0")
    refunded_fen: Mapped[int] = mapped_column(default=0)
    # Set with the order's first refund row, whatever became of it (models/payment.py): the owner's 有退款.
    has_refund: Mapped[bool] = mapped_column(server_default=false())

    contact_name: Mapped[str] = mapped_column(String(Delivery.MAX_LENGTH["contact_name"]))
    mobile: Mapped[str] = mapped_column(String(Delivery.MAX_LENGTH["mobile"]))
    province: Mapped[str] = mapped_column(String(Delivery.MAX_LENGTH["province"]), default="", server_default="")
    city: Mapped[str] = mapped_column(String(Delivery.MAX_LENGTH["city"]), default="", server_default="")
    district: Mapped[str] = mapped_column(String(Delivery.MAX_LENGTH["district"]), default="", server_default="")
    address_detail: Mapped[str] = mapped_column(String(Delivery.MAX_LENGTH["address_detail"]), default="",
                                                server_default="")
    # The whole address as one line (Delivery.address): what pages, the CSV and labels show.
    address: Mapped[str] = mapped_column(String(Delivery.ADDRESS_MAX_LENGTH))
    note: Mapped[str] = mapped_column(String(Delivery.MAX_LENGTH["note"]), default="")

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    # WeChat Pay's number of the payment the order keeps (one of its attempts'; see PaymentAttempt).
    transaction_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    # Throttles and schedules for active queries (status poll, scheduler) and job claims.
    last_queried_at: Mapped[datetime | None]
    next_query_at: Mapped[datetime | None] = mapped_column(index=True)
    query_count: Mapped[int] = mapped_column(default=0)
    claimed_until: Mapped[datetime | None]
    # Set when the owner must look at the order (paid after close without stock, refund failed).
    attention: Mapped[str | None] = mapped_column(String(200))
    # Who carries it (a core.vocabulary.Courier; courier_name only for OTHER) and its tracking number.
    courier: Mapped[str | None] = mapped_column(String(20))
    courier_name: Mapped[str | None] = mapped_column(String(40))
    tracking_no: Mapped[str | None] = mapped_column(String(40))

    items: Mapped[list["OrderItem"]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderItem.id"
    )
    attempts: Mapped[list["PaymentAttempt"]] = relationship(  # noqa: F821 (models.payment)
        back_populates="order", order_by="PaymentAttempt.id"
    )

    @property
    def status_name(self) -> str:
        """The status in Chinese, refunds aside."""
        return OrderStatus.label_of(self.status)

    @property
    def delivery(self) -> Delivery:
        """The order's delivery details; an order from before 省/市/区 has its whole address as the detail."""
        if self.district:
            region = {"province": self.province, "city": self.city, "district": self.district,
                      "address_detail": self.address_detail}
        else:
            region = {"province": "", "city": "", "district": "", "address_detail": self.address}
        return Delivery(contact_name=self.contact_name, mobile=self.mobile, note=self.note, **region)

    @property
    def items_fen(self) -> int:
        """What the lines cost, without shipping."""
        return self.total_fen - (self.shipping_fen or 0)

    @property
    def status_label(self) -> str:
        """What a person should read: the status, or the refund state once money went back."""
        if self.refunded_fen and self.refunded_fen >= self.total_fen:
            return "已退款"
        if self.refunded_fen:
            return "部分退款"
        return self.status_name

    @property
    def description(self) -> str:
        """The WeChat Pay description: item names, within its limit of 127 (counted in UTF-8 bytes)."""
        names = "、".join(f"{item.product_name}×{item.quantity}" for item in self.items)
        if len(names.encode()) <= DESCRIPTION_MAX_BYTES:
            return names
        suffix = "等"
        room = DESCRIPTION_MAX_BYTES - len(suffix.encode())
        return names.encode()[:room].decode(errors="ignore") + suffix


# The owner's 有退款 filter (blueprints/admin/queries.py): the few orders with a refund, newest first, and their
# totals read from this index alone, not looked up one by one in the table and sorted. has_refund is a column
# too, though always true here: SQLite reads an index alone only when it holds every column the query names.
HAS_REFUND = Order.has_refund.is_(True)
Index("ix_order_refunded_created_at", Order.created_at, Order.id, Order.status, Order.total_fen, Order.refunded_fen,
      Order.has_refund, sqlite_where=HAS_REFUND, postgresql_where=HAS_REFUND)


class OrderItem(Base):
    __tablename__ = "order_item"
    __table_args__ = (
        CheckConstraint("unit_price_fen >= 0", name="unit_price_fen_not_negative"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    product_name: Mapped[str] = mapped_column(String(80))
    unit_price_fen: Mapped[int]
    quantity: Mapped[int]

    order: Mapped[Order] = relationship(back_populates="items")

    @property
    def line_total_fen(self) -> int:
        return self.unit_price_fen * self.quantity
