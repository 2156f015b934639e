"""The owner's catalog: products, their images and stock edits, and categories. Each use case commits.

Slugs are made once, when a product or category is created, and never change (links shared in WeChat
keep working after a rename). Products that appear in any order are never deleted, only hidden.
"""
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from core.vocabulary import StockReason
from extensions import db
from models import Category, OrderItem, Product, ProductImage, StockLog, reindex_products
from services import media, stock
from services.use_case import use_case

SLUG_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: easy to read out and type
MAX_PRICE_FEN = 100_000_000  # ¥1,000,000.00
MAX_STOCK = 1_000_000
MAX_IMAGES = 9  # as many as a WeChat Moments post


class CatalogRefused(Exception):
    """The change was not made; the message is for the owner."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def short_id(length: int) -> str:
    return "".join(secrets.choice(SLUG_ALPHABET) for _ in range(length))


def new_slug(name: str, model, max_length: int) -> str:
    """The name's latin letters and digits (if any) and a short random id: '茶杯 XL' -> 'xl-k3m9x7'.

    A name all in Chinese gets the short id alone ('k3m9x7q2'): short to share, unique, and never changed.
    """
    latin = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:max_length - 10].strip("-")
    for _ in range(20):
        slug = f"{latin}-{short_id(6)}" if latin else short_id(8)
        if db.session.scalar(select(model.id).where(model.slug == slug)) is None:
            return slug
    raise RuntimeError("could not find a free slug")


@dataclass(frozen=True)
class ProductFields:
    name: str
    category_id: int
    price_fen: int
    description: str
    active: bool
    image_alt: str = ""  # the main image described, for screen readers (the product page)


def check_fields(fields: ProductFields) -> None:
    if not 0 <= fields.price_fen <= MAX_PRICE_FEN:
        raise CatalogRefused("价格须在 0 到 1,000,000 元之间。")
    if db.session.get(Category, fields.category_id) is None:
        raise CatalogRefused("请选择分类。")


def add_images(product_id: int, images: list[media.ProcessedImage], media_dir: str, now: datetime) -> None:
    """Store the files and add the rows after the product's current images. No commit."""
    count = db.session.scalar(select(func.count(ProductImage.id)).where(ProductImage.product_id == product_id))
    if count + len(images) > MAX_IMAGES:
        raise CatalogRefused(f"每件商品最多 {MAX_IMAGES} 张图片，现在有 {count} 张。")
    last = db.session.scalar(select(func.max(ProductImage.position)).where(ProductImage.product_id == product_id))
    position = (last or 0) + 1
    for offset, image in enumerate(images):
        media.store(image, media_dir)
        db.session.add(ProductImage(product_id=product_id, position=position + offset, key=image.key,
                                    width=image.width, height=image.height, created_at=now))


@use_case
def create_product(fields: ProductFields, initial_stock: int, images: list, media_dir: str, by: str,
                   now: datetime) -> Product:
    """Create a product with its stock (logged) and images; commit. Raises CatalogRefused."""
    check_fields(fields)
    if not 0 <= initial_stock <= MAX_STOCK:
        raise CatalogRefused(f"库存须在 0 到 {MAX_STOCK} 之间。")
    product = Product(name=fields.name, category_id=fields.category_id, price_fen=fields.price_fen,
                      description=fields.description, image_alt=fields.image_alt, active=fields.active, stock=0,
                      slug=new_slug(fields.name, Product, 80))
    db.session.add(product)
    db.session.flush()
    if initial_stock:
        stock.change_stock(product.id, initial_stock, StockReason.INITIAL, by=by, now=now)
    add_images(product.id, images, media_dir, now)
    db.session.commit()
    return product


@use_case
def update_product(product_id: int, fields: ProductFields, stock_loaded: int, new_stock: int, images: list,
                   media_dir: str, by: str, now: datetime) -> stock.StockChange | None:
    """Save the owner's edit in one transaction; commit. The stock only if it did not move since the form
    was loaded (StockRefused otherwise, with nothing saved). Returns the stock change, if any."""
    check_fields(fields)
    if not 0 <= new_stock <= MAX_STOCK:
        raise CatalogRefused(f"库存须在 0 到 {MAX_STOCK} 之间。")
    db.session.execute(
        update(Product).where(Product.id == product_id)
        .values(name=fields.name, category_id=fields.category_id, price_fen=fields.price_fen,
                description=fields.description, image_alt=fields.image_alt, active=fields.active)
    )
    reindex_products(db.session.connection(), [product_id])  # a Core UPDATE: the session event does not see it
    change = stock.set_stock(product_id, stock_loaded, new_stock, by, now)
    add_images(product_id, images, media_dir, now)
    db.session.commit()
    return change


