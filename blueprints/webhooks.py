"""WeChat Pay's server-to-server notifications: no session, no CSRF, answers WeChat understands.

The URL stays /pay/notify: it is registered with WeChat Pay as the merchant's notify_url.
"""
import logging

from flask import Blueprint, jsonify, request

from core.clock import utcnow
from extensions import DATABASE_DOWN, csrf
from payments import NOTIFICATION_MAX_BYTES, NotificationRejected, get_gateway
from services.notifications import handle_notification

bp = Blueprint("webhooks", __name__)
csrf.exempt(bp)
log = logging.getLogger("shop.payments")


def fail(status, message):
    """WeChat Pay's failure answer: it retries on its schedule (15 s ... 6 h)."""
    return jsonify(code="FAIL", message=message), status


@bp.post("/pay/notify")
def notify():
    """Receive a WeChat Pay notification: verify, decrypt, check, apply once, answer 204."""
    body = request.stream.read(NOTIFICATION_MAX_BYTES + 1)
    if (request.content_length or 0) > NOTIFICATION_MAX_BYTES or len(body) > NOTIFICATION_MAX_BYTES:
        return fail(413, "body too large")
    now = utcnow()
    try:
        notification = get_gateway().parse_notification(request.headers, body, now)
    except NotificationRejected as rejected:
        log.warning("notification rejected: %s", rejected)
        return fail(401, "验签失败")
    try:
        outcome = handle_notification(notification, now)
    except NotificationRejected as rejected:
        log.warning("notification %s rejected: %s", notification.id, rejected)
        return fail(400, "通知内容与订单不符")
    except DATABASE_DOWN:
        raise  # answered 503 FAIL by the app's handler; WeChat Pay delivers it again later
    except Exception:
        log.exception("notification %s failed", notification.id)
        return fail(500, "处理失败")
    log.info("notification id=%s event_type=%s out_trade_no=%s result=%s", notification.id,
             notification.event_type, getattr(notification.resource, "out_trade_no", None), outcome)
    return "", 204
