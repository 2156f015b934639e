"""The customer's order and pay pages: the way of paying that fits the browser, switching to another,
WeChat's H5 cashier and its return page, the status poll, and the customer's cancel."""
from urllib.parse import quote

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from blueprints.forms import EmptyForm
from blueprints.orders.timeline import is_payable, order_page_context
from blueprints.page_cache import must_render
from blueprints.pay import bp
from blueprints.pay.active_queries import active_queries
from blueprints.pay.channels import channels_for, in_wechat
from blueprints.pay.page_cache import cached_pay_page, fingerprint, store_pay_page
from blueprints.pay.status_poll import STATUS_COLUMNS, answer, may_ask_wechat
from blueprints.pay.wechat_login import OPENID_KEY, jsapi_available
from core.clock import utcnow
from core.vocabulary import PAID_STATUSES, AttemptStatus, EventKind, OrderStatus, Outcome, PaymentChannel
from extensions import db, limiter
from http_policy import origin, page_policy
from models import Order
from payments import PaymentError
from payments.qr import qr_data_uri
from services.attempts import jsapi_parameters, open_attempt
from services.payment import PaymentMismatch, claim_active_query, close_order, refresh_order

NO_SCRIPT_REFRESH_SECONDS = 20  # often enough to see a payment, rarely enough not to lose a reader's place


def order_by_token(token):
    return db.first_or_404(select(Order).filter_by(token=token))


def seconds_left(order, now):
    return max(0, int((order.expires_at - now).total_seconds()))


def pay_action_limit():
    return current_app.config["RATELIMIT_PAY_ACTIONS"]


def browser_channels() -> list[PaymentChannel]:
    return channels_for(request.user_agent.string, jsapi_available())


def chosen_channel(order, channels) -> PaymentChannel:
    """The customer's choice (?via=), else the way already started if this browser can use it, else the first."""
    via = request.args.get("via")
    if via in channels:
        return PaymentChannel(via)
    started = [attempt.channel for attempt in order.attempts if attempt.status == AttemptStatus.OPEN]
    return next((PaymentChannel(channel) for channel in reversed(started) if channel in channels), channels[0])


def final_page(order, now):
    """The page for an order that can no longer be paid (paid, closed or past its deadline), or None."""
    if order.status in PAID_STATUSES:
        return redirect(url_for("pay.success", token=order.token))
    if order.status == OrderStatus.CLOSED:
        return render_template("pay/closed.html", order=order)
    if seconds_left(order, now) == 0:
        return render_template("pay/expired.html", order=order, refresh=NO_SCRIPT_REFRESH_SECONDS)
    return None


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
    """The pay page: a QR code on computers, WeChat's pay sheet inside WeChat, WeChat's cashier elsewhere."""
    channels = browser_channels()
    state = () if must_render() else fingerprint(db.engine, token)  # nothing to compare with while the cache is off
    cached = cached_pay_page(token, channels, state)
    if cached is not None:
        return cached
    order = order_by_token(token)
    now = utcnow()
    page = final_page(order, now)
    if page is not None:
        return page
    channel = chosen_channel(order, channels)
    openid = session.get(OPENID_KEY)
    if channel == PaymentChannel.JSAPI and not openid:
        return redirect(url_for("pay.wechat_login", token=token))
    attempt = None
    if channel != PaymentChannel.H5:  # an h5_url lives 5 minutes: placed when the customer taps 前往微信支付
        try:
            attempt = open_attempt(order, channel, now, openid=openid, client_ip=request.remote_addr)
        except (PaymentError, PaymentMismatch, SQLAlchemyError):
            return render_template("pay/retry.html", order=order, form=EmptyForm(), channel=channel)
        if attempt is None:  # paid or closed meanwhile
            return redirect(url_for("pay.show", token=token))
    left = seconds_left(order, now)
    response = render_pay_page(order, channel, channels, attempt, left)
    store_pay_page(token, channels, state, response, channel, attempt, left)
    return response


def render_pay_page(order, channel, channels, attempt, left):
    bridge = current_app.config.get("WECHAT_JSBRIDGE_URL") if channel == PaymentChannel.JSAPI else None
    sandbox = current_app.config.get("SANDBOX_PUBLIC_URL")
    page = render_template(
        "pay/pay.html", order=order, channel=channel, attempt=attempt, seconds_left=left, form=EmptyForm(),
        others=[other for other in channels if other != channel], refresh=NO_SCRIPT_REFRESH_SECONDS,
        qr=qr_data_uri(attempt.prompt) if channel == PaymentChannel.NATIVE else None,
        jsapi=jsapi_parameters(attempt) if channel == PaymentChannel.JSAPI else None, bridge=bridge,
        phone_url=sandbox.rstrip("/") + "/phone" if sandbox and channel == PaymentChannel.NATIVE else None,
    )
    headers = {}
    if bridge:  # development only: the sandbox's bridge script, and its calls to the sandbox
        headers["Content-Security-Policy"] = page_policy(current_app.config, origin(bridge))
    if channel == PaymentChannel.H5:
        # WeChat's cashier refuses a visit without a Referer from the shop's H5 domain: send the origin.
        headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return page, 200, headers


