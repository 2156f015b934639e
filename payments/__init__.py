"""Payments: the gateway interface, the WeChat Pay API v3 adapter and QR rendering."""
from flask import current_app

from core.vocabulary import PaymentErrorCode
from payments.gateway import (  # noqa: F401
    NOTIFICATION_MAX_BYTES,
    Notification,
    NotificationRejected,
    PaymentError,
    PaymentGateway,
    PaymentPrompt,
    PaymentRequest,
    RefundResult,
    TradeBill,
    Transaction,
)


def get_gateway() -> PaymentGateway:
    """The app's gateway, built once from config (tests may put another in app.extensions)."""
    gateway = current_app.extensions.get("payment_gateway")
    if gateway is None:
        if not current_app.config.get("WECHATPAY_PRIVATE_KEY_FILE"):
            raise PaymentError(PaymentErrorCode.NOT_CONFIGURED)
        from payments.wechatpay_v3 import WeChatPayV3Gateway

        try:
            gateway = WeChatPayV3Gateway.from_config(current_app.config)
        except PaymentError:
            raise
        except Exception as error:  # unreadable or malformed key files: a setup problem, not a crash per page
            current_app.logger.error("WeChat Pay is not usable with these settings: %s", type(error).__name__)
            raise PaymentError(PaymentErrorCode.NOT_CONFIGURED) from None
        current_app.extensions["payment_gateway"] = gateway
    return gateway
