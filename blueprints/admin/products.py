"""The owner's products: the list, create and edit (with images and stock), stock changes, hide and delete.

The product form may carry images, so it alone reads a bigger request: its views are exempt from the
app-wide CSRF check, set ``request.max_content_length`` and then run that check themselves.
"""
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms.fields.choices import SelectChoice

from blueprints.admin import bp
from blueprints.admin.catalog_forms import (
    HIDDEN_FILTER,
    IMAGES_PER_UPLOAD,
    ON_SALE_FILTER,
    CategoryForm,
    ProductFilterForm,
    ProductForm,
    StockAdjustForm,
)
from blueprints.forms import EmptyForm
from blueprints.paging import page_number
from core.clock import utcnow
from core.money import fen_to_yuan
from core.vocabulary import StockReason
from extensions import csrf, db
from models import Category, Product, StockLog
from services import media, products, stock

PAGE_SIZE = 30
STOCK_LOG_ROWS = 50


def upload_limit() -> int:
    """The product form's request limit: a few images at their largest, and the text fields."""
    return current_app.config["MAX_IMAGE_BYTES"] * IMAGES_PER_UPLOAD + 256 * 1024


def too_large_message() -> str:
    limit = media.megabytes(current_app.config["MAX_IMAGE_BYTES"])
    return f"上传的内容太大，什么都没有保存：每张图片不超过 {limit}，一次最多选 {IMAGES_PER_UPLOAD} 张。"


def category_choices():
    return [SelectChoice(category.id, category.name + ("" if category.visible else "（已隐藏）"))
            for category in db.session.scalars(select(Category).order_by(Category.position, Category.id))]


@bp.get("/products")
def product_list():
    """Products with search, category and state filters, their stock and the units pending orders hold."""
    form = ProductFilterForm(request.args)
    form.category.choices = [SelectChoice("", "全部分类")] + [SelectChoice(str(choice.value), choice.label)
                                                             for choice in category_choices()]
    if not form.validate():
        return render_template("admin/products.html", form=form, page=None, held={}, args={}), 400
    query = select(Product).join(Category).order_by(Category.position, Product.id)
    q = (form.q.data or "").strip()
    if q:
        query = query.where(Product.name.icontains(q, autoescape=True))
    if form.category.data:
        query = query.where(Product.category_id == int(form.category.data))
    if form.state.data == ON_SALE_FILTER:
        query = query.where(Product.on_sale)
    elif form.state.data == HIDDEN_FILTER:
        query = query.where(~Product.on_sale)
    page = db.paginate(query, page=page_number(), per_page=PAGE_SIZE, error_out=False)
    held = stock.units_held_by_pending_orders(product.id for product in page.items)
    args = {key: value for key, value in {"q": q, "category": form.category.data, "state": form.state.data}.items()
            if value}
    has_categories = db.session.scalar(select(func.count(Category.id))) > 0
    return render_template("admin/products.html", form=form, page=page, held=held, args=args,
                           has_categories=has_categories)


def read_product_form(form: ProductForm) -> products.ProductFields:
    return products.ProductFields(
        name=form.name.data.strip(), category_id=form.category_id.data, price_fen=form.price_fen,
        description=(form.description.data or "").strip(), image_alt=(form.image_alt.data or "").strip(),
        active=bool(form.active.data),
    )


def process_uploads(form: ProductForm) -> list | None:
    """The chosen images, checked and re-encoded; None (with the form's errors set) if any is refused."""
    uploads = form.uploads()
    if len(uploads) > IMAGES_PER_UPLOAD:
        form.images.errors.append(f"一次最多上传 {IMAGES_PER_UPLOAD} 张图片。")
        return None
    processed = []
    for upload in uploads:
        try:
            processed.append(media.process(upload.stream, upload.filename, current_app.config["MAX_IMAGE_BYTES"]))
        except media.ImageRefused as refused:
            form.images.errors.append(refused.message)
    return None if form.images.errors else processed


def protected_upload_form():
    """Raise the request limit for this form only, then check CSRF (the app-wide check is skipped here)."""
    check_csrf_with_limit(upload_limit())


def check_csrf_with_limit(max_bytes: int) -> None:
    """Read the form under ``max_bytes`` and run the CSRF check the app-wide hook skipped for this view.

    Raises RequestEntityTooLarge (the body is bigger) or CSRFError (a 400 page, like every other form).
    """
    request.max_content_length = max_bytes
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        csrf.protect()
    else:
        request.form  # noqa: B018  (still read it under the limit)


def render_new(form, status=200, error=None):
    return render_template("admin/product_form.html", form=form, product=None, error=error), status


