"""Cart views: show the cart; add, update, remove and clear are POST-only."""
from flask import abort, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select

from blueprints.cart import bp
from blueprints.cart.forms import AddToCartForm, RemoveLineForm, UpdateLineForm, first_error
from blueprints.forms import EmptyForm
from extensions import db
from models import Product
from services.cart import (
    MAX_LINES,
    cart_lines,
    clear_cart,
    read_cart,
    remove_line,
    set_quantity,
    stock_problem,
)
from services.checkout import shipping_for

UNKNOWN_PRODUCT = "商品不存在或已下架。"


def render_cart(lines, status=200, line_errors=None, typed=None):
    """The cart page; ``line_errors`` and ``typed`` hold a refused quantity's message and what was typed."""
    items_fen = sum(line.line_total_fen for line in lines)
    shipping = shipping_for(items_fen)
    return render_template(
        "cart/show.html", lines=lines, items_fen=items_fen, shipping=shipping, total_fen=items_fen + shipping.fee_fen,
        line_errors=line_errors or {}, typed=typed or {},
        can_checkout=bool(lines) and not any(line.problem for line in lines)
    ), status


@bp.get("")
def show():
    """Show the cart's lines and total."""
    lines, dropped = cart_lines(session)
    if dropped:
        flash("购物车中有商品已下架，已为您移除。", "warning")
    return render_cart(lines)


@bp.post("/add")
def add():
    """Add a quantity of a product to the cart."""
    form = AddToCartForm()
    valid = form.validate_on_submit()
    if form.product_id.errors:
        abort(400, description=UNKNOWN_PRODUCT)
    product = db.session.scalar(select(Product).where(Product.id == form.product_id.data, Product.on_sale))
    if product is None:
        abort(400, description=UNKNOWN_PRODUCT)
    cart = read_cart(session)
    already = cart.get(product.id, 0)
    if valid:
        problem = stock_problem(product, form.quantity.data, already)
        if problem is None and not already and len(cart) >= MAX_LINES:
            problem = f"购物车最多可放 {MAX_LINES} 种商品。"
        if problem:
            form.quantity.errors.append(problem)
            valid = False
    if not valid:
        return render_template("catalog/product.html", product=product, form=form), 400
    set_quantity(session, product.id, already + form.quantity.data)
    flash(f"已将「{product.name}」× {form.quantity.data} 加入购物车。", "success")
    return redirect(url_for("cart.show"), 303)


@bp.post("/update")
def update():
    """Change the quantity of one cart line."""
    form = UpdateLineForm()
    valid = form.validate_on_submit()
    if form.product_id.errors:
        abort(400, description=UNKNOWN_PRODUCT)
    lines, _ = cart_lines(session)
    line = next((line for line in lines if line.product.id == form.product_id.data), None)
    if line is None:
        abort(400, description="购物车中没有这件商品，它可能已下架。")
    if valid:
        problem = stock_problem(line.product, form.quantity.data)
    else:
        problem = first_error(form, "quantity") or "请求无效，请刷新页面后重试。"
    if problem:
        typed = {line.product.id: request.form.get("quantity", "")[:10]}
        return render_cart(lines, 400, {line.product.id: problem}, typed)
    set_quantity(session, line.product.id, form.quantity.data)
    flash(f"已将「{line.product.name}」的数量改为 {form.quantity.data}。", "success")
    return redirect(url_for("cart.show"), 303)


@bp.post("/remove")
def remove():
    """Remove one line from the cart."""
    form = RemoveLineForm()
    if not form.validate_on_submit():
        abort(400, description=UNKNOWN_PRODUCT)
    if remove_line(session, form.product_id.data):
        flash("已从购物车中移除。", "success")
    else:
        flash("这件商品已不在购物车中。", "info")
    return redirect(url_for("cart.show"), 303)


@bp.get("/clear")
def confirm_clear():
    """Ask before emptying the cart (清空购物车 is a link here, so it asks without JavaScript too)."""
    lines, _ = cart_lines(session)
    if not lines:
        return redirect(url_for("cart.show"), 303)
    return render_template("cart/confirm_clear.html", lines=lines, form=EmptyForm())


@bp.post("/clear")
def clear():
    """Empty the cart (the confirmation page's button)."""
    if not EmptyForm().validate_on_submit():
        abort(400, description="请求无效，请刷新页面后重试。")
    clear_cart(session)
    flash("购物车已清空。", "success")
    return redirect(url_for("cart.show"), 303)
