"""The pay page cache (blueprints/pay/page_cache.py): one query while the order waits unchanged, the time
left always now, and a full render whenever the order, an attempt or the QR code's lifetime says so."""
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import update

from core.clock import utcnow
from core.vocabulary import OrderStatus
from extensions import db
from models import Order, PaymentAttempt
from tests.helpers import csrf_token_from, raw_reads, statements

pytestmark = pytest.mark.wechatpay

COMPUTER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"}


def countdown(html):
    start = html.index('<strong id="countdown">') + len('<strong id="countdown">')
    return html[start:html.index("</strong>", start)]


def pay_page(client, order):
    response = client.get(f"/pay/{order.token}", headers=COMPUTER)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.fixture
def waiting(app, wechat, placed):
    """An order placed on the sandbox at a fixed time, its QR code valid for two hours, 30 minutes to pay."""
    start = utcnow().replace(microsecond=0)
    return placed(at=start), start


def test_a_pay_page_seen_again_is_one_query_with_the_time_left_now(app, client, waiting):
    order, start = waiting
    with freeze_time(start + timedelta(seconds=5)):
        first = pay_page(client, order)
    with freeze_time(start + timedelta(seconds=70)), statements(app) as seen, raw_reads() as raw:
        again = pay_page(client, order)

    assert countdown(first) == "29:55" and 'data-seconds-left="1795"' in first
    assert countdown(again) == "28:50" and 'data-seconds-left="1730"' in again
    assert seen == [] and len(raw) == 1  # the fingerprint, the order and its attempts, below SQLAlchemy's layers
    assert again.count('src="data:image/png;base64,') == 1


def test_a_payment_committed_elsewhere_ends_the_cached_page(app, client, waiting):
    order, start = waiting
    with freeze_time(start + timedelta(seconds=5)):
        pay_page(client, order)
        with app.app_context():
            db.session.execute(update(Order).where(Order.id == order.id).values(status=OrderStatus.PAID))
            db.session.commit()

        response = client.get(f"/pay/{order.token}", headers=COMPUTER)

    assert response.status_code == 302 and response.headers["Location"].endswith(f"/pay/{order.token}/success")


def test_a_qr_code_near_its_end_is_renewed_not_served_again(app, client, waiting):
    order, start = waiting
    with freeze_time(start + timedelta(seconds=5)):
        first = pay_page(client, order)
    with app.app_context():  # the code expires in a minute: inside services.attempts' margin soon
        db.session.execute(update(PaymentAttempt).where(PaymentAttempt.order_id == order.id)
                           .values(prompt_expires_at=start + timedelta(seconds=60)))
        db.session.commit()

    with freeze_time(start + timedelta(seconds=45)), statements(app) as seen:
        renewed = pay_page(client, order)

    assert len(seen) > 1 and renewed != first
    with app.app_context():
        attempt = db.session.scalars(db.select(PaymentAttempt).filter_by(order_id=order.id)).one()
        assert attempt.prompt_expires_at > start + timedelta(hours=1)  # placed again, a fresh two hours


def test_the_past_deadline_page_is_never_the_cached_one(app, client, waiting):
    order, start = waiting
    with freeze_time(start + timedelta(seconds=5)):
        pay_page(client, order)

    with freeze_time(start + timedelta(minutes=30, seconds=1)):
        expired = pay_page(client, order)

    assert "id=\"pay-qr\"" not in expired and "重新下单" in expired


def test_another_visitors_cancel_from_a_cached_page_carries_their_own_token(app, client, waiting):
    order, start = waiting
    with freeze_time(start + timedelta(seconds=5)):
        pay_page(client, order)
        other = app.test_client()
        token = csrf_token_from(pay_page(other, order))

        asked = other.post(f"/pay/{order.token}/cancel", data={"csrf_token": token}, headers=COMPUTER)

    assert asked.status_code in (200, 303)  # the confirmation page, or the cancel itself: not a CSRF 400
