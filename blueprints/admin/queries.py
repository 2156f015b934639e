"""The order list's filtered SELECTs, shared by the page, its totals and the CSV export."""
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

from sqlalchemy import ColumnElement, Select, case, exists, func, literal, select, union_all
from sqlalchemy.orm import selectinload

from blueprints.admin.forms import ATTENTION_FILTER, REFUNDED_FILTER
from core.clock import china_day_start
from core.vocabulary import PAID_STATUSES, OrderStatus
from extensions import db
from models import Order, OrderDayTotals, PaymentAttempt, Refund

# What an owner pastes from a customer's message or a WeChat Pay bill: an order's or a payment attempt's
# out_trade_no (6 to 32 characters, "-2" for a second attempt) or a WeChat Pay transaction_id (digits).
WHOLE_NUMBER = re.compile(r"[A-Za-z0-9-]{6,40}")
# Text that can be part of an order number (new_out_trade_no: digits and upper-case A-F) or of a mobile
# (the checkout form keeps the 11 digits); anything else is looked for in names only.
ORDER_NUMBER_PART = re.compile(r"[A-Za-z0-9]+")
MOBILE_PART = re.compile(r"[0-9]{1,11}")


@dataclass(frozen=True)
class OrderFilter:
    """The owner's validated filters; dates are Beijing-time calendar days, both ends included."""
    status: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    q: str = ""

    def conditions(self, newest_first: bool = False) -> list:
        """WHERE clauses for the filters. ``newest_first``: for a page of the list, read newest first
        from ix_order_created_at_id, where a refund is probed per order (stopping at the page's end)
        instead of every refunded order being looked up (which the totals and the export want)."""
        conditions = []
        if self.status in set(OrderStatus):
            conditions.append(Order.status == self.status)
        elif self.status == REFUNDED_FILTER:
            conditions.append(exists().where(Refund.order_id == Order.id) if newest_first
                              else Order.id.in_(select(Refund.order_id)))
        elif self.status == ATTENTION_FILTER:
            conditions.append(Order.attention.is_not(None))
        if self.date_from:
            conditions.append(Order.created_at >= china_day_start(self.date_from))
        if self.date_to:
            conditions.append(Order.created_at < china_day_start(self.date_to + timedelta(days=1)))
        if self.q:
            conditions.append(self.search)
        return conditions

    @cached_property
    def search(self) -> ColumnElement:
        """A whole order, attempt or transaction number finds its order alone (unique indexes, no scan);
        other text is looked for inside names, and inside order numbers and mobiles where it could be part
        of one, each scan reading only its column's narrow index."""
        q = self.q
        if WHOLE_NUMBER.fullmatch(q):
            order_id = db.session.scalar(union_all(
                select(Order.id).where(Order.out_trade_no == q.upper()),
                select(PaymentAttempt.order_id).where(PaymentAttempt.out_trade_no == q.upper()),
                select(Order.id).where(Order.transaction_id == q),
                select(PaymentAttempt.order_id).where(PaymentAttempt.transaction_id == q),
            ).limit(1))
            if order_id is not None:
                return Order.id == order_id
        scans = [select(Order.id).where(contains_any_case(Order.contact_name, q))]
        if ORDER_NUMBER_PART.fullmatch(q):
            scans.append(select(Order.id).where(Order.out_trade_no.contains(q.upper(), autoescape=True)))
        if MOBILE_PART.fullmatch(q):
            scans.append(select(Order.id).where(Order.mobile.contains(q, autoescape=True)))
        return Order.id.in_(union_all(*scans))


def contains_any_case(column, text: str) -> ColumnElement:
    """``column`` contains ``text``, ignoring ASCII case (all the case Chinese names have). SQLite's LIKE
    already does, so lower() on both sides there would only double the cost of the scan."""
    if db.session.get_bind().dialect.name == "sqlite":
        return column.contains(text, autoescape=True)
    return column.icontains(text, autoescape=True)


def filtered_orders(conditions) -> Select:
    """Orders matching ``conditions``, newest first."""
    return (select(Order).where(*conditions).options(selectinload(Order.items))
            .order_by(Order.created_at.desc(), Order.id.desc()))


def filtered_order_ids(conditions) -> Select:
    """The ids of the orders matching ``conditions``, newest first (ix_order_created_at_id sorts them)."""
    return select(Order.id).where(*conditions).order_by(Order.created_at.desc(), Order.id.desc())


def order_totals(filters: OrderFilter) -> Select:
    """One row: (count, paid count, sum paid in fen, sum refunded in fen) over the filtered orders. Filtered by
    nothing but status and dates, from the per-day totals the database keeps (a few rows a day, however many
    orders); otherwise summed over the matching orders."""
    if filters.q or filters.status in (REFUNDED_FILTER, ATTENTION_FILTER):
        return summed(literal(1), Order.status, Order.total_fen, Order.refunded_fen).where(*filters.conditions())
    days = OrderDayTotals
    conditions = [days.status == filters.status] if filters.status in set(OrderStatus) else []
    if filters.date_from:
        conditions.append(days.day >= filters.date_from)
    if filters.date_to:
        conditions.append(days.day <= filters.date_to)
    return summed(days.order_count, days.status, days.total_fen, days.refunded_fen).where(*conditions)


def summed(count, status, total_fen, refunded_fen) -> Select:
    paid = status.in_(PAID_STATUSES)
    return select(
        func.coalesce(func.sum(count), 0),
        func.coalesce(func.sum(case((paid, count), else_=0)), 0),
        func.coalesce(func.sum(case((paid, total_fen), else_=0)), 0),
        func.coalesce(func.sum(refunded_fen), 0),
    )
