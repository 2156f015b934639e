"""Human pages: overview, the customer's phone (scan = paste a code_url), fault injection."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from . import clock, faults, notify, orders
from .models import Delivery, Order, Refund

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
}


def _rt():
    return current_app.extensions["sandbox"]


@bp.app_template_filter("yuan")
def yuan(fen: int | None) -> str:
    """Format integer fen as ¥12.34 (the sandbox's only money formatting)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


@bp.app_template_filter("cst")
def cst(moment) -> str:
    """Show an aware datetime in China time."""
    if moment is None:
        return ""
    return moment.astimezone(clock.CHINA).strftime("%Y-%m-%d %H:%M:%S")


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
        delivery_rows = session.scalars(
            select(Delivery).order_by(Delivery.created_at.desc()).limit(100)).all()
        deliveries = [notify.as_dict(row) for row in delivery_rows]
        return render_template("overview.html", rt=rt, orders=order_rows, refunds=refund_rows,
                               refund_orders=refund_orders, deliveries=deliveries,
                               public_url=rt.public_url, now=now)


@bp.get("/phone")
def phone():
    rt = _rt()
    code_url = request.args.get("code_url", "").strip()
    result = request.args.get("result")
    context = {"rt": rt, "code_url": code_url, "message": RESULTS.get(result, result), "order": None}
    if code_url:
        now = clock.now()
        with rt.db.write() as session:
            order = session.scalar(select(Order).where(Order.code_url == code_url))
            if order is not None:
                expired = orders.past_time_expire(order, now)
                context.update(order=order, code_expired=now >= order.code_url_expires_at, expired=expired,
                               payable=order.trade_state == orders.NOTPAY and not expired)
            elif not result:
                context["message"] = RESULTS["UNKNOWN_CODE"]
            return render_template("phone.html", **context)
    return render_template("phone.html", **context)


def _phone_action(action) -> str:
    rt = _rt()
    code_url = request.form.get("code_url", "").strip()
    now = clock.now()
    try:
        with rt.db.write() as session:
            order = session.scalar(select(Order).where(Order.code_url == code_url))
            if order is None:
                result = "UNKNOWN_CODE"
            elif now >= order.code_url_expires_at:
                result = "CODE_URL_EXPIRED"
            else:
                result = action(session, rt, order, now)
    except orders.Conflict as conflict:
        result = conflict.code
    return redirect(url_for("pages.phone", code_url=code_url, result=result), 303)


@bp.post("/phone/pay")
def phone_pay():
    return _phone_action(lambda session, rt, order, now: orders.pay(session, rt, order, now) and "paid")


@bp.post("/phone/cancel")
def phone_cancel():
    return _phone_action(lambda session, rt, order, now: orders.cancel(order, now) and "cancelled")


@bp.get("/faults")
def faults_page():
    with _rt().db.read() as session:
        armed = [faults.as_dict(fault) for fault in faults.armed(session)]
    return render_template("faults.html", armed=armed, api_modes=faults.API_MODES,
                           notify_modes=faults.NOTIFY_MODES, error=request.args.get("error"))


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