@bp.post("/pay/<token>/switch")
@limiter.limit(pay_action_limit)
def switch(token):
    """换一种方式支付: close the way started (paid wins) and open the chosen one."""
    order = order_by_token(token)
    if not EmptyForm().validate_on_submit():
        abort(400)
    channel = request.form.get("channel")
    if channel not in browser_channels():
        abort(400, description="这种支付方式在当前浏览器中不可用。")
    if channel != PaymentChannel.JSAPI or session.get(OPENID_KEY):
        try:
            open_attempt(order, PaymentChannel(channel), utcnow(), openid=session.get(OPENID_KEY),
                         client_ip=request.remote_addr)
        except (PaymentError, PaymentMismatch, SQLAlchemyError):
            flash("暂时无法切换支付方式，请稍后再试。", "error")
            return redirect(url_for("pay.show", token=token))
    return redirect(url_for("pay.show", token=token, via=channel))


@bp.get("/pay/<token>/h5")
@limiter.limit(pay_action_limit)
def h5(token):
    """Send a phone browser to WeChat's cashier (a fresh h5_url), which returns to the return page."""
    order = order_by_token(token)
    now = utcnow()
    page = final_page(order, now)
    if page is not None:
        return page
    if in_wechat(request.user_agent.string):  # WeChat refuses H5 in its own browser: pay inside WeChat
        return redirect(url_for("pay.show", token=token))
    try:
        attempt = open_attempt(order, PaymentChannel.H5, now, client_ip=request.remote_addr)
    except (PaymentError, PaymentMismatch, SQLAlchemyError):
        return render_template("pay/retry.html", order=order, form=EmptyForm(), channel=PaymentChannel.H5)
    if attempt is None:
        return redirect(url_for("pay.show", token=token))
    back = url_for("pay.returned", token=token, _external=True)
    response = redirect(f"{attempt.prompt}&redirect_url={quote(back, safe='')}")
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"  # the cashier checks the Referer
    return response


@bp.get("/pay/<token>/return")
def returned(token):
    """Where WeChat's cashier sends the customer back, paid or not: ask, and keep checking."""
    order = order_by_token(token)
    page = final_page(order, utcnow())
    if page is not None:
        return page
    return render_template("pay/returned.html", order=order, form=EmptyForm(),
                           seconds_left=seconds_left(order, utcnow()), refresh=NO_SCRIPT_REFRESH_SECONDS)


@bp.post("/pay/<token>/check")
@limiter.limit(pay_action_limit)
def check(token):
    """已完成支付: ask WeChat Pay now instead of waiting for its notification."""
    order = order_by_token(token)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if order.status == OrderStatus.PENDING:
        try:
            refresh_order(order, utcnow(), source=EventKind.POLL_QUERY)
        except (PaymentError, PaymentMismatch, SQLAlchemyError):
            pass  # the page keeps checking; the scheduler asks too
    order = order_by_token(token)
    if order.status in PAID_STATUSES:
        return redirect(url_for("pay.success", token=token))
    flash("还没有查到您的付款。如果您已付款，请稍候片刻，页面会自动更新。", "info")
    return redirect(url_for("pay.returned", token=token))


@bp.post("/pay/<token>/retry")
@limiter.limit(pay_action_limit)
def retry(token):
    """Place the payment again (the same attempt: the same out_trade_no and parameters)."""
    order = order_by_token(token)
    if not EmptyForm().validate_on_submit():
        abort(400)
    channel = chosen_channel(order, browser_channels())
    if channel != PaymentChannel.H5 and (channel != PaymentChannel.JSAPI or session.get(OPENID_KEY)):
        try:
            open_attempt(order, channel, utcnow(), openid=session.get(OPENID_KEY), client_ip=request.remote_addr)
        except (PaymentError, PaymentMismatch, SQLAlchemyError):
            flash("微信支付暂时无法下单，请稍后再试。", "error")
    return redirect(url_for("pay.show", token=token))


@bp.get("/pay/<token>/status")
def status(token):
    """Report the order's status from the database; now and then ask WeChat Pay in the background.

    Polls that change nothing are answered before they reach Flask (blueprints/pay/status_poll.py); this
    view answers the rest, and writes only when an active query is due.
    """
    row = STATUS_COLUMNS.first(db.engine, token=token)
    if row is None:
        abort(404)
    now = utcnow()
    if may_ask_wechat(row, now) and claim_active_query(row.id, row.last_queried_at, now):
        active_queries.submit(row.id)
    return jsonify(answer(row, now))


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
    if order.status == OrderStatus.PENDING and request.form.get("confirm") != "1":
        return render_template("pay/cancel_confirm.html", order=order, form=EmptyForm())  # ask first
    if order.status != OrderStatus.PENDING:
        message, category, endpoint = CANCEL_MESSAGES_BY_STATUS[order.status]
    else:
        try:
            message, category, endpoint = CANCEL_MESSAGES[close_order(order, utcnow(), EventKind.CUSTOMER_CANCEL)]
        except (PaymentError, PaymentMismatch, SQLAlchemyError):  # logged; the order stays as it was
            message, category, endpoint = TRY_LATER
    flash(message, category)
    return redirect(url_for(endpoint, token=token))
