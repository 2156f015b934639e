"""Catalog pages. Only active products are ever shown; out-of-stock ones are shown as such."""
from flask import current_app, render_template, request
from sqlalchemy import func, select

from blueprints.cart.forms import AddToCartForm
from blueprints.catalog import bp
from blueprints.page_cache import cached_page
from blueprints.paging import page_number
from extensions import db
from models import Category, Product
from services.search import search_products

HOME_PRODUCTS_PER_CATEGORY = 4
# Shelves on the home page; the category list above them links to every category however many there are.
HOME_SHELVES = 6
SEARCH_MAX_LENGTH = 50


def active_products():
    return select(Product).where(Product.on_sale).order_by(Product.id)


def paginate(statement):
    per_page = current_app.config["CATALOG_PAGE_SIZE"]
    return db.paginate(statement, page=page_number(), per_page=per_page, max_per_page=per_page)


def render_product_page(product, form):
    """Render a product page with its add-to-cart form."""
    return render_template("catalog/product.html", product=product, form=form)


@bp.get("/")
@cached_page
def home():
    """Show every category that has products, and a shelf of the first few products of the first ones.

    Three queries whatever the size of the catalog: the categories, their product counts, the shelves' products.
    """
    counts = dict(db.session.execute(
        select(Product.category_id, func.count(Product.id)).where(Product.on_sale).group_by(Product.category_id)
    ).all())
    categories = [(category, counts[category.id]) for category in db.session.scalars(
        select(Category).filter_by(visible=True).order_by(Category.position, Category.id)) if counts.get(category.id)]
    shelved = [category for category, _ in categories[:HOME_SHELVES]]
    ranked = (
        select(Product.id, func.row_number().over(partition_by=Product.category_id, order_by=Product.id).label("rank"))
        .where(Product.on_sale, Product.category_id.in_([category.id for category in shelved]))
        .subquery()
    )
    products = {category.id: [] for category in shelved}
    for product in db.session.scalars(select(Product).join(ranked, ranked.c.id == Product.id)
                                      .where(ranked.c.rank <= HOME_PRODUCTS_PER_CATEGORY).order_by(Product.id)):
        products[product.category_id].append(product)
    shelves = [(category, products[category.id], counts[category.id]) for category in shelved]
    return render_template("catalog/home.html", categories=categories, shelves=shelves)


@bp.get("/c/<slug>")
@cached_page
def category(slug):
    """Show one category's products, a page at a time."""
    category = db.first_or_404(select(Category).filter_by(slug=slug, visible=True))
    page = paginate(active_products().where(Product.category_id == category.id))
    return render_template("catalog/category.html", category=category, page=page)


@bp.get("/p/<slug>")
@cached_page
def product(slug):
    """Show one active product with its add-to-cart form."""
    product = db.first_or_404(select(Product).where(Product.slug == slug, Product.on_sale))
    return render_product_page(product, AddToCartForm(product_id=product.id, quantity=1))


@bp.get("/search")
def search():
    """Find active products by name, category and description, best matches first."""
    query = request.args.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    page = None
    statement = search_products(query) if query else None
    if statement is not None:
        page = paginate(statement)
    return render_template("catalog/search.html", query=query, page=page)
