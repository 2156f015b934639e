"""Field rules of the Native, JSAPI and H5 orders and of refunds, as the real service enforces them.

String limits count UTF-8 bytes, not characters: the real service answers a 69-character Chinese
description (135 bytes) with PARAM_ERROR and detail.value 135 against the limit of 127.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from . import clock
from .errors import ApiError, param_error
from .models import JSAPI, MWEB, NATIVE

OUT_TRADE_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
MAX_FEN = 2**31 - 1  # amounts are 32-bit ints in the official SDKs' models
MIN_EXPIRE = timedelta(minutes=1)
MAX_EXPIRE = timedelta(days=15)
DEFAULT_EXPIRE = timedelta(days=7)
H5_TYPES = ("Wap", "iOS", "Android")


def parse_json_object(raw: bytes) -> dict:
    """Parse a request body; anything that is not a JSON object of encodable text is PARAM_ERROR."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "PARAM_ERROR", "请求体不是合法的JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "PARAM_ERROR", "请求体必须是JSON对象")
    where = unencodable_text(data)
    if where is not None:
        raise ApiError(400, "PARAM_ERROR", f"输入源“/body{where}”含有无法以UTF-8编码的字符（不成对的UTF-16代理项）",
                       {"location": "body", "field": where})
    return data


def unencodable_text(value) -> str | None:
    """The JSON pointer of the first key or string holding a lone UTF-16 surrogate, or None.

    JSON text may spell `"\\ud83d"` (half an emoji, e.g. cut by a JavaScript client); Python decodes it to a
    string that UTF-8 cannot encode. Checked once here so that no later step (byte limits, the database)
    meets one: a client error must never become a 5xx that clients retry forever.
    """
    stack = [("", value)]
    while stack:
        pointer, item = stack.pop()
        if isinstance(item, str):
            if not _encodable(item):
                return pointer
        elif isinstance(item, dict):
            for key, child in item.items():
                if not _encodable(key):
                    return pointer
                stack.append((f"{pointer}/{key}", child))
        elif isinstance(item, list):
            stack.extend((f"{pointer}/{index}", child) for index, child in enumerate(item))
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _string(data: dict, field: str, label: str, limit: int, *, required: bool,
            pattern: re.Pattern | None = None, pattern_text: str = "") -> str | None:
    value = data.get(field.rsplit("/", 1)[-1])
    if value is None:
        if required:
            raise param_error(field, label, "缺少必填参数")
        return None
    if not isinstance(value, str):
        raise param_error(field, label, "类型错误，应为字符串", value)
    if required and value == "":
        raise param_error(field, label, "不能为空字符串", value)
    size = len(value.encode("utf-8"))
    if size > limit:
        raise param_error(field, label, f"字符串规则校验失败，字节数 {size}，大于最大值 {limit}", size)
    if pattern is not None and not pattern.match(value):
        raise param_error(field, label, f"字符串规则校验失败，字符串必须匹配正则表达式“{pattern_text}”", value)
    return value


def _fen(data: dict, field: str, label: str, *, required: bool = True) -> int | None:
    value = data.get(field.rsplit("/", 1)[-1])
    if value is None:
        if required:
            raise param_error(field, label, "缺少必填参数")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise param_error(field, label, "类型错误，应为整数（单位：分）", value)
    if value <= 0 or value > MAX_FEN:
        raise param_error(field, label, f"数值超出范围 [1, {MAX_FEN}]", value)
    return value


def _object(data: dict, field: str, label: str, *, required: bool) -> dict | None:
    value = data.get(field.rsplit("/", 1)[-1])
    if value is None:
        if required:
            raise param_error(field, label, "缺少必填参数")
        return None
    if not isinstance(value, dict):
        raise param_error(field, label, "类型错误，应为对象", value)
    return value


def _bool(data: dict, field: str, label: str) -> bool | None:
    value = data.get(field.rsplit("/", 1)[-1])
    if value is not None and not isinstance(value, bool):
        raise param_error(field, label, "类型错误，应为布尔值", value)
    return value


