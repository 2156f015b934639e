"""The checkout page: show the cart with the delivery form; on submit place the order."""
import secrets

from flask import current_app, flash, redirect, render_template, request, session, url_for

from blueprints.checkout import bp
from blueprints.checkout.forms import CheckoutForm, new_submission_token
from blueprints.customer_cookies import remember_delivery, remember_order, remembered_delivery
from core.clock import utcnow
from extensions import limiter
from services.cart import cart_lines, clear_cart
from services.checkout import (
    CheckoutError,
    TooManyPendingOrders,
    order_for_submission,
    place_order,
    shipping_for,
)

DROPPED = "购物车中有商品已下架，已为您移除，请核对后再提交。"
# Delivery details 再来一单 put in the session for the next checkout form (blueprints/orders).
PREFILL_KEY = "delivery_prefill"
# The no-JavaScript way to fill the 城市 and 区县 selects: a submit button with this name.
REGION_REFRESH = "region_refresh"


def render_checkout(form, lines, status=200, error=None):
    """The checkout page; a hidden field's error (a tampered token) shows at the top with a fresh token."""
    if form.submission_token.errors:
        error = error or form.submission_token.errors[0]
    if form.submission_token.errors or not form.submission_token.data:
        form.submission_token.data = new_submission_token()
    form.set_region_choices()
    items_fen = sum(line.line_total_fen for line in lines)
    shipping = shipping_for(items_fen)
    return render_template(
        "checkout/checkout.html", form=form, lines=lines, items_fen=items_fen, shipping=shipping,
        total_fen=items_fen + shipping.fee_fen, error=error, units=sum(line.quantity for line in lines),
    ), status


def prefilled_form() -> CheckoutForm:
    """A fresh checkout form filled with 再来一单's details, or else what this browser remembered."""
    form = CheckoutForm(formdata=None)
    form.fill(session.pop(PREFILL_KEY, None) or remembered_delivery())
    return form


def visitor_id() -> str:
    """This browser's random id, kept in its session: the per-visitor limit on unpaid orders counts by it."""
    return session.setdefault("visitor", secrets.token_hex(16))


def to_pay_page(order):
    clear_cart(session)
    remember_order(order.token)
    return redirect(url_for("pay.order", token=order.token), 303)


@bp.route("/checkout", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["RATELIMIT_CHECKOUT"], methods=["POST"])
def checkout():
    """Take the delivery details and place the order for the cart (once per submitted form)."""
    if request.method == "POST":
        # The same form sent again (a double click, a resent POST): land on the order it made.
        earlier = order_for_submission(request.form.get("submission_token"))
        if earlier is not None:
            return to_pay_page(earlier)
    lines, dropped = cart_lines(session)
    if not lines:
        flash("购物车是空的，先去挑选商品吧。", "warning")
        return redirect(url_for("cart.show"), 303)
    if request.method != "POST":
        if any(line.problem for line in lines):
            flash("购物车中有商品库存不足，请先修改数量。", "warning")
            return redirect(url_for("cart.show"), 303)
        return render_checkout(prefilled_form(), lines, error=DROPPED if dropped else None)
    form = CheckoutForm()
    if REGION_REFRESH in request.form:
        # 更新城市和区县 without JavaScript: show the choices for what was picked, keep everything typed.
        return render_checkout(form, lines)
    form.set_region_choices()
    if not form.validate():
        return render_checkout(form, lines, 400)
    if dropped:
        return render_checkout(form, lines, 409, error=DROPPED)
    try:
        order = place_order(
            {line.product.id: line.quantity for line in lines}, form.delivery(), utcnow(),
            submission_token=form.submission_token.data or None, visitor_id=visitor_id(),
            client_ip=request.remote_addr,
        )
    except TooManyPendingOrders as error:
        page, status = render_checkout(form, lines, 429, error=error.message)
        return page, status, {"Retry-After": str(error.retry_after)}
    except CheckoutError as error:
        return render_checkout(form, lines, 409, error=error.message)
    # The pay page places the payment by the way that fits this browser (a QR code, WeChat's pay sheet,
    # WeChat's cashier); whatever happens there, the order and its stock are kept.
    remember_delivery(form.delivery() if form.remember.data else None)
    return to_pay_page(order)
