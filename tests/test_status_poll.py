"""The status poll's lean path (blueprints/pay/status_poll.py): polls that change nothing are answered below
Flask with the view's body and headers; every other poll reaches the view."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.test import Client
from werkzeug.wrappers import Response

from core.clock import utcnow
from core.vocabulary import OrderStatus
from extensions import db
from models import Order
from services.payment import claim_active_query
from tests.helpers import flask_itself, flask_requests

pytestmark = pytest.mark.wechatpay

def set_order(app, order_id, **values):
    with app.app_context():
        db.session.execute(update(Order).where(Order.id == order_id).values(**values))
        db.session.commit()


@pytest.fixture
def asked(app, make_order):
    """A pending order WeChat Pay was asked about a moment ago: its polls change nothing for 10 s."""
    order = make_order()
    set_order(app, order.id, last_queried_at=utcnow())
    return order


def test_a_poll_that_changes_nothing_is_answered_without_flask_exactly_as_the_view_answers(app, client, asked):
    with flask_requests(app) as seen:
        lean = client.get(f"/pay/{asked.token}/status")
    view = Client(flask_itself(app), Response).get(f"/pay/{asked.token}/status")  # the view itself

    assert not seen
    assert lean.status_code == view.status_code == 200
    assert lean.get_json()["status"] == "pending" and 1790 <= lean.get_json()["seconds_left"] <= 1800
    assert lean.get_data().replace(b"1799", b"1800") == view.get_data().replace(b"1799", b"1800")
    assert lean.mimetype == view.mimetype == "application/json"
    assert {**lean.headers, "X-Request-ID": ""} == {**view.headers, "X-Request-ID": ""}
    assert lean.headers["Cache-Control"] == "no-store" and lean.headers["X-Content-Type-Options"] == "nosniff"
    assert lean.headers["X-Request-ID"] and "Set-Cookie" not in lean.headers


def test_the_lean_path_keeps_a_proxys_request_id_and_answers_paid_and_expired(app, client, asked, make_order):
    sent = client.get(f"/pay/{asked.token}/status", headers={"X-Request-ID": "nginx-42"})
    assert sent.headers["X-Request-ID"] == "nginx-42"

    set_order(app, asked.id, status=OrderStatus.PAID)
    late = make_order(created_at=utcnow() - timedelta(minutes=31))  # past its 30 minutes, not closed yet
    with flask_requests(app) as seen:
        paid = client.get(f"/pay/{asked.token}/status").get_json()
        expired = client.get(f"/pay/{late.token}/status").get_json()
    assert not seen  # neither may start an active query
    assert paid == {"status": "paid", "seconds_left": paid["seconds_left"]}
    assert expired == {"status": "expired", "seconds_left": 0}


def test_a_poll_due_to_ask_wechat_pay_reaches_the_view_which_claims_the_query(app, client, wechat, placed):
    order = placed()
    with flask_requests(app) as seen:
        answer = client.get(f"/pay/{order.token}/status").get_json()
    with app.app_context():
        asked_at = db.session.scalar(select(Order.last_queried_at).filter_by(id=order.id))

    assert seen and answer["status"] in ("pending", "paid")
    assert asked_at is not None  # claimed: the next polls for 10 s take the lean path


def test_anything_else_goes_to_flask(app, client, asked):
    with flask_requests(app) as seen:
        unknown = client.get("/pay/abcdefghijklmnopqrstuv/status")
        with_query = client.get(f"/pay/{asked.token}/status?t=1")
        posted = client.post(f"/pay/{asked.token}/status")
    assert len(seen) == 3
    assert unknown.status_code == 404 and "text/html" in unknown.content_type
    assert with_query.status_code == 200 and with_query.get_json()["status"] == "pending"
    assert posted.status_code in (400, 405)


def test_a_failed_claim_leaves_no_broken_session_behind(app, asked):
    """claim_active_query is a use case: whatever it meets, the caller's session is usable afterwards."""
    with app.app_context():
        db.session.add(Order())  # no number, no amount: the claim's autoflush fails on it
        with pytest.raises(IntegrityError):
            claim_active_query(asked.id, None, utcnow())
        assert not db.session.new and db.session.scalar(select(Order.status).filter_by(id=asked.id)) == "pending"
