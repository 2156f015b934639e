"""Payments: the gateway interface, the WeChat Pay API v3 adapter and QR rendering."""
from flask import current_app

from core.vocabulary import PaymentErrorCode
from payments.gateway import (  # noqa: F401
    NOTIFICATION_MAX_BYTES,
    NativeOrderRequest,
    Notification,
    NotificationRejected,
    PaymentError,
    PaymentGateway,
    RefundResult,
    Transaction,
)


def get_gateway() -> PaymentGateway:
    """The app's gateway, built once from config (tests may put another in app.extensions)."""
    gateway = current_app.extensions.get("payment_gateway")
    if gateway is None:
        if not current_app.config.get("WECHATPAY_PRIVATE_KEY_FILE"):
            raise PaymentError(PaymentErrorCode.NOT_CONFIGURED)
        from payments.wechatpay_v3 import WeChatPayV3Gateway

        gateway = current_app.extensions["payment_gateway"] = WeChatPayV3Gateway.from_config(current_app.config)
    return gateway
