"""WeixinJSBridge emulation: the script a merchant's page loads inside "WeChat", and the checks WeChat makes
when that page calls `WeixinJSBridge.invoke('getBrandWCPayRequest', ...)`.

The script (`/sandbox/jsbridge.js`) posts the call's parameters and the page's URL here (CORS, no cookies).
The sandbox checks what WeChat checks — the page's directory is a registered 支付授权目录, paySign verifies
with the merchant's key, the prepay_id is a live JSAPI order of that appid — and answers with the pay sheet
to show, or WeChat's error text. The sheet's 支付 pays the order as the phone page does.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, request

from . import clock, crypto, faults, orders, registered, validation
from .errors import ApiError
from .models import CLOSED, JSAPI, NOTPAY
from .money import yuan

bp = Blueprint("bridge", __name__, url_prefix="/sandbox")

PAY_PARAMS = ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")
PACKAGE_PREFIX = "prepay_id="


class Refused(Exception):
    """The pay sheet cannot open (or pay): the text WeChat shows; the page's callback gets :fail."""


def _rt():
    return current_app.extensions["sandbox"]


@bp.after_request
def _cors(response):
    """Any page may load the script and call these endpoints (without credentials), as in WeChat."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    if request.method == "OPTIONS":
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


@bp.get("/jsbridge.js")
def script():
    response = current_app.send_static_file("jsbridge.js")
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _body() -> dict:
    """The JSON object the script sent (as text/plain, so no preflight is needed)."""
    try:
        return validation.parse_json_object(request.get_data())
    except ApiError:
        raise Refused("参数错误") from None


def _answer(work):
    try:
        return {"ok": True, **work()}
    except Refused as refused:
        return {"ok": False, "err_msg": "get_brand_wcpay_request:fail", "message": str(refused)}


def _page_url(url) -> str:
    return url.split("#", 1)[0] if isinstance(url, str) else ""


def _check_request(rt, session, params: dict, page_url: str, now):
    """WeChat's checks of getBrandWCPayRequest, in its order; return the order or raise Refused."""
    for name in PAY_PARAMS:
        if not isinstance(params.get(name), str) or not params[name]:
            raise Refused(f"调用支付JSAPI缺少参数：{name}")
    if not registered.pay_directory_registered(page_url, rt.jsapi_pay_dirs):
        raise Refused(f"当前页面的URL未注册：{page_url}")
    if params["appId"] != rt.keys.appid:
        raise Refused("appId参数错误")
    message = "\n".join(params[name] for name in ("appId", "timeStamp", "nonceStr", "package")) + "\n"
    if params["signType"] != "RSA" or not crypto.verify(rt.merchant_public_key, message, params["paySign"]):
        raise Refused("支付验证签名失败")
    prepay_id = params["package"][len(PACKAGE_PREFIX):] if params["package"].startswith(PACKAGE_PREFIX) else ""
    order = orders.find_by_prepay_id(session, prepay_id)
    if order is None or order.trade_type != JSAPI or order.appid != params["appId"]:
        raise Refused("prepay_id无效，请重新下单")
    _check_payable(order, now)
    if now >= order.prompt_expires_at:
        raise Refused("支付请求已失效，请重新发起支付")
    return order


def _check_payable(order, now) -> None:
    if order.trade_state != NOTPAY:
        raise Refused("订单已关闭" if order.trade_state == CLOSED else "该订单已支付，请勿重复支付")
    if orders.past_time_expire(order, now):
        raise Refused("订单已过期，无法支付")


@bp.post("/jsbridge/request")
def pay_request():
    """getBrandWCPayRequest: {"params": {...}, "url": location.href} -> the sheet to show, or :fail."""
    rt = _rt()

    def work():
        body = _body()
        params = body.get("params") if isinstance(body.get("params"), dict) else {}
        now = clock.now()
        with rt.db.write() as session:
            fault = faults.take_fault(session, "bridge")  # consumed even though the call then fails
        if fault is not None:
            raise Refused("系统繁忙，请稍后再试")
        with rt.db.write() as session:
            order = _check_request(rt, session, params, _page_url(body.get("url")), now)
            order.bridge_ticket = secrets.token_urlsafe(24)  # 支付 must come from this sheet
            return {"prepay_id": order.prepay_id, "ticket": order.bridge_ticket,
                    "merchant_name": rt.merchant_name, "description": order.description,
                    "total_fen": order.total_fen, "amount": yuan(order.total_fen)}

    return _answer(work)


def _sheet_order(session, body):
    order = orders.find_by_prepay_id(session, body.get("prepay_id"))
    ticket = body.get("ticket")
    if order is None or not isinstance(ticket, str) or not order.bridge_ticket \
            or not secrets.compare_digest(ticket, order.bridge_ticket):
        raise Refused("支付会话已失效，请重新发起支付")
    return order


@bp.post("/jsbridge/pay")
def sheet_pay():
    """The sheet's 支付: {"prepay_id", "ticket"} -> the order is paid (SUCCESS + notification)."""
    rt = _rt()

    def work():
        body = _body()
        now = clock.now()
        with rt.db.write() as session:
            order = _sheet_order(session, body)
            _check_payable(order, now)
            orders.pay(session, rt, order, now)
        return {}

    return _answer(work)


@bp.post("/jsbridge/cancel")
def sheet_cancel():
    """The sheet's 取消: the order stays NOTPAY (its cancel is recorded, as on the phone page)."""
    rt = _rt()

    def work():
        body = _body()
        now = clock.now()
        with rt.db.write() as session:
            order = _sheet_order(session, body)
            order.bridge_ticket = None
            if order.trade_state == NOTPAY:
                order.cancelled_at = now
        return {}

    return _answer(work)


@bp.route("/jsbridge/<path:_>", methods=["OPTIONS"])
def preflight(_):
    return "", 204
