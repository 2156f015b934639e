"""Check merchants' request signatures and sign the sandbox's answers, as WeChat Pay does."""

from __future__ import annotations

import secrets
import time
from urllib.parse import quote

from flask import Request, Response

from . import crypto
from .errors import ApiError

SIGN_ERROR_MESSAGE = "错误的签名，验签失败"


def raw_target(request: Request) -> str:
    """The request-target exactly as sent (path + query): what the merchant signed."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        return raw
    # Test clients give no raw URI: rebuild it from the WSGI path (which is decoded, as latin-1).
    path = quote(request.environ.get("PATH_INFO", "").encode("latin-1"), safe="/:@!$&'()*+,;=-._~%")
    query = request.environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _sign_error(message: str, detail: dict | None = None) -> ApiError:
    return ApiError(401, "SIGN_ERROR", message, detail)


def authenticate(rt, request: Request) -> dict[str, str]:
    """Verify the Authorization header against the raw target and body; raise 401 SIGN_ERROR."""
    try:
        items = crypto.parse_authorization(request.headers.get("Authorization"))
    except crypto.AuthorizationError as exc:
        raise _sign_error("Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》",
                          {"field": "authorization", "location": "header", "issue": str(exc)}) from None
    if items["mchid"] != rt.keys.mchid:
        raise _sign_error("商户号不存在或与签名信息不匹配",
                          {"field": "mchid", "location": "authorization", "value": items["mchid"]})
    if items["serial_no"].upper() != rt.keys.merchant_serial_no.upper():
        raise _sign_error("商户证书序列号有误。请使用签名私钥匹配的证书序列号",
                          {"field": "serial_no", "location": "authorization", "value": items["serial_no"]})
    if not items["timestamp"].isdigit() or not crypto.timestamp_fresh(items["timestamp"], time.time()):
        raise _sign_error("请求时间戳与当前时间相差过大（超过5分钟）",
                          {"field": "timestamp", "location": "authorization", "value": items["timestamp"]})
    target = raw_target(request)
    body = request.get_data(cache=True)
    message = crypto.request_message(request.method, target, items["timestamp"], items["nonce_str"], body)
    if not crypto.verify(rt.merchant_public_key, message, items["signature"]):
        text = message.decode("utf-8", "replace")
        raise _sign_error(SIGN_ERROR_MESSAGE, {
            "field": "signature",
            "location": "authorization",
            "detail": {"issue": "sign not match"},
            "sign_information": {
                "method": request.method,
                "url": target,
                "sign_message_length": len(message),
                "truncated_sign_message": text if len(text) <= 128 else text[:125] + "...",
            },
        })
    return items


def sign_response(rt, response: Response, request_serial: str | None) -> Response:
    """Add the Wechatpay-* signature headers over `ts\\nnonce\\nbody\\n` (204's empty body too)."""
    timestamp = str(int(time.time()))
    nonce = secrets.token_hex(16)
    body = response.get_data()
    response.headers["Wechatpay-Timestamp"] = timestamp
    response.headers["Wechatpay-Nonce"] = nonce
    response.headers["Wechatpay-Signature"] = crypto.sign(
        rt.platform_key, crypto.response_message(timestamp, nonce, body))
    response.headers["Wechatpay-Serial"] = rt.response_serial(request_serial)
    response.headers["Wechatpay-Signature-Type"] = crypto.SIGNATURE_TYPE
    response.headers["Request-ID"] = secrets.token_hex(16).upper()
    return response
