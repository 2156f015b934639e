"""Which ways of paying a browser can use, by its User-Agent (WeChat Pay's rules for web pages).

Inside WeChat's own browser only JSAPI works (an H5 link there answers "请在微信外打开订单"); in other
phone browsers H5 (WeChat's cashier) works; a QR code is for computers, or for scanning with another
device. The first channel is the one offered; the others are "换一种方式支付".
"""
import re

from core.vocabulary import PaymentChannel

WECHAT_BROWSER = re.compile(r"MicroMessenger", re.IGNORECASE)
PHONE_BROWSER = re.compile(r"Mobile|Android|iPhone|iPad|iPod|HarmonyOS|Windows Phone", re.IGNORECASE)


def channels_for(user_agent: str | None, jsapi_available: bool = True) -> list[PaymentChannel]:
    """The channels this browser can pay with, the one to offer first."""
    user_agent = user_agent or ""
    if WECHAT_BROWSER.search(user_agent):
        # Without the official account's OAuth (no AppSecret) JSAPI cannot have its openid: the QR code.
        return [PaymentChannel.JSAPI, PaymentChannel.NATIVE] if jsapi_available else [PaymentChannel.NATIVE]
    if PHONE_BROWSER.search(user_agent):
        return [PaymentChannel.H5, PaymentChannel.NATIVE]
    return [PaymentChannel.NATIVE]


def in_wechat(user_agent: str | None) -> bool:
    return bool(WECHAT_BROWSER.search(user_agent or ""))
