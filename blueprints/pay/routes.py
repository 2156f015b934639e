"""The customer's order and pay pages, the status poll and the WeChat Pay notification endpoint."""
import logging
from concurrent.futures import ThreadPoolExecutor

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from blueprints.pay import bp
from blueprints.forms import EmptyForm
from extensions import csrf, db
from models import Order, OrderStatus, utcnow
from payments import NotificationRejected, PaymentError, get_gateway
from payments.qr import qr_data_uri
from payments.wechatpay_v3 import NOTIFICATION_MAX_BYTES
from services.notifications import handle_notification
from services.payment import claim_active_query, close_order, place_native_order, refresh_order

log = logging.getLogger("shop.payments")
# Active queries triggered by status polls run here, so a poll never waits on WeChat Pay.
active_queries = ThreadPoolExecutor(max_workers=4, thread_name_prefix="active-query")


def order_by_token(token):
    return db.first_or_404(select(Order).filter_by(token=token))


def seconds_left(order, now):
    return max(0, int((order.deadline - now).total_seconds()))


@bp.get("/orders/<token>")
def order(token):
    """Show an order; while it can still be paid, that is the pay page."""
    order = order_by_token(token)
    if order.status == OrderStatus.PENDING:
        return redirect(url_for("pay.show", token=token))
    return render_template("pay/order.html", order=order, form=EmptyForm())


@bp.get("/pay/<token>")
def show(token):
    """Show the QR code and countdown, or the retry, expired or paid state."""
    order = order_by_token(token)
    now = utcnow()
    if order.status in (OrderStatus.PAID, OrderStatus.SHIPPED):
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


@bp.post("/pay/<token>/retry")
def retry(token):
    """Place the WeChat Pay order again with the same out_trade_no."""
    order = order_by_token(token)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        place_native_order(order, utcnow())
    except PaymentError:
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
            active_queries.submit(run_active_query, current_app._get_current_object(), order.id)
    return jsonify(status=state, seconds_left=left)


def run_active_query(app, order_id):
    with app.app_context():
        try:
            order = db.session.get(Order, order_id)
            if order is not None and order.status == OrderStatus.PENDING:
                refresh_order(order, utcnow(), source="poll_query")
        except Exception:  # logged, never raised: the next poll or the scheduler tries again
            log.exception("active query for order %s failed", order_id)
        finally:
            db.session.remove()


@bp.get("/pay/<token>/success")
def success(token):
    """Thank the customer once the order is paid."""
    order = order_by_token(token)
    if order.status not in (OrderStatus.PAID, OrderStatus.SHIPPED):
        return redirect(url_for("pay.show", token=token))
    return render_template("pay/success.html", order=order)


@bp.post("/pay/<token>/cancel")
def cancel(token):
    """Cancel a pending order: close it on WeChat Pay and give its stock back; paid wins."""
    order = order_by_token(token)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if order.status != OrderStatus.PENDING:
        return redirect(url_for("pay.order", token=token))
    try:
        outcome = close_order(order, utcnow(), source="customer_cancel")
    except PaymentError:
        flash("暂时无法取消订单，请稍后再试。", "error")
        return redirect(url_for("pay.show", token=token))
    if outcome == "paid":
        flash("该订单已支付成功，无法取消。", "info")
        return redirect(url_for("pay.success", token=token))
    flash("订单已取消。", "info")
    return redirect(url_for("pay.order", token=token))


@bp.post("/pay/notify")
@csrf.exempt
def notify():
    """Receive a WeChat Pay notification: verify, decrypt, check, apply once, answer 204."""
    body = request.stream.read(NOTIFICATION_MAX_BYTES + 1)
    if (request.content_length or 0) > NOTIFICATION_MAX_BYTES or len(body) > NOTIFICATION_MAX_BYTES:
        return fail(413, "body too large")
    now = utcnow()
    try:
        notification = get_gateway().parse_notification(request.headers, body, now)
    except NotificationRejected as rejected:
        log.warning("notification rejected: %s", rejected)
        return fail(401, "验签失败")
    try:
        outcome = handle_notification(notification, now)
    except NotificationRejected as rejected:
        log.warning("notification %s rejected: %s", notification.id, rejected)
        return fail(400, "通知内容与订单不符")
    except Exception:
        db.session.rollback()
        log.exception("notification %s failed", notification.id)
        return fail(500, "处理失败")
    log.info("notification id=%s event_type=%s out_trade_no=%s result=%s", notification.id,
             notification.event_type, getattr(notification.resource, "out_trade_no", None), outcome)
    return "", 204


def fail(status, message):
    return jsonify(code="FAIL", message=message), status
