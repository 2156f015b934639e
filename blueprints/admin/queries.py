"""The order list's filtered SELECT, shared by the page, its totals and the CSV export."""
from datetime import timedelta

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import selectinload

from blueprints.admin.forms import ATTENTION_FILTER, REFUNDED_FILTER
from core.clock import china_day_start
from core.vocabulary import PAID_STATUSES, OrderStatus
from models import Order, PaymentAttempt, Refund


def order_conditions(status=None, date_from=None, date_to=None, q=None) -> list:
    """WHERE clauses for the filters; dates are Beijing-time calendar days, both ends included."""
    conditions = []
    if status in set(OrderStatus):
        conditions.append(Order.status == status)
    elif status == REFUNDED_FILTER:
        conditions.append(Order.id.in_(select(Refund.order_id)))
    elif status == ATTENTION_FILTER:
        conditions.append(Order.attention.is_not(None))
    if date_from:
        conditions.append(Order.created_at >= china_day_start(date_from))
    if date_to:
        conditions.append(Order.created_at < china_day_start(date_to + timedelta(days=1)))
    q = (q or "").strip()
    if q:
        # IN, not a correlated EXISTS: the attempts are searched once, not once per order.
        attempt_matches = Order.id.in_(select(PaymentAttempt.order_id).where(or_(
            PaymentAttempt.out_trade_no.icontains(q, autoescape=True), PaymentAttempt.transaction_id == q)))
        conditions.append(or_(
            attempt_matches,
            Order.out_trade_no.icontains(q, autoescape=True),
            Order.contact_name.icontains(q, autoescape=True),
            Order.mobile.contains(q, autoescape=True),
            Order.transaction_id == q,
        ))
    return conditions


def filtered_orders(conditions) -> Select:
    """Orders matching ``conditions``, newest first."""
    return (select(Order).where(*conditions).options(selectinload(Order.items))
            .order_by(Order.created_at.desc(), Order.id.desc()))


def filtered_order_ids(conditions) -> Select:
    """The ids of the orders matching ``conditions``, newest first (ix_order_created_at_id sorts them)."""
    return select(Order.id).where(*conditions).order_by(Order.created_at.desc(), Order.id.desc())


def order_totals(conditions) -> Select:
    """One row: (count, paid count, sum paid in fen, sum refunded in fen) over the filtered orders."""
    paid = Order.status.in_(PAID_STATUSES)
    return select(
        func.count(Order.id),
        func.coalesce(func.sum(case((paid, 1), else_=0)), 0),
        func.coalesce(func.sum(case((paid, Order.total_fen), else_=0)), 0),
        func.coalesce(func.sum(Order.refunded_fen), 0),
    ).where(*conditions)
