"""What this browser remembers for its customer, in signed cookies: 我的订单 and the delivery details.

Signed with SECRET_KEY (itsdangerous), so a cookie that was changed reads as empty; HttpOnly, SameSite=Lax,
Secure wherever the session cookie is. Nothing here is shared between browsers or cached for others.
"""
from flask import after_this_request, current_app, request
from itsdangerous import BadSignature, URLSafeSerializer

from models import Delivery

MY_ORDERS_COOKIE = "my_orders"
DELIVERY_COOKIE = "delivery"
MAX_AGE = 365 * 24 * 3600
TOKEN_MAX_LENGTH = 32


def _serializer(salt: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=salt)


def _read(name: str):
    raw = request.cookies.get(name)
    if not raw:
        return None
    try:
        return _serializer(name).loads(raw)
    except BadSignature:
        return None


def _write_later(name: str, value) -> None:
    @after_this_request
    def write(response):
        if value is None:
            response.delete_cookie(name, httponly=True, samesite="Lax")
        else:
            response.set_cookie(
                name, _serializer(name).dumps(value), max_age=MAX_AGE, httponly=True, samesite="Lax",
                secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
            )
        return response


def remembered_order_tokens() -> list[str]:
    """The tokens of the orders placed (or looked up) in this browser, newest first."""
    value = _read(MY_ORDERS_COOKIE)
    if not isinstance(value, list):
        return []
    tokens = [token for token in value if isinstance(token, str) and 0 < len(token) <= TOKEN_MAX_LENGTH]
    return tokens[:current_app.config["MY_ORDERS_MAX"]]


def remember_order(token: str) -> None:
    """Put an order first in this browser's 我的订单, keeping at most MY_ORDERS_MAX."""
    tokens = [token] + [known for known in remembered_order_tokens() if known != token]
    _write_later(MY_ORDERS_COOKIE, tokens[:current_app.config["MY_ORDERS_MAX"]])


def forget_orders() -> None:
    _write_later(MY_ORDERS_COOKIE, None)


def remembered_delivery() -> dict[str, str]:
    """The delivery details this browser remembered last time ({} when none)."""
    value = _read(DELIVERY_COOKIE)
    if not isinstance(value, dict):
        return {}
    return {name: value[name] for name in Delivery.MAX_LENGTH if isinstance(value.get(name), str)}


def remember_delivery(delivery: Delivery | None) -> None:
    """Remember the details for the next checkout in this browser (the note excepted); None forgets them."""
    if delivery is None:
        _write_later(DELIVERY_COOKIE, None)
        return
    details = {name: getattr(delivery, name) for name in Delivery.MAX_LENGTH if name != "note"}
    _write_later(DELIVERY_COOKIE, details)
