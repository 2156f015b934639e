"""The control API (/sandbox/api/...): a loopback dev tool for tests and demos, JSON, no auth."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from . import clock, faults, notify, oauth, orders, settings, users, validation, worker
from .models import MWEB, Delivery, Order

bp = Blueprint("control", __name__, url_prefix="/sandbox/api")


def _rt():
    return current_app.extensions["sandbox"]


def _error(status: int, code: str, message: str):
    return jsonify({"error": code, "message": message}), status


def _json_object() -> dict:
    """The JSON object body; ValueError if it is something else or holds text UTF-8 cannot encode."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    if validation.unencodable_text(body) is not None:
        raise ValueError("the body holds a lone UTF-16 surrogate")
    return body


def order_dict(order, rt) -> dict:
    """The query API's Transaction plus what only the sandbox knows."""
    data = orders.transaction_json(order)
    data.update({
        "trade_type": order.trade_type,
        "description": order.description,
        "notify_url": order.notify_url,
        "code_url": order.code_url,
        "prepay_id": order.prepay_id,
        "h5_url": orders.h5_url(order, rt.public_url) if order.trade_type == MWEB else None,
        "prompt_expires_at": clock.rfc3339(order.prompt_expires_at),
        "jsapi_openid": order.jsapi_openid,
        "silent": order.silent,
        "merchant_view": orders.merchant_view(order),
        "time_expire": clock.rfc3339(order.time_expire),
        "created_at": clock.rfc3339(order.created_at),
        "closed_at": clock.rfc3339(order.closed_at),
        "close_reason": order.close_reason,
        "cancelled_at": clock.rfc3339(order.cancelled_at),
        "refunds": [orders.refund_json(refund) for refund in order.refunds],
    })
    return data


@bp.get("/info")
def info():
    rt = _rt()
    return jsonify({
        "mchid": rt.keys.mchid, "appid": rt.keys.appid,
        "merchant_serial_no": rt.keys.merchant_serial_no, "public_key_id": rt.keys.public_key_id,
        "platform_cert_serial": rt.keys.platform_cert_serial, "key_dir": str(rt.keys.directory),
        "time_scale": rt.time_scale, "key_mode": rt.key_mode,
        "notify_timeout": rt.notify_timeout, "public_url": rt.public_url,
        "merchant_name": rt.merchant_name, "default_user": users.DEFAULT_USER,
        "payer_openid": users.openid(rt.keys.appid, users.DEFAULT_USER),
    })


@bp.get("/settings")
def get_settings():
    return jsonify({"settings": settings.public(_rt().settings)})


@bp.patch("/settings")
def change_settings():
    """Change settings while running: a JSON object of SANDBOX_* names and values (as in the environment)."""
    try:
        changed = _rt().configure(_json_object())
    except ValueError as exc:
        return _error(400, "INVALID_SETTING", str(exc))
    return jsonify({"settings": settings.public(changed)})


MAX_LISTED_ORDERS = 100_000


@bp.get("/orders")
def list_orders():
    """The newest 500 orders (?limit= up to MAX_LISTED_ORDERS; ?trade_type=NATIVE|JSAPI|MWEB to filter)."""
    rt = _rt()
    raw = request.args.get("limit", "500")
    limit = int(raw) if raw.isdecimal() else 0
    if not 1 <= limit <= MAX_LISTED_ORDERS:
        return _error(400, "INVALID_REQUEST", f"limit must be between 1 and {MAX_LISTED_ORDERS}")
    query = select(Order).order_by(Order.id.desc()).limit(limit)
    if request.args.get("trade_type"):
        query = query.where(Order.trade_type == request.args["trade_type"])
    with rt.db.read() as session:
        return jsonify({"orders": [order_dict(order, rt) for order in session.scalars(query)]})


@bp.get("/orders/<out_trade_no>")
def get_order(out_trade_no: str):
    rt = _rt()
    with rt.db.read() as session:
        order = orders.find_order(session, out_trade_no)
        if order is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        return jsonify(order_dict(order, rt))


def _customer_action(find, action):
    """Run a customer's action on the order `find(session, body)` picks; the body may name the "user"
    holding the phone (the payer, except for JSAPI) and a "code_url" that must still be current."""
    rt = _rt()
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    code_url = body.get("code_url")
    user = body.get("user", users.DEFAULT_USER)
    if not users.valid_name(user):
        return _error(400, "INVALID_USER", "user must be 1-32 letters, digits, _ or -")
    now = clock.now()
    try:
        with rt.db.write() as session:
            order = find(session)
            if order is None:
                return _error(404, "ORDER_NOT_EXIST", "订单不存在")
            if code_url is not None and (code_url != order.code_url or now >= order.prompt_expires_at):
                raise orders.Conflict("CODE_URL_EXPIRED", "二维码已失效")
            action(session, rt, order, now, user, body)
            return jsonify(order_dict(order, rt))
    except orders.Conflict as conflict:
        return _error(409, conflict.code, conflict.message)