@bp.route("/products/new", methods=["GET", "POST"])
@csrf.exempt
def new_product():
    """Create a product: name, category, price in yuan, stock, description, images, on sale or hidden."""
    if request.method == "POST":
        try:
            protected_upload_form()
        except RequestEntityTooLarge:
            form = ProductForm(formdata=None)
            form.category_id.choices = category_choices()
            return render_new(form, 413, too_large_message())
    form = ProductForm()
    form.category_id.choices = category_choices()
    if not form.category_id.choices:
        flash("请先建一个分类，再添加商品。", "info")
        return redirect(url_for("admin.categories"))
    if request.method == "GET":
        form.category_id.data = request.args.get("category", type=int) or form.category_id.choices[0].value
        form.stock.data = 0
        return render_new(form)
    if not form.validate():
        return render_new(form, 400)
    images = process_uploads(form)
    if images is None:
        return render_new(form, 400)
    try:
        product = products.create_product(read_product_form(form), form.stock.data, images,
                                          current_app.config["MEDIA_DIR"], current_user.username, utcnow())
    except products.CatalogRefused as refused:
        return render_new(form, 400, refused.message)
    flash(f"商品「{product.name}」已创建{'并上架' if product.active else '（隐藏中）'}。", "success")
    return redirect(url_for("admin.product_edit", product_id=product.id), 303)


def render_edit(product, form=None, stock_form=None, status=200, error=None):
    if form is None:
        form = ProductForm(formdata=None, obj=product, price=fen_to_yuan(product.price_fen))
        form.stock_loaded.data = str(product.stock)
    if form.category_id.choices is None:
        form.category_id.choices = category_choices()
    logs = db.session.scalars(
        select(StockLog).filter_by(product_id=product.id).order_by(StockLog.id.desc()).limit(STOCK_LOG_ROWS)
    ).all()
    held = stock.units_held_by_pending_orders([product.id]).get(product.id, 0)
    return render_template(
        "admin/product_form.html", form=form, product=product, error=error, logs=logs, held=held,
        stock_form=stock_form or StockAdjustForm(formdata=None), button=EmptyForm(),
        ever_ordered=products.ever_ordered(product.id),
    ), status


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@csrf.exempt
def product_edit(product_id):
    """Edit a product; the stock is saved only if it did not change since the page was loaded."""
    product = db.get_or_404(Product, product_id)
    if request.method == "GET":
        return render_edit(product)
    try:
        protected_upload_form()
    except RequestEntityTooLarge:
        return render_edit(product, status=413, error=too_large_message())
    form = ProductForm()
    form.category_id.choices = category_choices()
    if not form.validate():
        return render_edit(product, form, status=400)
    images = process_uploads(form)
    if images is None:
        return render_edit(product, form, status=400)
    loaded = int(form.stock_loaded.data) if form.stock_loaded.data else product.stock
    try:
        change = products.update_product(product.id, read_product_form(form), loaded, form.stock.data, images,
                                         current_app.config["MEDIA_DIR"], current_user.username, utcnow())
    except stock.StockRefused as refused:
        # Show the number the database holds now; the owner's own number stays in the field to resubmit.
        form.stock.errors.append(refused.message)
        form.stock_loaded.data = str(refused.stock)
        db.session.refresh(product)
        return render_edit(product, form, status=409)
    except products.CatalogRefused as refused:
        return render_edit(product, form, status=400, error=refused.message)
    saved = "已保存。"
    if change is not None:
        saved = f"已保存，库存改为 {change.stock_after} 件。"
    if images:
        saved += f" 新增 {len(images)} 张图片。"
    flash(saved, "success")
    return redirect(url_for("admin.product_edit", product_id=product.id), 303)


@bp.post("/products/<int:product_id>/stock")
def product_stock(product_id):
    """A relative stock change: restock (+N), write-off (-N) or a correction, with a reason."""
    product = db.get_or_404(Product, product_id)
    form = StockAdjustForm()
    if not form.validate_on_submit():
        return render_edit(product, stock_form=form, status=400)
    reason = StockReason(form.reason.data)
    quantity = form.quantity.data
    change = {StockReason.RESTOCK: abs(quantity), StockReason.WRITE_OFF: -abs(quantity)}.get(reason, quantity)
    try:
        result = stock.adjust(product.id, change, reason, (form.note.data or "").strip(), current_user.username,
                              utcnow())
    except stock.StockRefused as refused:
        form.quantity.errors.append(refused.message)
        db.session.refresh(product)
        return render_edit(product, stock_form=form, status=409 if refused.stock is not None else 400)
    flash(f"{reason.label} {result.change:+d} 件，现在库存 {result.stock_after} 件。", "success")
    return redirect(url_for("admin.product_edit", product_id=product.id) + "#stock", 303)


