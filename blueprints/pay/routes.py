"""The customer's order and pay pages, the status poll, and the customer's cancel."""

from flask import abort, current_app, flash, jsonify, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from blueprints.forms import EmptyForm
from blueprints.orders.timeline import is_payable, order_page_context
from blueprints.pay import bp
from blueprints.pay.active_queries import active_queries
from core.clock import utcnow
from core.vocabulary import PAID_STATUSES, EventKind, OrderStatus, Outcome
from extensions import db, limiter
from models import Order
from payments import PaymentError
from payments.qr import qr_data_uri
from services.payment import PaymentMismatch, claim_active_query, close_order, place_native_order


def order_by_token(token):
    return db.first_or_404(select(Order).filter_by(token=token))


def seconds_left(order, now):
    return max(0, int((order.deadline - now).total_seconds()))


@bp.get("/orders/<token>")
def order(token):
    """Show an order: its steps, items, delivery details and what to do next; while it can still be paid,
    that is the pay page."""
    order = order_by_token(token)
    if is_payable(order, utcnow()):
        return redirect(url_for("pay.show", token=token))
    return render_template("pay/order.html", order=order, form=EmptyForm(), **order_page_context(order))


@bp.get("/pay/<token>")
def show(token):
    """Show the QR code and countdown, or the retry, expired or paid state."""
    order = order_by_token(token)
    now = utcnow()
    if order.status in PAID_STATUSES:
        return redirect(url_for("pay.success", token=token))
    if order.status == OrderStatus.CLOSED:
        return render_template("pay/closed.html", order=order)
    left = seconds_left(order, now)
    if left == 0:
        return render_template("pay/expired.html", order=order)
    if not order.code_url or order.code_url_expires_at <= now:
        return render_template("pay/retry.html", order=order, form=EmptyForm())
    phone_url = None
    if current_app.config.get("SANDBOX_PUBLIC_URL"):
        phone_url = current_app.config["SANDBOX_PUBLIC_URL"].rstrip("/") + "/phone"
    return render_template(
        "pay/pay.html", order=order, qr=qr_data_uri(order.code_url), seconds_left=left,
        form=EmptyForm(), phone_url=phone_url,
    )


def pay_action_limit():
    return current_app.config["RATELIMIT_PAY_ACTIONS"]


@bp.post("/pay/<token>/retry")
@limiter.limit(pay_action_limit)
def retry(token):
    """Place the WeChat Pay order again with the same out_trade_no."""
    order = order_by_token(token)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        place_native_order(order, utcnow())
    except (PaymentError, SQLAlchemyError):
        flash("微信支付暂时无法下单，请稍后再试。", "error")
    return redirect(url_for("pay.show", token=token))


@bp.get("/pay/<token>/status")
def status(token):
    """Report the order's status from the database; now and then ask WeChat Pay in the background."""
    order = order_by_token(token)
    now = utcnow()
    left = seconds_left(order, now)
    state = order.status
    if state == OrderStatus.PENDING:
        if left == 0:
            state = "expired"
        elif claim_active_query(order, now):
            active_queries.submit(order.id)
    return jsonify(status=state, seconds_left=left)


@bp.get("/pay/<token>/success")
def success(token):
    """Thank the customer once the order is paid."""
    order = order_by_token(token)
    if order.status not in PAID_STATUSES:
        return redirect(url_for("pay.show", token=token))
    return render_template("pay/success.html", order=order)


PAID_NO_CANCEL = ("该订单已支付成功，无法取消。", "info", "pay.success")
CANCELLED = ("订单已取消。", "info", "pay.order")
TRY_LATER = ("暂时无法取消，请稍后再试。", "error", "pay.show")
# What the customer is told after a cancel, for every outcome of close_order: (message, category, page).
CANCEL_MESSAGES = {
    Outcome.PAID: PAID_NO_CANCEL,
    Outcome.ALREADY_PAID: PAID_NO_CANCEL,
    Outcome.CLOSED: CANCELLED,
    Outcome.ALREADY_CLOSED: CANCELLED,
    Outcome.UNCHANGED: TRY_LATER,
}
# The same, when the order was no longer pending when the cancel arrived (a double click, a late click).
CANCEL_MESSAGES_BY_STATUS = {
    OrderStatus.PAID: PAID_NO_CANCEL,
    OrderStatus.SHIPPED: PAID_NO_CANCEL,
    OrderStatus.CLOSED: CANCELLED,
}


@bp.post("/pay/<token>/cancel")
@limiter.limit(pay_action_limit)
def cancel(token):
    """Cancel a pending order: close it on WeChat Pay and give its stock back; paid wins."""
    order = order_by_token(token)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if order.status != OrderStatus.PENDING:
        message, category, endpoint = CANCEL_MESSAGES_BY_STATUS[order.status]
    else:
        try:
            message, category, endpoint = CANCEL_MESSAGES[close_order(order, utcnow(), EventKind.CUSTOMER_CANCEL)]
        except (PaymentError, PaymentMismatch, SQLAlchemyError):  # logged; the order stays as it was
            message, category, endpoint = TRY_LATER
    flash(message, category)
    return redirect(url_for(endpoint, token=token))