def _pay(session, rt, order, now, user, body):
    orders.pay(session, rt, order, now, user=user, silently=body.get("silently") is True)


def _cancel(session, rt, order, now, user, body):
    orders.cancel(order, now)


def _reveal(session, rt, order, now, user, body):
    """Lift a silent payment: from now on queries (and a close) see it as WeChat would."""
    order.silent, order.silent_closed_at = False, None


@bp.post("/orders/<out_trade_no>/pay")
def pay_order(out_trade_no: str):
    """The customer pays (optionally {"code_url": ...} to also require a current QR code, {"user": ...};
    {"silently": true}: no notification, and the v3 API keeps showing the order unpaid until revealed)."""
    return _customer_action(lambda session: orders.find_order(session, out_trade_no), _pay)


@bp.post("/orders/<out_trade_no>/reveal")
def reveal_order(out_trade_no: str):
    """Lift a silent payment, so that a confirming query sees SUCCESS."""
    return _customer_action(lambda session: orders.find_order(session, out_trade_no), _reveal)


@bp.post("/orders/<out_trade_no>/cancel")
def cancel_order(out_trade_no: str):
    """The customer cancels on the phone; the order stays NOTPAY, as in real WeChat."""
    return _customer_action(lambda session: orders.find_order(session, out_trade_no), _cancel)


@bp.post("/prepay/<prepay_id>/pay")
def pay_prepay(prepay_id: str):
    """Pay a JSAPI or H5 order by its prepay_id, as the pay sheet or the H5 cashier would."""
    return _customer_action(lambda session: orders.find_by_prepay_id(session, prepay_id), _pay)


@bp.post("/oauth/code")
def oauth_code():
    """Issue a web-OAuth code as the authorize page would: {"user"?, "appid"?, "scope"?} ->
    {"code", "openid", "user"} (the openid counts as issued from now on)."""
    rt = _rt()
    try:
        body = _json_object()
    except ValueError:
        body = {}
    user = body.get("user", users.DEFAULT_USER)
    appid = body.get("appid", rt.keys.appid)
    scope = body.get("scope", oauth.SNSAPI_BASE)
    if not users.valid_name(user) or appid != rt.keys.appid or scope not in oauth.SCOPES:
        return _error(400, "INVALID_REQUEST", "user must be a valid name, appid the sandbox's, scope snsapi_*")
    with rt.db.write() as session:
        code, openid = oauth.issue_code(session, appid, user, scope, clock.now())
    return jsonify({"code": code, "openid": openid, "user": user})


@bp.get("/refunds/<out_refund_no>")
def get_refund(out_refund_no: str):
    with _rt().db.read() as session:
        refund = orders.find_refund(session, out_refund_no)
        if refund is None:
            return _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return jsonify(orders.refund_json(refund))


@bp.get("/deliveries")
def list_deliveries():
    """Every notification (?out_trade_no=, ?status=pending|acknowledged|failed|dropped to filter)."""
    query = select(Delivery).order_by(Delivery.created_at, Delivery.id)
    if request.args.get("out_trade_no"):
        query = query.where(Delivery.out_trade_no == request.args["out_trade_no"])
    if request.args.get("status"):
        query = query.where(Delivery.status == request.args["status"])
    with _rt().db.read() as session:
        return jsonify({"deliveries": [notify.as_dict(row) for row in session.scalars(query)]})


@bp.post("/deliveries/run")
def run_deliveries():
    """Send every due notification now, synchronously (tests without the worker)."""
    return jsonify({"ran": worker.run_due(_rt())})


@bp.get("/faults")
def list_faults():
    with _rt().db.read() as session:
        return jsonify({"faults": [faults.as_dict(fault) for fault in faults.armed(session)]})


@bp.post("/faults")
def arm_fault():
    try:
        spec = _json_object()
        with _rt().db.write() as session:
            fault = faults.arm(session, spec)
            body = faults.as_dict(fault)
    except ValueError as exc:
        return _error(400, "INVALID_FAULT", str(exc))
    return jsonify({"fault": body}), 201


@bp.delete("/faults")
def clear_faults():
    with _rt().db.write() as session:
        return jsonify({"cleared": faults.clear(session)})
