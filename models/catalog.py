"""Catalog: categories and the products a customer can buy, with the owner's images of them."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, and_, select
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from models.base import Base


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
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), index=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    price_fen: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    # Legacy: a file name under static/products/ (drawn by `flask seed-demo`). The owner's images are
    # ProductImage rows in the media folder; pages show those first and this one last.
    image: Mapped[str | None] = mapped_column(String(120))
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
        category_shown = select(Category.visible).where(Category.id == cls.category_id).correlate(cls)
        return and_(cls.active.is_(True), category_shown.scalar_subquery().is_(True))


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
