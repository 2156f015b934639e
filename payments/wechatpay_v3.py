"""The API v3 adapter: the PaymentGateway interface on top of the wechatpayv3 SDK.

Public-key mode (WECHATPAY_PUBLIC_KEY_FILE + WECHATPAY_PUBLIC_KEY_ID) is preferred; certificate mode
(WECHATPAY_CERT_DIR) is supported too. The SDK is never given a logger: at debug level it logs the
Authorization header and the decrypted notifications.
"""
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import requests
from wechatpayv3 import WeChatPay, WeChatPayType

from core.clock import parse_rfc3339, rfc3339
from core.vocabulary import PaymentErrorCode
from payments.gateway import (
    NOTIFICATION_MAX_BYTES,
    NativeOrderRequest,
    Notification,
    NotificationRejected,
    PaymentError,
    RefundResult,
    Transaction,
)

log = logging.getLogger(__name__)
# The SDK checks signatures but not their age; WeChat's own SDKs reject anything 5 minutes off.
NOTIFICATION_MAX_AGE = 300
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"


def transaction_from(data: dict) -> Transaction:
    amount = data.get("amount") or {}
    return Transaction(
        out_trade_no=data["out_trade_no"],
        trade_state=data["trade_state"],
        mchid=data.get("mchid", ""),
        appid=data.get("appid", ""),
        total_fen=amount.get("total"),
        currency=amount.get("currency"),
        transaction_id=data.get("transaction_id"),
        success_time=parse_rfc3339(data.get("success_time")),
        payer_openid=(data.get("payer") or {}).get("openid"),
        attach=data.get("attach"),
        trade_state_desc=data.get("trade_state_desc", ""),
    )


def refund_from(data: dict) -> RefundResult:
    amount = data.get("amount") or {}
    return RefundResult(
        out_refund_no=data["out_refund_no"],
        status=data.get("status") or data["refund_status"],  # the notification names it refund_status
        refund_fen=amount.get("refund", 0),
        out_trade_no=data.get("out_trade_no"),
        refund_id=data.get("refund_id"),
        transaction_id=data.get("transaction_id"),
        success_time=parse_rfc3339(data.get("success_time")),
        mchid=data.get("mchid"),
    )


