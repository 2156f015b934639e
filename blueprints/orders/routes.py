"""我的订单 (remembered in this browser), the lookup by order number and mobile, and 再来一单."""
from dataclasses import asdict

from flask import abort, current_app, flash, redirect, render_template, session, url_for
from sqlalchemy import select

from blueprints.checkout.routes import PREFILL_KEY
from blueprints.customer_cookies import remember_order, remembered_order_tokens
from blueprints.forms import EmptyForm
from blueprints.orders import bp
from blueprints.orders.forms import OrderLookupForm
from blueprints.orders.timeline import can_reorder, is_payable
from core.clock import utcnow
from extensions import db, limiter
from models import Order
from services.cart import refill_from_order

# The one answer for an order number that does not exist and a mobile that does not match it.
NOT_FOUND = "没有找到这笔订单，请核对订单号和下单时填写的手机号。"


@bp.get("/orders")
def mine():
    """List the orders placed (or looked up) in this browser, newest first."""
    tokens = remembered_order_tokens()
    orders = []
    if tokens:
        orders = db.session.scalars(
            select(Order).where(Order.token.in_(tokens)).order_by(Order.created_at.desc(), Order.id.desc())
        ).all()
    now = utcnow()
    return render_template("orders/mine.html", orders=orders, payable={o.id: is_payable(o, now) for o in orders})


def lookup_limit():
    return current_app.config["RATELIMIT_ORDER_LOOKUP"]


@bp.route("/orders/lookup", methods=["GET", "POST"])
@limiter.limit(lookup_limit, methods=["POST"])
def lookup():
    """Find an order by its number and the mobile it was placed with; remember it in this browser."""
    form = OrderLookupForm()
    if not form.is_submitted():
        return render_template("orders/lookup.html", form=form)
    if not form.validate():
        return render_template("orders/lookup.html", form=form), 400
    order = db.session.scalar(
        select(Order).where(Order.out_trade_no == form.out_trade_no.data, Order.mobile == form.mobile.data)
    )
    if order is None:
        return render_template("orders/lookup.html", form=form, not_found=NOT_FOUND), 404
    remember_order(order.token)
    flash("已找到订单，并记入本机的“我的订单”。", "success")
    return redirect(url_for("pay.order", token=order.token), 303)


@bp.post("/orders/<token>/reorder")
def reorder(token):
    """再来一单: put the order's items back in the cart (today's prices and stock) and its delivery details
    in the next checkout form."""
    order = db.first_or_404(select(Order).filter_by(token=token))
    if not EmptyForm().validate_on_submit():
        abort(400, description="请求无效，请刷新页面后重试。")
    if not can_reorder(order, utcnow()):
        flash("这笔订单还在等待付款，请直接付款。", "info")
        return redirect(url_for("pay.show", token=token), 303)
    refill = refill_from_order(session, order.items)
    session[PREFILL_KEY] = asdict(order.delivery)
    if refill.units:
        flash(f"已将 {refill.units} 件商品放入购物车，价格和库存以今天为准；收货信息已为您填好。", "success")
    else:
        flash("订单中的商品都无法购买了，没有放入购物车。", "warning")
    for change in refill.changes:
        flash(change, "warning")
    return redirect(url_for("cart.show"), 303)
