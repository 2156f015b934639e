"""Catalog: categories and the products a customer can buy, the owner's images of them, and the search terms
products are found by."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, and_, delete, event, insert, inspect, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.clock import utcnow
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
    # Hidden categories are not shown in the shop, nor are their products sold (Product.on_sale).
    visible: Mapped[bool] = mapped_column(default=True, server_default="1")

    products: Mapped[list["Product"]] = relationship(back_populates="category")


class Product(Base):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("price_fen >= 0", name="price_fen_not_negative"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        # A category's products in id order, and the home page's count of each category's products on sale
        # from the index alone.
        Index("ix_product_category_id_active", "category_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"))
    name: Mapped[str] = mapped_column(String(80), index=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price_fen: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    # Legacy: a file name under static/products/ (drawn by `flask seed-demo`). The owner's images are
    # ProductImage rows in the media folder; pages show those first and this one last.
    image: Mapped[str | None] = mapped_column(String(120))
    # What the image shows, for people who cannot see it (the product page's alt; cards keep alt="").
    image_alt: Mapped[str] = mapped_column(String(120), default="", server_default="")
    # On sale (True) or hidden by the owner (False).
    active: Mapped[bool] = mapped_column(default=True)

    category: Mapped[Category] = relationship(back_populates="products")
    images: Mapped[list["ProductImage"]] = relationship(
        back_populates="product", cascade="all, delete-orphan", lazy="selectin",
        order_by="[ProductImage.position, ProductImage.id]",
    )

    @property
    def in_stock(self) -> bool:
        return self.stock > 0

    @hybrid_property
    def on_sale(self) -> bool:
        """The one rule for "a customer may see and buy it": the product is on sale and its category shown."""
        return bool(self.active and self.category.visible)

    @on_sale.inplace.expression
    @classmethod
    def _on_sale_expression(cls):
        # The shown categories are listed once per statement, not looked up for every product (a correlated
        # lookup was 10,000 of them for the home page's counts at 10,000 products: 2 ms of its 4).
        shown = select(Category.id).where(Category.visible.is_(True))
        return and_(cls.active.is_(True), cls.category_id.in_(shown))


class ProductImage(Base):
    """One picture of a product, stored in the media folder under names made from its content hash."""

    __tablename__ = "product_image"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    # The hex SHA-256 prefix naming its files: <key>-<width>.jpg for each size in services/media.SIZES.
    key: Mapped[str] = mapped_column(String(64))
    width: Mapped[int]
    height: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship(back_populates="images")



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
