"""Human pages: overview, the customer's phone (scan = paste a code_url; who holds it), fault injection."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from . import clock, faults, notify, orders, users
from .models import Delivery, Order, Refund
from .money import yuan

bp = Blueprint("pages", __name__)

RESULTS = {
    "paid": "支付成功，商户将收到支付通知。",
    "cancelled": "已取消支付。订单在商户侧仍为“未支付”，与真实微信一致。",
    "ORDERPAID": "订单已支付，无需重复支付。",
    "ORDER_EXPIRED": "订单已过期，无法支付。",
    "ORDER_CLOSED": "订单已关闭，无法支付。",
    "CODE_URL_EXPIRED": "二维码已过期，请在商户页面刷新二维码。",
    "NOT_PAYABLE": "订单当前状态不能取消。",
    "UNKNOWN_CODE": "二维码无效：沙箱中没有这个订单。",
    "BAD_USER": "用户名只能是 1-32 个字母、数字、_ 或 -。",
}


def _rt():
    return current_app.extensions["sandbox"]


bp.add_app_template_filter(yuan, "yuan")


bp.add_app_template_filter(clock.beijing_text, "cst")


@bp.get("/")
def overview():
    rt = _rt()
    now = clock.now()
    with rt.db.write() as session:
        orders.settle_due_refunds(session, rt, now)
    with rt.db.read() as session:
        order_rows = session.scalars(select(Order).order_by(Order.id.desc()).limit(100)).all()
        refund_rows = session.scalars(select(Refund).order_by(Refund.id.desc()).limit(100)).all()
        refund_orders = {refund.id: refund.order.out_trade_no for refund in refund_rows}
        h5_urls = {order.id: orders.h5_url(order, rt.public_url) for order in order_rows if order.prepay_id}
        delivery_rows = session.scalars(
            select(Delivery).order_by(Delivery.created_at.desc()).limit(100)).all()
        deliveries = [notify.as_dict(row) for row in delivery_rows]
        return render_template("overview.html", rt=rt, orders=order_rows, refunds=refund_rows,
                               refund_orders=refund_orders, deliveries=deliveries,
                               public_url=rt.public_url, now=now, h5_urls=h5_urls)


@bp.get("/phone")
def phone():
    rt = _rt()
    code_url = request.args.get("code_url", "").strip()
    result = request.args.get("result")
    context = {"rt": rt, "code_url": code_url, "message": RESULTS.get(result, result), "order": None,
               "user": users.from_cookie(request.cookies)}
    if code_url:
        now = clock.now()
        with rt.db.write() as session:
            order = session.scalar(select(Order).where(Order.code_url == code_url))
            if order is not None:
                expired = orders.past_time_expire(order, now)
                context.update(order=order, code_expired=now >= order.prompt_expires_at, expired=expired,
                               payable=order.trade_state == orders.NOTPAY and not expired)
            elif not result:
                context["message"] = RESULTS["UNKNOWN_CODE"]
            return render_template("phone.html", **context)
    return render_template("phone.html", **context)


def _phone_action(action) -> str:
    rt = _rt()
    code_url = request.form.get("code_url", "").strip()
    user = users.from_cookie(request.cookies)
    now = clock.now()
    try:
        with rt.db.write() as session:
            order = session.scalar(select(Order).where(Order.code_url == code_url))
            if order is None:
                result = "UNKNOWN_CODE"
            elif now >= order.prompt_expires_at:
                result = "CODE_URL_EXPIRED"
            else:
                result = action(session, rt, order, now, user)
    except orders.Conflict as conflict:
        result = conflict.code
    return redirect(url_for("pages.phone", code_url=code_url, result=result), 303)


@bp.post("/phone/pay")
def phone_pay():
    return _phone_action(lambda session, rt, order, now, user: orders.pay(session, rt, order, now, user=user)
                         and "paid")


@bp.post("/phone/cancel")
def phone_cancel():
    return _phone_action(lambda session, rt, order, now, user: orders.cancel(order, now) and "cancelled")


@bp.post("/phone/user")
def phone_user():
    """Hand the phone to another WeChat user (a cookie on the sandbox's origin): OAuth, the phone page
    and the H5 cashier then act as that user, with that user's openid."""
    name = request.form.get("user", "").strip() or users.DEFAULT_USER
    code_url = request.form.get("code_url", "").strip()
    if not users.valid_name(name):
        return redirect(url_for("pages.phone", code_url=code_url or None, result="BAD_USER"), 303)
    response = redirect(url_for("pages.phone", code_url=code_url or None), 303)
    response.set_cookie(users.COOKIE, name, max_age=365 * 24 * 3600, httponly=True, samesite="Lax")
    return response


@bp.get("/faults")
def faults_page():
    with _rt().db.read() as session:
        armed = [faults.as_dict(fault) for fault in faults.armed(session)]
    return render_template("faults.html", armed=armed, api_modes=faults.API_MODES,
                           notify_modes=faults.NOTIFY_MODES, oauth_modes=faults.OAUTH_MODES,
                           bridge_modes=faults.BRIDGE_MODES, bill_modes=faults.BILL_MODES,
                           error=request.args.get("error"))


@bp.post("/faults")
def faults_arm():
    spec = {key: value for key, value in request.form.items() if value != ""}
    try:
        with _rt().db.write() as session:
            faults.arm(session, spec)
    except ValueError as exc:
        return redirect(url_for("pages.faults_page", error=str(exc)), 303)
    return redirect(url_for("pages.faults_page"), 303)


@bp.post("/faults/clear")
def faults_clear():
    with _rt().db.write() as session:
        faults.clear(session)
    return redirect(url_for("pages.faults_page"), 303)
