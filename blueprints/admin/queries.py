"""The order list's filtered SELECTs, shared by the page, its totals and the CSV export."""
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

from sqlalchemy import ColumnElement, Select, case, func, literal, select, union_all
from sqlalchemy.orm import selectinload

from blueprints.admin.forms import ATTENTION_FILTER, REFUNDED_FILTER
from core.clock import china_day_start
from core.search import query_terms
from core.vocabulary import PAID_STATUSES, OrderStatus
from extensions import db
from models import Order, OrderDayTotals, OrderNameTerm, PaymentAttempt
from models.order import HAS_REFUND

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

    @property
    def read_in_order(self) -> bool:
        """The matches are read from an index in the list's order: all but 需处理 and a search (有退款 from
        its partial index, with its totals summed from that index alone)."""
        return not self.q and self.status != ATTENTION_FILTER

    @property
    def totals_kept(self) -> bool:
        """Filtered by nothing but status and dates: the per-day totals the database keeps answer it."""
        return self.read_in_order and self.status != REFUNDED_FILTER

    @cached_property
    def name_term(self) -> str | None:
        """The one term of a search that can only be a name (a surname, a given name): its orders' page is
        read newest first from ix_order_name_term_newest. None for any other search, or none."""
        if not self.q or any(number.fullmatch(self.q) for number in (WHOLE_NUMBER, ORDER_NUMBER_PART, MOBILE_PART)):
            return None
        terms = query_terms(self.q)
        return terms[0] if len(terms) == 1 else None

    def conditions(self, search: bool = True) -> list:
        """WHERE clauses on Order for the filters (``search``: with the search's)."""
        conditions = []
        if self.status in set(OrderStatus):
            conditions.append(Order.status == self.status)
        elif self.status == REFUNDED_FILTER:
            conditions.append(HAS_REFUND)  # read from its partial index, ix_order_refunded_created_at
        elif self.status == ATTENTION_FILTER:
            conditions.append(Order.attention.is_not(None))
        if self.date_from:
            conditions.append(Order.created_at >= china_day_start(self.date_from))
        if self.date_to:
            conditions.append(Order.created_at < china_day_start(self.date_to + timedelta(days=1)))
        if self.q and search:
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
        scans = [name_matches(q)]
        if ORDER_NUMBER_PART.fullmatch(q):
            scans.append(select(Order.id).where(Order.out_trade_no.contains(q.upper(), autoescape=True)))
        if MOBILE_PART.fullmatch(q):
            scans.append(select(Order.id).where(Order.mobile.contains(q, autoescape=True)))
        return Order.id.in_(union_all(*scans))


def name_matches(q: str) -> Select:
    """The ids of orders whose contact name has every term of ``q`` (core.search: its characters' bigrams, a
    single character as itself, whole Latin words in any order, full-width letters and case folded)."""
    terms = query_terms(q)
    term = OrderNameTerm
    if len(terms) == 1:  # a surname, a whole given name: one range of the primary key
        return select(term.order_id).where(term.term == terms[0])
    return (select(term.order_id).where(term.term.in_(terms)).group_by(term.order_id)
            .having(func.count(term.term) == len(terms)))


NEWEST_FIRST = (Order.created_at.desc(), Order.id.desc())  # ix_order_created_at_id read backwards


def filtered_orders(conditions) -> Select:
    """Orders matching ``conditions``, newest first."""
    return select(Order).where(*conditions).options(selectinload(Order.items)).order_by(*NEWEST_FIRST)


def order_page(filters: OrderFilter, offset: int, limit: int) -> tuple[list[int], tuple[int, int, int, int]]:
    """The ids of up to ``limit`` orders from ``offset``, newest first, and the totals of the whole filtered
    list: (count, paid count, paid in fen, refunded in fen).

    Filtered by nothing but status and dates: the ids read in order from ix_order_created_at_id, the totals
    from the per-day totals; orders with a refund: both from their partial index. A search for one name term
    (a surname: 王 has 1,842 orders of 100,000): the ids read in order from the term's index, the totals
    summed over its orders. Otherwise (需处理, other searches)
    the matching orders are found once: one SELECT gives the page's ids with the totals over every match
    beside each (window functions, summed before the LIMIT); only a page past the end asks for the totals on
    their own.
    """
    conditions = filters.conditions()
    if filters.name_term is not None:
        term = OrderNameTerm
        ids = db.session.scalars(
            select(term.order_id).join(Order, Order.id == term.order_id)
            .where(term.term == filters.name_term, *filters.conditions(search=False))
            .order_by(term.created_at.desc(), term.order_id.desc()).offset(offset).limit(limit)).all()
        return ids, int_row(db.session.execute(live_sums(conditions)).one())
    if filters.read_in_order:
        ids = db.session.scalars(select(Order.id).where(*conditions).order_by(*NEWEST_FIRST)
                                 .offset(offset).limit(limit)).all()
        summed = kept_sums(filters) if filters.totals_kept else live_sums(conditions)
        return ids, int_row(db.session.execute(summed).one())
    rows = db.session.execute(select(Order.id, *(total.over() for total in order_sums())).where(*conditions)
                              .order_by(*NEWEST_FIRST).offset(offset).limit(limit)).all()
    if rows:
        return [row[0] for row in rows], int_row(rows[0][1:])
    return [], int_row(db.session.execute(live_sums(conditions)).one())


def order_sums() -> list:
    """The totals' SUM expressions over the orders themselves."""
    return sums(literal(1), Order.status, Order.total_fen, Order.refunded_fen)


def live_sums(conditions) -> Select:
    """The totals of the orders matching ``conditions``, summed from the orders (or an index holding them)."""
    return select(*map(or_zero, order_sums())).where(*conditions)


def kept_sums(filters: OrderFilter) -> Select:
    """The totals for ``filters`` from the per-day totals (models/order_totals.py)."""
    days = OrderDayTotals
    conditions = [days.status == filters.status] if filters.status in set(OrderStatus) else []
    if filters.date_from:
        conditions.append(days.day >= filters.date_from)
    if filters.date_to:
        conditions.append(days.day <= filters.date_to)
    return select(*map(or_zero, sums(days.order_count, days.status, days.total_fen, days.refunded_fen))
                  ).where(*conditions)


def sums(count, status, total_fen, refunded_fen) -> list:
    """SUM expressions of (count, paid count, paid in fen, refunded in fen) over rows with these columns."""
    paid = status.in_(PAID_STATUSES)
    return [func.sum(count), func.sum(case((paid, count), else_=0)), func.sum(case((paid, total_fen), else_=0)),
            func.sum(refunded_fen)]


def or_zero(total):
    return func.coalesce(total, 0)


def int_row(row) -> tuple[int, ...]:
    """PostgreSQL's SUM over integers is numeric (Decimal); the page wants plain integers."""
    return tuple(int(value) for value in row)