@use_case
def set_on_sale(product_id: int, on_sale: bool) -> bool:
    """Put a product on sale or hide it; commit. False when it already was."""
    moved = db.session.execute(
        update(Product).where(Product.id == product_id, Product.active.is_not(on_sale)).values(active=on_sale)
    ).rowcount
    db.session.commit()
    return bool(moved)


def ever_ordered(product_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(OrderItem.product_id == product_id))))


@use_case
def delete_product(product_id: int, media_dir: str) -> None:
    """Delete a hidden product that no order ever held (a mistake, a test); commit. Raises CatalogRefused.

    Only hidden products: no checkout can be reserving it while it goes (their UPDATE needs it on sale).
    """
    product = db.session.get(Product, product_id)
    if product is None:
        raise CatalogRefused("商品不存在。")
    if product.active:
        raise CatalogRefused("请先下架商品，再删除。")
    if ever_ordered(product_id):
        raise CatalogRefused("这件商品出现在订单中，不能删除（订单要保留它），只能下架。")
    keys = [image.key for image in product.images]
    db.session.execute(delete(StockLog).where(StockLog.product_id == product_id))
    db.session.delete(product)
    try:
        db.session.commit()
    except IntegrityError:  # an order took it meanwhile after all
        db.session.rollback()
        raise CatalogRefused("这件商品刚刚出现在订单中，不能删除，只能下架。") from None
    delete_unused_files(keys, media_dir)


def delete_unused_files(keys, media_dir: str) -> None:
    for key in set(keys):
        if not db.session.scalar(select(exists().where(ProductImage.key == key))):
            media.delete_files(key, media_dir)


@use_case
def remove_image(product_id: int, image_id: int, media_dir: str) -> bool:
    """Remove one image from a product (its files too, when no other product shows it); commit."""
    image = db.session.scalar(select(ProductImage).filter_by(id=image_id, product_id=product_id))
    if image is None:
        return False
    key = image.key
    db.session.delete(image)
    db.session.commit()
    delete_unused_files([key], media_dir)
    return True


@use_case
def remove_legacy_image(product_id: int) -> bool:
    """Stop showing the demo picture drawn by `flask seed-demo` (the file stays in static/products); commit."""
    moved = db.session.execute(
        update(Product).where(Product.id == product_id, Product.image.is_not(None)).values(image=None)
    ).rowcount
    db.session.commit()
    return bool(moved)


@use_case
def make_main_image(product_id: int, image_id: int) -> bool:
    """Make an image the first one (the one the catalog shows); commit."""
    first = db.session.scalar(select(func.min(ProductImage.position)).where(ProductImage.product_id == product_id))
    moved = db.session.execute(
        update(ProductImage).where(ProductImage.id == image_id, ProductImage.product_id == product_id)
        .values(position=(first or 0) - 1)
    ).rowcount
    db.session.commit()
    return bool(moved)


# ---- Categories ----


def clean_category_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise CatalogRefused("请输入分类名称。")
    if len(name) > 50:
        raise CatalogRefused("分类名称最多 50 个字。")
    return name


@use_case
def create_category(name: str) -> Category:
    name = clean_category_name(name)
    if db.session.scalar(select(Category.id).where(Category.name == name)) is not None:
        raise CatalogRefused(f"已经有名为「{name}」的分类。")
    last = db.session.scalar(select(func.max(Category.position)))
    category = Category(name=name, slug=new_slug(name, Category, 50), position=(last or 0) + 1, visible=True)
    db.session.add(category)
    db.session.commit()
    return category


@use_case
def rename_category(category_id: int, name: str) -> None:
    name = clean_category_name(name)
    if db.session.scalar(select(Category.id).where(Category.name == name, Category.id != category_id)) is not None:
        raise CatalogRefused(f"已经有名为「{name}」的分类。")
    if not db.session.execute(update(Category).where(Category.id == category_id).values(name=name)).rowcount:
        raise CatalogRefused("分类不存在。")
    reindex_products(db.session.connection(),  # its products are also found by the category's name
                     db.session.scalars(select(Product.id).where(Product.category_id == category_id)).all())
    db.session.commit()


@use_case
def move_category(category_id: int, step: int) -> bool:
    """Swap a category with its neighbour above (step -1) or below (+1); commit. False at either end."""
    ordered = list(db.session.scalars(select(Category).order_by(Category.position, Category.id)))
    index = next((i for i, category in enumerate(ordered) if category.id == category_id), None)
    if index is None or not 0 <= index + step < len(ordered):
        return False
    ordered[index], ordered[index + step] = ordered[index + step], ordered[index]
    for position, category in enumerate(ordered):
        category.position = position
    db.session.commit()
    return True


@use_case
def set_category_visible(category_id: int, visible: bool) -> bool:
    moved = db.session.execute(
        update(Category).where(Category.id == category_id, Category.visible.is_not(visible)).values(visible=visible)
    ).rowcount
    db.session.commit()
    return bool(moved)
