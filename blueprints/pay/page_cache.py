"""Pay pages served again while their order and its payment attempts are unchanged.

A waiting customer's page is shown again and again (a refresh, the no-JavaScript refresh every 20 s, a
shared link opened twice). Its state is read with one Core query, the fingerprint: the order's status and
deadline and every attempt's id, status and prompt expiry. A stored page is served only if the fingerprint
is the same, the order is still pending and the attempt's prompt still usable (services/attempts.py's
margin); otherwise the view runs in full, which is also where any WeChat Pay call is made.

A page is stored only if the fingerprint read after rendering equals the one read before, so it can never be
kept under a state it was not rendered from (attempt ids only grow; a status never comes back to pending).
The countdown, the cart badge and the CSRF token are put back per request (blueprints/page_cache.py). JSAPI
pages are never stored: their pay-sheet parameters are signed for the visitor's openid.
"""
from dataclasses import dataclass
from datetime import datetime

from flask import current_app, request
from sqlalchemy import bindparam, select

from blueprints.page_cache import PageCache, impersonal, must_render, personal
from core.clock import utcnow
from core.vocabulary import OrderStatus, PaymentChannel
from extensions import db
from models import Order, PaymentAttempt
from models.raw_read import RawQuery
from services.attempts import PROMPT_MARGIN

FINGERPRINT = RawQuery(
    select(Order.status, Order.expires_at, PaymentAttempt.id, PaymentAttempt.status, PaymentAttempt.prompt_expires_at)
    .outerjoin(PaymentAttempt, PaymentAttempt.order_id == Order.id)
    .where(Order.token == bindparam("token"))
    .order_by(PaymentAttempt.id)
)
SECONDS_LEFT = "\x00seconds-left\x00"
COUNTDOWN = "\x00countdown\x00"
CACHED_CHANNELS = (PaymentChannel.NATIVE, PaymentChannel.H5)


@dataclass(frozen=True)
class StoredPayPage:
    page: str
    headers: dict
    valid_until: datetime  # the order's deadline, or when the QR code must be renewed


def init_pay_page_cache(app) -> None:
    app.extensions["pay_page_cache"] = PageCache(app.config["PAGE_CACHE_SIZE"])


def fingerprint(engine, token: str) -> tuple:
    return tuple(tuple(row) for row in FINGERPRINT.rows(engine, token=token))


def timer_parts(seconds_left: int) -> dict[str, str]:
    """The two places the pay page shows the time left (templates/pay/pay.html): marker -> text."""
    return {SECONDS_LEFT: f'data-seconds-left="{seconds_left}"',
            COUNTDOWN: f'<strong id="countdown">{seconds_left // 60:02d}:{seconds_left % 60:02d}</strong>'}


def page_key(token: str, channels, args) -> tuple:
    """What the page depends on besides the order: the browser's ways of paying and the one asked for."""
    return token, tuple(channels), args.get("via", "")


def cached_pay_page(token: str, channels, state: tuple):
    """The stored page for this order and browser, with this visitor's parts, or None."""
    if must_render():
        return None
    found = stored_pay_page(current_app, page_key(token, channels, request.args), state, utcnow())
    if found is None:
        return None
    stored, left = found
    return personal(stored.page, timer_parts(left)), 200, stored.headers


def stored_pay_page(app, key: tuple, state: tuple, now: datetime) -> tuple[StoredPayPage, int] | None:
    """The stored page under ``key`` and the seconds left, if the order in ``state`` still waits for it."""
    if not state:
        return None
    status, expires_at = state[0][0], state[0][1]
    stored = app.extensions["pay_page_cache"].get(key, state)
    if status != OrderStatus.PENDING or stored is None or now >= stored.valid_until:
        return None
    left = int((expires_at - now).total_seconds())
    if left <= 0:  # the view shows the expired page
        return None
    return stored, left


def store_pay_page(token: str, channels, state: tuple, response, channel, attempt, seconds_left: int) -> None:
    """Keep a freshly rendered pay page if nothing changed while it was rendered."""
    page, _status, headers = response
    if must_render() or channel not in CACHED_CHANNELS or fingerprint(db.engine, token) != state:
        return
    valid_until = state[0][1]
    if attempt is not None:
        valid_until = min(valid_until, attempt.prompt_expires_at - PROMPT_MARGIN)
    stored = impersonal(page, timer_parts(seconds_left))
    if stored is not None:
        current_app.extensions["pay_page_cache"].put(page_key(token, channels, request.args), state,
                                                     StoredPayPage(stored, headers, valid_until))