class WeChatPayV3Gateway:
    def __init__(self, *, url, mchid, appid, cert_serial_no, private_key, apiv3_key, notify_url,
                 timeout, currency, public_key=None, public_key_id=None, cert_dir=None):
        self.mchid = mchid
        self.appid = appid
        self.currency = currency
        self.notify_url = notify_url
        self._pay = WeChatPay(
            wechatpay_type=WeChatPayType.NATIVE, mchid=mchid, private_key=private_key,
            cert_serial_no=cert_serial_no, appid=appid, apiv3_key=apiv3_key, notify_url=notify_url,
            cert_dir=cert_dir, timeout=timeout, public_key=public_key, public_key_id=public_key_id,
        )
        # The SDK has no base-URL option; the gateway attribute is stable in the pinned version.
        self._pay._core._gate_way = url.rstrip("/")

    @classmethod
    def from_config(cls, config):
        def read(name):
            path = config.get(name)
            return Path(path).read_text(encoding="utf-8").strip() if path else None

        return cls(
            url=config["WECHATPAY_URL"], mchid=config["WECHATPAY_MCHID"], appid=config["WECHATPAY_APPID"],
            cert_serial_no=config["WECHATPAY_CERT_SERIAL_NO"],
            private_key=read("WECHATPAY_PRIVATE_KEY_FILE"), apiv3_key=read("WECHATPAY_APIV3_KEY_FILE"),
            notify_url=config["WECHATPAY_NOTIFY_URL"], timeout=config["WECHATPAY_TIMEOUT"],
            currency=config["CURRENCY"],
            public_key=read("WECHATPAY_PUBLIC_KEY_FILE"), public_key_id=config.get("WECHATPAY_PUBLIC_KEY_ID"),
            cert_dir=config.get("WECHATPAY_CERT_DIR"),
        )

    def _call(self, what, method, *args, **kwargs) -> tuple[int, dict]:
        """Run one SDK call; turn every failure into PaymentError, log without secrets."""
        try:
            status, body = method(*args, **kwargs)
        except requests.Timeout:
            log.warning("wechatpay %s: timeout", what)
            raise PaymentError(PaymentErrorCode.TIMEOUT) from None
        except requests.RequestException as exc:
            log.warning("wechatpay %s: %s", what, type(exc).__name__)
            raise PaymentError(PaymentErrorCode.NETWORK_ERROR) from None
        except Exception as exc:  # the SDK raises bare Exception for a bad response signature
            log.error("wechatpay %s: response rejected: %s", what, exc)
            raise PaymentError(PaymentErrorCode.INVALID_RESPONSE) from None
        try:
            data = json.loads(body) if body else {}
        except (TypeError, ValueError):
            data = {}
        if not 200 <= status < 300:
            code, message = data.get("code", f"HTTP_{status}"), data.get("message", "微信支付返回错误")
            log.warning("wechatpay %s: HTTP %s %s", what, status, code)
            raise PaymentError(code, message, status)
        return status, data

    def create_native_order(self, request: NativeOrderRequest) -> str:
        _, data = self._call(
            f"native {request.out_trade_no}", self._pay.pay,
            description=request.description, out_trade_no=request.out_trade_no,
            amount={"total": request.total_fen, "currency": self.currency},
            time_expire=rfc3339(request.time_expire), attach=request.attach, notify_url=request.notify_url,
        )
        if not data.get("code_url"):
            raise PaymentError(PaymentErrorCode.INVALID_RESPONSE, "微信支付未返回二维码链接", 200)
        return data["code_url"]

    def query(self, out_trade_no: str) -> Transaction:
        _, data = self._call(f"query {out_trade_no}", self._pay.query, out_trade_no=out_trade_no)
        return transaction_from(data)

    def close(self, out_trade_no: str) -> None:
        self._call(f"close {out_trade_no}", self._pay.close, out_trade_no=out_trade_no)

    def refund(self, out_trade_no, out_refund_no, refund_fen, total_fen, reason) -> RefundResult:
        _, data = self._call(
            f"refund {out_refund_no}", self._pay.refund, out_refund_no=out_refund_no,
            out_trade_no=out_trade_no, reason=reason or None,
            amount={"refund": refund_fen, "total": total_fen, "currency": self.currency},
        )
        return refund_from(data)

    def query_refund(self, out_refund_no: str) -> RefundResult:
        _, data = self._call(f"query_refund {out_refund_no}", self._pay.query_refund, out_refund_no=out_refund_no)
        return refund_from(data)

    def parse_notification(self, headers, body: bytes, now: datetime) -> Notification:
        if len(body) > NOTIFICATION_MAX_BYTES:
            raise NotificationRejected("body too large")
        if headers.get("Wechatpay-Signature", "").startswith(SIGNTEST_PREFIX):
            raise NotificationRejected("signature probe")
        try:
            timestamp = int(headers.get("Wechatpay-Timestamp", ""))
        except ValueError:
            raise NotificationRejected("missing timestamp") from None
        if abs(now.replace(tzinfo=timezone.utc).timestamp() - timestamp) > NOTIFICATION_MAX_AGE:
            raise NotificationRejected("timestamp outside the 5-minute window")
        try:
            data = self._pay.callback(headers, body)
        except Exception as exc:  # missing signature type, bad JSON, unsupported algorithm
            raise NotificationRejected(f"unverifiable: {type(exc).__name__}") from None
        if not data:
            raise NotificationRejected("signature or decryption failed")
        try:
            event_type = data["event_type"]
            resource = data["resource"]
            if event_type.startswith("TRANSACTION."):
                resource = transaction_from(resource)
            elif event_type.startswith("REFUND."):
                resource = refund_from(resource)
            return Notification(
                id=str(data["id"]), event_type=event_type, create_time=data.get("create_time", ""),
                summary=data.get("summary", ""), resource=resource, raw=data,
            )
        except (KeyError, TypeError, AttributeError):
            raise NotificationRejected("malformed resource") from None
