"""Stock: every change is a relative or conditional UPDATE, logged with its reason in the same transaction.

Checkouts take stock with ``stock = stock - q WHERE stock >= q``; closes give it back with ``stock + q``.
The owner's changes are relative too (+N restock, -N write-off), and an edit of the absolute number is a
compare-and-set (``WHERE stock = <the number the form showed>``), so nothing the owner does overwrites a
reservation made since the page was loaded. Only the absolute edit can fail on a race, and then it says so.
"""
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from core.clock import utcnow
from core.vocabulary import OWNER_STOCK_REASONS, OrderStatus, StockReason
from extensions import db
from models import Order, OrderItem, Product, StockLog
from services.use_case import use_case

NOTE_MAX_LENGTH = 200


class StockRefused(Exception):
    """The change was not made; the message is for the owner. ``stock`` is the number the database holds now."""

    def __init__(self, message: str, stock: int | None = None):
        super().__init__(message)
        self.message = message
        self.stock = stock


def change_stock(product_id: int, change: int, reason: StockReason, *, where=(), order: Order | None = None,
                 order_id: int | None = None, note: str = "", by: str | None = None,
                 now: datetime | None = None) -> int | None:
    """``stock = stock + change`` if ``where`` holds, and one log row; the stock after, or None if not changed.

    One UPDATE ... RETURNING: the number logged is the one this change produced, whatever ran at once.
    Does not commit.
    """
    reason = StockReason(reason)
    after = db.session.execute(
        update(Product).where(Product.id == product_id, *where)
        .values(stock=Product.stock + change).returning(Product.stock)
    ).scalar_one_or_none()
    if after is None:
        return None
    log = StockLog(product_id=product_id, change=change, stock_after=after, reason=reason, order_id=order_id,
                   note=(note or "")[:NOTE_MAX_LENGTH], by=by, created_at=now or utcnow())
    if order is not None:
        log.order = order  # an order still being placed: its id comes with the flush
    db.session.add(log)
    return after


def take(product_id: int, quantity: int, reason: StockReason, *, order: Order | None = None,
         order_id: int | None = None, on_sale_only: bool = False) -> bool:
    """Take ``quantity`` units if that many are left (and, with ``on_sale_only``, if it is on sale). No commit."""
    where = [Product.stock >= quantity, *([Product.on_sale] if on_sale_only else [])]
    return change_stock(product_id, -quantity, reason, where=where, order=order, order_id=order_id) is not None


def release_order(order_id: int) -> None:
    """Give back the units of a closed order (cancelled, expired, closed by the owner). No commit."""
    for item in db.session.scalars(select(OrderItem).filter_by(order_id=order_id)):
        change_stock(item.product_id, item.quantity, StockReason.RELEASE, order_id=order_id)


def rereserve_order(order_id: int) -> list[str]:
    """Take stock again for an order paid after its close; return the lines that could not be had. No commit."""
    short = []
    for item in db.session.scalars(select(OrderItem).filter_by(order_id=order_id)):
        if not take(item.product_id, item.quantity, StockReason.REPAID, order_id=order_id):
            short.append(f"{item.product_name}×{item.quantity}")
    return short


def units_held_by_pending_orders(product_ids=None) -> dict[int, int]:
    """Units each product has reserved for orders still waiting for payment."""
    query = (
        select(OrderItem.product_id, func.sum(OrderItem.quantity))
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.status == OrderStatus.PENDING)
        .group_by(OrderItem.product_id)
    )
    if product_ids is not None:
        query = query.where(OrderItem.product_id.in_(list(product_ids)))
    return {product_id: int(units) for product_id, units in db.session.execute(query)}


# ---- The owner's changes ----


@dataclass(frozen=True)
class StockChange:
    change: int
    stock_after: int


@use_case
def adjust(product_id: int, change: int, reason: StockReason, note: str, by: str, now: datetime) -> StockChange:
    """A relative change by the owner: +N restock, -N write-off, either way a correction. Commit, or StockRefused."""
    if reason not in OWNER_STOCK_REASONS:
        raise StockRefused("请选择库存变动的原因。")
    if change == 0:
        raise StockRefused("变动数量不能为 0。")
    if reason == StockReason.RESTOCK and change < 0:
        raise StockRefused("补货只能增加库存；减少请选“报损出库”或“盘点更正”。")
    if reason == StockReason.WRITE_OFF and change > 0:
        raise StockRefused("报损出库只能减少库存；增加请选“补货”或“盘点更正”。")
    where = [Product.stock >= -change] if change < 0 else []
    after = change_stock(product_id, change, reason, where=where, note=note, by=by, now=now)
    if after is None:
        db.session.rollback()
        current = db.session.scalar(select(Product.stock).where(Product.id == product_id))
        if current is None:
            raise StockRefused("商品不存在。")
        raise StockRefused(f"库存只有 {current} 件，不能减少 {-change} 件。", stock=current)
    db.session.commit()
    return StockChange(change, after)


def set_stock(product_id: int, expected: int, new: int, by: str, now: datetime) -> StockChange | None:
    """Set the absolute number, only if it is still ``expected`` (what the owner's form showed). No commit.

    Returns None when nothing needed changing; raises StockRefused (with the number now held) when the
    stock moved since the form was loaded: a checkout, a close or another edit happened meanwhile.
    """
    if new == expected:
        return None
    after = change_stock(product_id, new - expected, StockReason.SET, where=[Product.stock == expected], by=by,
                         note=f"{expected} → {new}", now=now)
    if after is None:
        current = db.session.scalar(select(Product.stock).where(Product.id == product_id))
        raise StockRefused(
            f"库存刚刚变化了：打开页面时是 {expected} 件，现在是 {current} 件（可能有顾客下单或订单关闭）。"
            "什么都没有保存，请核对后重新填写库存。", stock=current)
    return StockChange(new - expected, after)


# ---- Units a refund puts back ----


def returnable_units(order_id: int) -> dict[int, int]:
    """product_id -> units of the order that a refund may still put back into stock."""
    returned = dict(db.session.execute(
        select(StockLog.product_id, func.sum(StockLog.change))
        .where(StockLog.order_id == order_id, StockLog.reason == StockReason.REFUND_RETURN)
        .group_by(StockLog.product_id)
    ).all())
    return {
        item.product_id: item.quantity - int(returned.get(item.product_id) or 0)
        for item in db.session.scalars(select(OrderItem).filter_by(order_id=order_id))
    }


@use_case
def return_refunded_units(order_id: int, units: Mapping[int, int], by: str, now: datetime) -> int:
    """Put units of a refunded order back into stock (product_id -> units), at most what it sold; commit.

    The order row is locked first (a no-op UPDATE), so two returns at once cannot both pass the check.
    Returns the units put back; raises StockRefused, with nothing changed, when a line asks too many.
    """
    wanted = {product_id: count for product_id, count in units.items() if count}
    if not wanted:
        return 0
    db.session.execute(update(Order).where(Order.id == order_id).values(status=Order.status))
    left = returnable_units(order_id)
    for product_id, count in wanted.items():
        if not 0 < count <= left.get(product_id, 0):
            db.session.rollback()
            raise StockRefused(f"退回库存的数量不能超过订单中还没退回的 {left.get(product_id, 0)} 件。")
    for product_id, count in wanted.items():
        change_stock(product_id, count, StockReason.REFUND_RETURN, order_id=order_id, by=by, now=now)
    db.session.commit()
    return sum(wanted.values())
