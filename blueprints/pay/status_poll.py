"""The status poll: every waiting customer's pay page asks it every 2 s, so most polls take a lean path.

``answer`` is the one rule for what a poll says. Nearly every poll changes nothing: the order is not pending,
or WeChat Pay was asked about it less than ACTIVE_QUERY_INTERVAL ago. ``StatusPollLeanPath`` answers those
below Flask (no request context, session, hooks or ORM): one indexed lookup of four columns on a pooled
connection, then the same body and headers as the view. Everything else goes on to the view ``pay.status``,
which is the full implementation: an active query due, an unknown token, a database error, any other method
or a query string.
"""
import re
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from blueprints.lean_path import LeanPath
from core.clock import utcnow
from core.vocabulary import OrderStatus
from http_policy import NO_STORE
from models import Order
from models.raw_read import RawQuery
from services.payment import active_query_due

STATUS_COLUMNS = RawQuery(select(Order.id, Order.status, Order.expires_at, Order.last_queried_at).where(
    Order.token == bindparam("token")))
STATUS_PATH = re.compile(r"/pay/([A-Za-z0-9_-]{1,64})/status")


def seconds_left(row, now: datetime) -> int:
    return max(0, int((row.expires_at - now).total_seconds()))


def answer(row, now: datetime) -> dict:
    """What the pay page is told: the order's status ('expired' once a pending order's time is up)."""
    left = seconds_left(row, now)
    state = "expired" if row.status == OrderStatus.PENDING and left == 0 else row.status
    return {"status": state, "seconds_left": left}


def may_ask_wechat(row, now: datetime) -> bool:
    """Whether this poll may start an active query (the view then claims it)."""
    return row.status == OrderStatus.PENDING and seconds_left(row, now) > 0 and active_query_due(
        row.last_queried_at, now)


class StatusPollLeanPath(LeanPath):
    def answer(self, environ):
        match = STATUS_PATH.fullmatch(environ.get("PATH_INFO", ""))
        body = self.body(match[1]) if match and not environ.get("QUERY_STRING") else None
        if body is None:
            return None
        return body, {"Content-Type": "application/json", "Cache-Control": NO_STORE, "Vary": "Cookie"}

    def body(self, token: str) -> bytes | None:
        """The poll's JSON, or None when the view must answer."""
        now = utcnow()
        try:
            row = STATUS_COLUMNS.first(self.engine(), token=token)
        except SQLAlchemyError:  # the view meets it too and answers as every page does (503)
            return None
        if row is None or may_ask_wechat(row, now):
            return None
        return self.app.json.response(answer(row, now)).get_data()
