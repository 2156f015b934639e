"""Catalog: categories and the products a customer can buy, and the search terms products are found by."""
from sqlalchemy import CheckConstraint, ForeignKey, String, Text, delete, event, insert, inspect, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.search import TERM_MAX_LENGTH, weighted_terms
from models.base import Base

# How much a query term counts when found in each field (core.search.weighted_terms adds them up).
NAME_WEIGHT, CATEGORY_WEIGHT, DESCRIPTION_WEIGHT = 4, 2, 1


class Category(Base):
    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    position: Mapped[int] = mapped_column(default=0)

    products: Mapped[list["Product"]] = relationship(back_populates="category")


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("price_fen >= 0", name="price_fen_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price_fen: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    # File name under static/products/ (generated locally by `flask seed-demo`).
    image: Mapped[str | None] = mapped_column(String(120))
    # What the image shows, for people who cannot see it (the product page's alt; cards keep alt="").
    image_alt: Mapped[str] = mapped_column(String(120), default="", server_default="")
    active: Mapped[bool] = mapped_column(default=True)

    category: Mapped[Category] = relationship(back_populates="products")

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


class ProductSearchTerm(Base):
    """One term a product is found under, with its weight: the search index, kept by the session event below."""

    __tablename__ = "product_search_term"

    term: Mapped[str] = mapped_column(String(TERM_MAX_LENGTH), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)
    weight: Mapped[int]


def product_terms(name: str, category_name: str, description: str) -> dict[str, int]:
    """The search terms of one product and their weights."""
    return weighted_terms([(name, NAME_WEIGHT), (category_name, CATEGORY_WEIGHT), (description, DESCRIPTION_WEIGHT)])


def reindex_products(connection, product_ids=None) -> int:
    """Write the search terms of the given products (all when None) on ``connection``; return how many.

    Runs inside the caller's transaction: the session event below calls it right after the flush that changes a
    product's name, description or category, so the index never disagrees with what is committed. (A bulk
    UPDATE statement bypasses the ORM: call this for the products it changed.)
    """
    query = select(Product.id, Product.name, Product.description, Category.name).join(Category)
    if product_ids is not None:
        query = query.where(Product.id.in_(list(product_ids)))
    rows = connection.execute(query).all()
    if not rows:
        return 0
    ids = [row[0] for row in rows]
    table = ProductSearchTerm.__table__
    for start in range(0, len(ids), 500):
        connection.execute(delete(table).where(table.c.product_id.in_(ids[start:start + 500])))
    batch = []
    for product_id, name, description, category_name in rows:
        for term, weight in product_terms(name, category_name, description or "").items():
            batch.append({"term": term, "product_id": product_id, "weight": weight})
            if len(batch) >= 5000:
                connection.execute(insert(table), batch)
                batch = []
    if batch:
        connection.execute(insert(table), batch)
    return len(ids)


SEARCHED_PRODUCT_FIELDS = ("name", "description", "category_id", "category")


@event.listens_for(Session, "after_flush")
def reindex_flushed_products(session, _flush_context):
    """Reindex, once per flush, every product added or changed in name, description or category, and the
    products of a renamed category: one DELETE and one bulk INSERT for a whole batch of products."""
    product_ids, category_ids = set(), set()
    for instance in session.new:
        if isinstance(instance, Product):
            product_ids.add(instance.id)
    for instance in session.dirty:
        state = inspect(instance)
        if isinstance(instance, Product):
            if any(state.attrs[field].history.has_changes() for field in SEARCHED_PRODUCT_FIELDS):
                product_ids.add(instance.id)
        elif isinstance(instance, Category) and state.attrs.name.history.has_changes():
            category_ids.add(instance.id)
    if category_ids:
        product_ids.update(session.connection().execute(
            select(Product.id).where(Product.category_id.in_(category_ids))).scalars())
    if product_ids:
        reindex_products(session.connection(), product_ids)
