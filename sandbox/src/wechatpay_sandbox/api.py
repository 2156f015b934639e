"""The WeChat Pay API v3 routes merchants call: Native, JSAPI and H5 orders, query, close, refunds,
certificates."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import secrets
from datetime import date, timedelta

from flask import Blueprint, Flask, Response, current_app, g, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from . import auth, bills, clock, crypto, faults, orders, validation
from .errors import ApiError, frequency_limited, system_error
from .models import JSAPI, MWEB, NATIVE, BillDownload, Order

log = logging.getLogger(__name__)
bp = Blueprint("v3", __name__, url_prefix="/v3")
BILL_DOWNLOAD_TTL = timedelta(minutes=5)


def _rt():
    return current_app.extensions["sandbox"]


def json_response(body: dict, status: int = 200) -> Response:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text.encode("utf-8"), status, content_type="application/json; charset=utf-8")


def no_content() -> Response:
    response = Response(b"", 204)
    del response.headers["Content-Type"]
    return response


@bp.before_request
def _authenticate_and_inject():
    rt = _rt()
    g.auth = auth.authenticate(rt, request)
    with rt.db.write() as session:
        g.fault = faults.take_api_fault(session, request.path, request.path.endswith("/close"))
    if g.fault is not None and g.fault.mode == "system_error":
        raise system_error()
    if g.fault is not None and g.fault.mode == "frequency_limited":
        raise frequency_limited()


def _check_mchid(value, location: str) -> None:
    """The mchid a request names (body or query) must be the one that signed it: else PARAM_ERROR."""
    if not value:
        raise ApiError(400, "PARAM_ERROR", "缺少参数 mchid", {"field": "mchid", "location": location})
    if value != g.auth["mchid"]:
        raise ApiError(400, "PARAM_ERROR", "请求参数mchid与Authorization中的商户号不一致",
                       {"field": "mchid", "location": location, "value": value})


def _create_order(trade_type: str) -> Response:
    rt = _rt()
    now = clock.now()
    order_request = validation.order_request(validation.parse_json_object(request.get_data()), now, trade_type)
    _check_mchid(order_request.mchid, "body")
    with rt.db.write() as session:
        order = orders.create_order(session, rt, order_request, now)
        body = orders.prompt_json(order, rt.public_url)
    return json_response(body)


@bp.post("/pay/transactions/native")
def native_order():
    """-> {"code_url"} (valid 2 h)."""
    return _create_order(NATIVE)


@bp.post("/pay/transactions/jsapi")
def jsapi_order():
    """-> {"prepay_id"} (valid 2 h) for payer.openid, an openid issued under the appid."""
    return _create_order(JSAPI)


@bp.post("/pay/transactions/h5")
def h5_order():
    """-> {"h5_url"} (valid 5 minutes), the cashier page a phone browser is sent to."""
    return _create_order(MWEB)


@bp.get("/pay/transactions/out-trade-no/<out_trade_no>")
def query_by_out_trade_no(out_trade_no: str):
    _check_mchid(request.args.get("mchid"), "query")
    with _rt().db.read() as session:
        order = orders.find_order(session, out_trade_no)
        if order is None:
            raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
        body = orders.transaction_json(order, orders.merchant_view(order))
    return json_response(body)


@bp.get("/pay/transactions/id/<transaction_id>")
def query_by_transaction_id(transaction_id: str):
    _check_mchid(request.args.get("mchid"), "query")
    with _rt().db.read() as session:
        order = session.scalar(select(Order).where(Order.transaction_id == transaction_id))
        if order is None or order.silent:  # only paid orders have a transaction id
            raise ApiError(404, "ORDER_NOT_EXIST", "订单不存在")
        body = orders.transaction_json(order)
    return json_response(body)


@bp.post("/pay/transactions/out-trade-no/<out_trade_no>/close")
def close_order(out_trade_no: str):
    rt = _rt()
    _check_mchid(validation.parse_json_object(request.get_data()).get("mchid"), "body")
    paid_just_before = g.fault is not None and g.fault.mode == "pay_on_close"
    with rt.db.write() as session:
        error = orders.close(session, rt, out_trade_no, clock.now(), paid_just_before)
    if error is not None:
        raise error
    return no_content()


@bp.post("/refund/domestic/refunds")
def create_refund():
    rt = _rt()
    refund_request = validation.refund_request(validation.parse_json_object(request.get_data()))
    with rt.db.write() as session:
        body = orders.refund_json(orders.create_refund(session, rt, refund_request, clock.now()))
    return json_response(body)


@bp.get("/refund/domestic/refunds/<out_refund_no>")
def query_refund(out_refund_no: str):
    rt = _rt()
    now = clock.now()
    with rt.db.write() as session:
        refund = orders.find_refund(session, out_refund_no)
        if refund is None:
            raise ApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        if refund.status == orders.PROCESSING and now >= refund.settle_at:
            orders.settle_refund(session, rt, refund, now)
        body = orders.refund_json(refund)
    return json_response(body)


def _bill_request(args) -> tuple[date, bool]:
    """bill_date (YYYY-MM-DD, within the last three months, not in the future), bill_type, tar_type."""
    day = bills.parse_date(args.get("bill_date"))
    if day is None:
        raise ApiError(400, "PARAM_ERROR", "bill_date格式错误，应为YYYY-MM-DD",
                       {"field": "bill_date", "location": "query", "value": args.get("bill_date")})
    today = bills.beijing_date(clock.now())
    if day > today or day < bills.earliest_date(today):
        raise ApiError(400, "PARAM_ERROR", "账单日期超出范围，只能申请三个月以内的账单",
                       {"field": "bill_date", "location": "query", "value": args["bill_date"]})
    if args.get("bill_type") not in (None, "", "ALL"):  # ALL is the default
        raise ApiError(400, "PARAM_ERROR", "沙箱只模拟 bill_type=ALL 的交易账单",
                       {"field": "bill_type", "location": "query", "value": args.get("bill_type")})
    if args.get("tar_type") not in (None, "", "GZIP"):  # empty: the plain file, as when not given
        raise ApiError(400, "PARAM_ERROR", "tar_type只能是GZIP（或不传）",
                       {"field": "tar_type", "location": "query", "value": args.get("tar_type")})
    return day, args.get("tar_type") == "GZIP"


@bp.get("/bill/tradebill")
def trade_bill():
    """-> {hash_type: SHA1, hash_value (of the uncompressed bill), download_url}; 400 STATEMENT_CREATING
    before the bill is ready, NO_STATEMENT_EXIST for a day without payments or refunds."""
    rt = _rt()
    day, gzip_it = _bill_request(request.args)
    now = clock.now()
    with rt.db.write() as session:
        held_back = faults.take_fault(session, "bill", "not_ready") is not None
    if held_back or now < bills.day_start(day) + rt.bill_ready_after:
        raise ApiError(400, "STATEMENT_CREATING", "账单生成中，请稍后再试")
    with rt.db.write() as session:
        orders.settle_due_refunds(session, rt, now)  # the bill shows each refund's state at this moment
        content = bills.build(session, day)
        if content is None:
            raise ApiError(400, "NO_STATEMENT_EXIST", "该日期没有账单")
        token = secrets.token_urlsafe(48)
        session.add(BillDownload(token=token, bill_date=day.isoformat(), gzip=gzip_it, content=content,
                                 created_at=now))
    return json_response({"hash_type": "SHA1", "hash_value": hashlib.sha1(content.encode("utf-8")).hexdigest(),
                          "download_url": f"{request.host_url}v3/billdownload/file?token={token}"})


@bp.get("/billdownload/file")
def download_bill():
    """The bill's bytes (gzip if asked so), unsigned, for a signed GET within BILL_DOWNLOAD_TTL."""
    rt = _rt()
    now = clock.now()
    with rt.db.write() as session:
        row = session.get(BillDownload, request.args.get("token", ""))
        if row is None or now >= row.created_at + BILL_DOWNLOAD_TTL:
            raise ApiError(400, "PARAM_ERROR", "下载链接无效或已过期，请重新申请账单",
                           {"field": "token", "location": "query"})
        data = row.content.encode("utf-8")
        if faults.take_fault(session, "bill", "corrupt") is not None:
            data = data.replace(b"`", b"'", 1)  # damaged in transit: no longer what was hashed
        if row.gzip:
            data = gzip.compress(data, mtime=0)
    g.unsigned = True  # WeChat does not sign the file; clients skip the check
    return Response(data, 200, content_type="application/octet-stream")


