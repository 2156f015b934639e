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
    """Show every category that has products, with its first few products."""
    shelves = []
    categories = select(Category).filter_by(visible=True).order_by(Category.position, Category.id)
    for category in db.session.scalars(categories):
        products = db.session.scalars(
            active_products().where(Product.category_id == category.id).limit(HOME_PRODUCTS_PER_CATEGORY)
        ).all()
        if products:
            total = db.session.scalar(
                select(func.count(Product.id)).where(Product.category_id == category.id, Product.on_sale)
            )
            shelves.append((category, products, total))
    return render_template("catalog/home.html", shelves=shelves)


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