def _currency(amount: dict, field: str, *, required: bool) -> str:
    currency = _string(amount, field, "货币类型", 16, required=required)
    if currency is None:
        return "CNY"
    if currency != "CNY":
        raise param_error(field, "货币类型", "只支持人民币 CNY", currency)
    return currency


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def notify_url_problem(url: str) -> str | None:
    """What is wrong with a notify URL, or None: https with a host and no query string; plain http
    only to a loopback host (local demos)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "不是合法的URL"
    if not ((parts.scheme == "https" and host) or (parts.scheme == "http" and is_loopback_host(host))):
        return "必须是https地址（沙箱另允许本机http地址）"
    if parts.query or parts.fragment or "?" in url:
        return "不允许携带查询串"
    return None


def check_notify_url(data: dict, field: str, *, required: bool) -> str | None:
    url = _string(data, field, "通知地址", 255, required=required)
    problem = url and notify_url_problem(url)
    if problem:
        raise param_error(field, "通知地址", problem, url)
    return url


def _canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class OrderRequest:
    trade_type: str  # NATIVE, JSAPI or MWEB (H5)
    appid: str
    mchid: str
    description: str
    out_trade_no: str
    notify_url: str
    total_fen: int
    currency: str
    attach: str | None
    time_expire: datetime  # effective: given value clamped to >= now + 1 min, or now + 7 days
    payer_openid: str | None  # JSAPI's payer.openid
    fingerprint: str  # the parameters a repeat must match, the trade type included


def _scene_info(data: dict, trade_type: str) -> dict | None:
    """scene_info: optional for Native and JSAPI; H5 needs it with payer_client_ip and h5_info.type."""
    scene_info = _object(data, "/scene_info", "场景信息", required=trade_type == MWEB)
    if scene_info is None:
        return None
    _string(scene_info, "/scene_info/payer_client_ip", "用户终端IP", 45, required=True)
    _string(scene_info, "/scene_info/device_id", "商户端设备号", 32, required=False)
    h5_info = _object(scene_info, "/scene_info/h5_info", "H5场景信息", required=trade_type == MWEB)
    if trade_type == MWEB:
        h5_type = _string(h5_info, "/scene_info/h5_info/type", "场景类型", 32, required=True)
        if h5_type not in H5_TYPES:
            raise param_error("/scene_info/h5_info/type", "场景类型", "取值必须是 Wap、iOS 或 Android", h5_type)
        for name, label in (("app_name", "应用名称"), ("app_url", "网站URL"), ("bundle_id", "iOS平台BundleID"),
                            ("package_name", "Android平台PackageName")):
            _string(h5_info, f"/scene_info/h5_info/{name}", label, 128, required=False)
    return scene_info


def order_request(data: dict, now: datetime, trade_type: str = NATIVE) -> OrderRequest:
    """Validate an order body of a trade type; raise ApiError(400 PARAM_ERROR) naming the first bad field."""
    appid = _string(data, "/appid", "应用ID", 32, required=True)
    mchid = _string(data, "/mchid", "直连商户号", 32, required=True)
    description = _string(data, "/description", "商品描述", 127, required=True)
    out_trade_no = _string(data, "/out_trade_no", "商户订单号", 32, required=True,
                           pattern=OUT_TRADE_NO, pattern_text=r"^[0-9a-zA-Z_\-|\*]{6,32}$")
    expire_text = _string(data, "/time_expire", "交易结束时间", 64, required=False)
    attach = _string(data, "/attach", "附加数据", 128, required=False)
    notify_url = check_notify_url(data, "/notify_url", required=True)
    goods_tag = _string(data, "/goods_tag", "订单优惠标记", 32, required=False)
    support_fapiao = _bool(data, "/support_fapiao", "电子发票入口开放标识")
    amount = _object(data, "/amount", "订单金额", required=True)
    total = _fen(amount, "/amount/total", "总金额")
    currency = _currency(amount, "/amount/currency", required=False)
    detail = _object(data, "/detail", "优惠功能", required=False)
    if detail is not None and len(_canonical(detail).encode("utf-8")) > 6144:
        raise param_error("/detail", "优惠功能", "超过 6144 字节")
    scene_info = _scene_info(data, trade_type)
    payer_openid = None
    if trade_type == JSAPI:
        payer = _object(data, "/payer", "支付者", required=True)
        payer_openid = _string(payer, "/payer/openid", "用户标识", 128, required=True)
    settle_info = _object(data, "/settle_info", "结算信息", required=False)
    if settle_info is not None:
        _bool(settle_info, "/settle_info/profit_sharing", "是否指定分账")

    given_expire = None
    if expire_text is not None:
        try:
            given_expire = clock.parse_rfc3339(expire_text)
        except ValueError:
            raise param_error("/time_expire", "交易结束时间", "不是 RFC 3339 格式（yyyy-MM-DDTHH:mm:ss+08:00）",
                              expire_text) from None
        if given_expire > now + MAX_EXPIRE:
            raise param_error("/time_expire", "交易结束时间", "不能晚于下单时间后15天", expire_text)
        time_expire = max(given_expire, now + MIN_EXPIRE)  # too early is raised to +1 min
    else:
        time_expire = now + DEFAULT_EXPIRE

    fingerprint = _canonical({
        "trade_type": trade_type, "payer_openid": payer_openid, "appid": appid, "mchid": mchid,
        "description": description, "out_trade_no": out_trade_no,
        "time_expire": given_expire.isoformat() if given_expire else None, "attach": attach,
        "notify_url": notify_url, "goods_tag": goods_tag, "support_fapiao": bool(support_fapiao),
        "amount": {"total": total, "currency": currency}, "detail": detail,
        "scene_info": scene_info, "settle_info": settle_info,
    })
    return OrderRequest(trade_type=trade_type, appid=appid, mchid=mchid, description=description,
                        out_trade_no=out_trade_no, notify_url=notify_url, total_fen=total, currency=currency,
                        attach=attach, time_expire=time_expire, payer_openid=payer_openid,
                        fingerprint=fingerprint)


@dataclass(frozen=True)
class RefundRequest:
    out_refund_no: str
    transaction_id: str | None
    out_trade_no: str | None
    reason: str | None
    notify_url: str | None
    funds_account: str | None
    refund_fen: int
    total_fen: int
    currency: str
    fingerprint: str


def refund_request(data: dict) -> RefundRequest:
    """Validate a refund body; raise ApiError(400 PARAM_ERROR) naming the first bad field."""
    transaction_id = _string(data, "/transaction_id", "微信支付订单号", 32, required=False)
    out_trade_no = _string(data, "/out_trade_no", "商户订单号", 32, required=False)
    if not transaction_id and not out_trade_no:
        raise param_error("/transaction_id", "微信支付订单号", "transaction_id 与 out_trade_no 必须二选一")
    out_refund_no = _string(data, "/out_refund_no", "商户退款单号", 64, required=True,
                            pattern=OUT_REFUND_NO, pattern_text=r"^[0-9a-zA-Z_\-|\*@]{1,64}$")
    reason = _string(data, "/reason", "退款原因", 80, required=False)
    notify_url = check_notify_url(data, "/notify_url", required=False)
    funds_account = _string(data, "/funds_account", "退款资金来源", 32, required=False)
    if funds_account is not None and funds_account not in ("AVAILABLE", "UNSETTLED"):
        raise param_error("/funds_account", "退款资金来源", "取值必须是 AVAILABLE 或 UNSETTLED", funds_account)
    amount = _object(data, "/amount", "金额信息", required=True)
    refund = _fen(amount, "/amount/refund", "退款金额")
    total = _fen(amount, "/amount/total", "原订单金额")
    currency = _currency(amount, "/amount/currency", required=True)
    if amount.get("from") is not None and not isinstance(amount.get("from"), list):
        raise param_error("/amount/from", "退款出资账户及金额", "类型错误，应为数组", amount.get("from"))
    if data.get("goods_detail") is not None and not isinstance(data.get("goods_detail"), list):
        raise param_error("/goods_detail", "退款商品", "类型错误，应为数组")
    # The order is resolved later; a retry may name it by either id, so only amounts go in here.
    fingerprint = _canonical({"refund": refund, "total": total, "currency": currency})
    return RefundRequest(out_refund_no=out_refund_no, transaction_id=transaction_id,
                         out_trade_no=out_trade_no, reason=reason, notify_url=notify_url,
                         funds_account=funds_account, refund_fen=refund, total_fen=total,
                         currency=currency, fingerprint=fingerprint)
