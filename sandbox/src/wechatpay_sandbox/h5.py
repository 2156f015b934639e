"""The H5 cashier behind h5_url: WeChat's checks of the page that sent the payer, then 支付 / 取消.

WeChat checks, in this order: not inside WeChat; the h5_url is at most 5 minutes old; the request has a
Referer; the Referer's and redirect_url's hosts are registered H5 支付域名. Either button ends at
redirect_url (WeChat returns there whether or not the payer paid); without one, a result page.
"""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request

from . import clock, orders, registered, users
from .models import CLOSED, MWEB, NOTPAY

bp = Blueprint("h5", __name__)

OPEN_OUTSIDE_WECHAT = "请在微信外打开订单，进行支付"
EXPIRED = "支付请求已失效，请重新发起支付"
MALFORMED = "商家参数格式有误，请联系商家解决"
UNREGISTERED = "商家存在未配置的参数，请联系商家解决"


def _rt():
    return current_app.extensions["sandbox"]


def _message(text: str, *, error: bool = True, redirect_url: str | None = None):
    return render_template("h5_message.html", text=text, error=error, redirect_url=redirect_url)


def _order(session, values):
    """The H5 order the prepay_id and package name, or None."""
    order = orders.find_by_prepay_id(session, values.get("prepay_id"))
    if order is None or order.trade_type != MWEB or values.get("package") != order.h5_package:
        return None
    return order


def _unpayable(order, now) -> str | None:
    if order.trade_state == CLOSED:
        return "订单已关闭"
    if order.trade_state != NOTPAY:
        return "订单已支付，请勿重复支付"
    if orders.past_time_expire(order, now):
        return "订单已过期，无法支付"
    return None


@bp.get(orders.H5_PATH)
def cashier():
    rt = _rt()
    args = request.args
    redirect_url = args.get("redirect_url") or None
    if "MicroMessenger" in request.headers.get("User-Agent", ""):
        return _message(OPEN_OUTSIDE_WECHAT)
    now = clock.now()
    with rt.db.read() as session:
        order = _order(session, args)
        if order is None:
            return _message(MALFORMED)
        if now >= order.prompt_expires_at:
            return _message(EXPIRED)
        referer = request.headers.get("Referer")
        if not referer:
            return _message(MALFORMED)
        if not registered.domain_registered(referer, rt.h5_domains) or (
                redirect_url is not None and not registered.domain_registered(redirect_url, rt.h5_domains)):
            return _message(UNREGISTERED)
        problem = _unpayable(order, now)
        if problem:
            return _message(problem, redirect_url=redirect_url)
        return render_template("h5_cashier.html", order=order, rt=rt, redirect_url=redirect_url)


def _finish(pay: bool):
    """Pay (or not), then go back to redirect_url as WeChat does, or show the result."""
    rt = _rt()
    form = request.form
    redirect_url = form.get("redirect_url") or None
    if redirect_url is not None and not registered.domain_registered(redirect_url, rt.h5_domains):
        return _message(UNREGISTERED)
    now = clock.now()
    try:
        with rt.db.write() as session:
            order = _order(session, form)
            if order is None:
                return _message(MALFORMED)
            if now >= order.prompt_expires_at:
                return _message(EXPIRED, redirect_url=redirect_url)
            problem = _unpayable(order, now) if pay else None
            if problem:
                return _message(problem, redirect_url=redirect_url)
            if pay:
                orders.pay(session, rt, order, now, user=users.from_cookie(request.cookies))
            elif order.trade_state == NOTPAY:
                orders.cancel(order, now)
    except orders.Conflict as conflict:
        return _message(conflict.message, redirect_url=redirect_url)
    if redirect_url is not None:
        return redirect(redirect_url, 303)
    return _message("支付成功" if pay else "已取消支付", error=False)


@bp.post("/sandbox/h5/pay")
def pay():
    return _finish(pay=True)


@bp.post("/sandbox/h5/cancel")
def cancel():
    return _finish(pay=False)