@bp.get("/certificates")
def certificates():
    """The platform certificate, encrypted under the APIv3 key (certificate mode)."""
    rt = _rt()
    cert = crypto.x509.load_pem_x509_certificate(rt.platform_cert_pem.encode("ascii"))
    nonce = crypto.random_nonce(12)
    return json_response({"data": [{
        "serial_no": rt.keys.platform_cert_serial,
        "effective_time": clock.rfc3339(cert.not_valid_before_utc),
        "expire_time": clock.rfc3339(cert.not_valid_after_utc),
        "encrypt_certificate": {
            "algorithm": crypto.AEAD_ALGORITHM,
            "nonce": nonce,
            "associated_data": "certificate",
            "ciphertext": crypto.aead_encrypt(rt.keys.apiv3_key, nonce, rt.platform_cert_pem,
                                              "certificate"),
        },
    }]})


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    return json_response(error.body(), error.status)


def _tamper(response: Response) -> None:
    """Change the answer after it was signed, as a man in the middle would."""
    body = response.get_data()
    if not body:
        response.headers["Wechatpay-Timestamp"] = str(int(response.headers["Wechatpay-Timestamp"]) + 1)
        return
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and "code_url" in data:
        data["code_url"] = "weixin://wxpay/bizpayurl?pr=TAMPERED000"
    elif isinstance(data, dict) and "prepay_id" in data:
        data["prepay_id"] = data["prepay_id"][:-1] + ("1" if data["prepay_id"].endswith("0") else "0")
    elif isinstance(data, dict) and "h5_url" in data:
        data["h5_url"] = data["h5_url"].replace("package=", "package=9")
    elif isinstance(data, dict) and "trade_state" in data:
        data["trade_state"] = "NOTPAY" if data["trade_state"] == "SUCCESS" else "SUCCESS"
    elif isinstance(data, dict):
        data["tampered"] = True
    else:
        response.set_data(body + b" ")
        return
    response.set_data(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def register(app: Flask) -> None:
    """Mount the v3 routes; sign every /v3 answer; answer /v3 errors in WeChat Pay's JSON shape."""
    app.register_blueprint(bp)

    @app.after_request
    def _sign_v3(response: Response) -> Response:
        if not request.path.startswith("/v3/") or g.get("unsigned"):
            return response
        rt = _rt()
        auth.sign_response(rt, response, request.headers.get("Wechatpay-Serial"))
        fault = g.get("fault")
        if fault is not None and fault.mode == "tamper":
            _tamper(response)
        if fault is not None and fault.mode == "hang":
            rt.stopping.wait(fault.seconds)  # processed already; only the answer is late
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if not request.path.startswith("/v3/"):
            return error
        codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
        return json_response({"code": codes.get(error.code, "INVALID_REQUEST"),
                              "message": error.description or error.name}, error.code or 400)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return _http_error(error)
        log.exception("sandbox error on %s", request.path)
        if request.path.startswith("/v3/"):
            return json_response(system_error().body(), 500)
        return Response("沙箱内部错误", 500, content_type="text/plain; charset=utf-8")