def checked_button(product_id: int) -> Product:
    product = db.get_or_404(Product, product_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return product


@bp.post("/products/<int:product_id>/on-sale")
def product_on_sale(product_id):
    product = checked_button(product_id)
    if products.set_on_sale(product.id, True):
        flash(f"「{product.name}」已上架。", "success")
    else:
        flash(f"「{product.name}」本来就在售。", "info")
    return redirect(request.form.get("back") == "list" and url_for("admin.product_list")
                    or url_for("admin.product_edit", product_id=product.id), 303)


@bp.post("/products/<int:product_id>/hide")
def product_hide(product_id):
    product = checked_button(product_id)
    if products.set_on_sale(product.id, False):
        flash(f"「{product.name}」已下架隐藏，顾客看不到它了（购物车里的也会被移除）。", "success")
    else:
        flash(f"「{product.name}」本来就是隐藏的。", "info")
    return redirect(request.form.get("back") == "list" and url_for("admin.product_list")
                    or url_for("admin.product_edit", product_id=product.id), 303)


@bp.post("/products/<int:product_id>/delete")
def product_delete(product_id):
    product = checked_button(product_id)
    name = product.name
    try:
        products.delete_product(product.id, current_app.config["MEDIA_DIR"])
    except products.CatalogRefused as refused:
        flash(refused.message, "error")
        return redirect(url_for("admin.product_edit", product_id=product_id), 303)
    flash(f"商品「{name}」已删除。", "success")
    return redirect(url_for("admin.product_list"), 303)


@bp.post("/products/<int:product_id>/images/<int:image_id>/delete")
def product_image_delete(product_id, image_id):
    product = checked_button(product_id)
    if products.remove_image(product.id, image_id, current_app.config["MEDIA_DIR"]):
        flash("图片已删除。", "success")
    else:
        flash("这张图片已经不在了。", "info")
    return redirect(url_for("admin.product_edit", product_id=product_id) + "#images", 303)


@bp.post("/products/<int:product_id>/images/<int:image_id>/main")
def product_image_main(product_id, image_id):
    product = checked_button(product_id)
    if products.make_main_image(product.id, image_id):
        flash("已设为主图（商品列表显示这张）。", "success")
    else:
        flash("这张图片已经不在了。", "info")
    return redirect(url_for("admin.product_edit", product_id=product_id) + "#images", 303)


@bp.post("/products/<int:product_id>/demo-image/delete")
def product_demo_image_delete(product_id):
    product = checked_button(product_id)
    if products.remove_legacy_image(product.id):
        flash("演示图片已移除。", "success")
    else:
        flash("这件商品没有演示图片。", "info")
    return redirect(url_for("admin.product_edit", product_id=product_id) + "#images", 303)


# ---- Categories ----


@bp.get("/categories")
def categories():
    """Categories in shop order, with their product counts, and the form to add one."""
    return render_categories(CategoryForm(formdata=None))


def render_categories(form, status=200, rename_errors=None):
    rows = db.session.execute(
        select(Category, func.count(Product.id)).outerjoin(Product).group_by(Category.id)
        .order_by(Category.position, Category.id)
    ).all()
    return render_template("admin/categories.html", rows=rows, form=form, button=EmptyForm(),
                           rename_errors=rename_errors or {}), status


@bp.post("/categories")
def category_create():
    form = CategoryForm()
    if not form.validate_on_submit():
        return render_categories(form, 400)
    try:
        category = products.create_category(form.name.data)
    except products.CatalogRefused as refused:
        form.name.errors.append(refused.message)
        return render_categories(form, 400)
    flash(f"分类「{category.name}」已创建，显示在最后。", "success")
    return redirect(url_for("admin.categories"), 303)


@bp.post("/categories/<int:category_id>/rename")
def category_rename(category_id):
    category = db.get_or_404(Category, category_id)
    form = CategoryForm()
    if not form.validate_on_submit():
        return render_categories(CategoryForm(formdata=None), 400,
                                 {category.id: [e for errors in form.errors.values() for e in errors]})
    try:
        products.rename_category(category.id, form.name.data)
    except products.CatalogRefused as refused:
        return render_categories(CategoryForm(formdata=None), 400, {category.id: [refused.message]})
    flash(f"分类已改名为「{form.name.data.strip()}」（链接不变）。", "success")
    return redirect(url_for("admin.categories"), 303)


@bp.post("/categories/<int:category_id>/move/<direction>")
def category_move(category_id, direction):
    category = db.get_or_404(Category, category_id)
    if direction not in ("up", "down") or not EmptyForm().validate_on_submit():
        abort(400)
    if products.move_category(category.id, -1 if direction == "up" else 1):
        flash(f"「{category.name}」已{'上移' if direction == 'up' else '下移'}。", "success")
    else:
        flash(f"「{category.name}」已经在{'最前' if direction == 'up' else '最后'}了。", "info")
    return redirect(url_for("admin.categories"), 303)


@bp.post("/categories/<int:category_id>/<action>")
def category_visibility(category_id, action):
    category = db.get_or_404(Category, category_id)
    if action not in ("show", "hide") or not EmptyForm().validate_on_submit():
        abort(400)
    visible = action == "show"
    if products.set_category_visible(category.id, visible):
        flash(f"分类「{category.name}」已显示，其中在售的商品顾客又能看到了。" if visible else
              f"分类「{category.name}」已隐藏：它和其中的商品顾客都看不到了（商品本身的上架状态不变）。", "success")
    else:
        flash(f"分类「{category.name}」本来就是{'显示' if visible else '隐藏'}的。", "info")
    return redirect(url_for("admin.categories"), 303)
