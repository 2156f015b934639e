"""The owner's search by name: every order is indexed under the characters, bigrams and words of its
contact name (core.search, as the catalog's search is), so a name is found by an index lookup, not by
reading 100,000 names (blueprints/admin/queries.py).

Written with the order (the mapper's after_insert below): names never change after checkout. Orders written
with Core instead of the ORM (the bench's generator) write their terms themselves (``term_rows``).
"""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, event, insert
from sqlalchemy.orm import Mapped, mapped_column

from core.search import TERM_MAX_LENGTH, document_terms
from models.base import Base
from models.order import Order


class OrderNameTerm(Base):
    __tablename__ = "order_name_term"
    __table_args__ = (
        # A term's orders newest first, as the owner's list shows them: a page of a common surname's orders is
        # read from here without looking up and sorting all of them (blueprints/admin/queries.py).
        Index("ix_order_name_term_newest", "term", "created_at", "order_id"),
    )

    term: Mapped[str] = mapped_column(String(TERM_MAX_LENGTH), primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("order.id", ondelete="CASCADE"), primary_key=True,
                                          index=True)
    created_at: Mapped[datetime]  # the order's, which never changes


def term_rows(order_id: int, contact_name: str, created_at: datetime) -> list[dict]:
    return [{"term": term, "order_id": order_id, "created_at": created_at}
            for term in sorted(document_terms(contact_name))]


@event.listens_for(Order, "after_insert")
def index_name(_mapper, connection, order: Order) -> None:
    rows = term_rows(order.id, order.contact_name, order.created_at)
    if rows:
        connection.execute(insert(OrderNameTerm), rows)
