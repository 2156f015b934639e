"""POST /pay/notify: verified, checked and applied exactly once; everything else rejected, nothing changed."""
import threading
import time
from datetime import timedelta

import pytest
import requests
from freezegun import freeze_time
from sqlalchemy import func, select

from core.clock import utcnow
from extensions import db
from models import Order, PaymentEvent, Product
from tests.helpers import statements
from tests.wechat import signed_notification, transaction_resource

pytestmark = pytest.mark.wechatpay


@pytest.fixture
def order(make_order):
    return make_order(price_fen=2599, quantity=2, stock=5)


def post(client, headers, body):
    return client.post("/pay/notify", data=body, headers=headers)


def snapshot(app, order):
    with app.app_context():
        row = db.session.get(Order, order.id)
        events = db.session.scalar(select(func.count()).select_from(PaymentEvent))
        stock = db.session.get(Product, order.product_id).stock
        return row.status, row.paid_at, row.transaction_id, events, stock


def test_valid_notification_marks_the_order_paid(app, client, wechat, order):
    resource = transaction_resource(order, wechat.keys)
    headers, body = signed_notification(wechat.keys, resource, notification_id="EV-1")

    response = post(client, headers, body)

    assert response.status_code == 204
    with app.app_context():
        row = db.session.get(Order, order.id)
        assert row.status == "paid"
        assert row.transaction_id == resource["transaction_id"]
        assert row.paid_at is not None
        event = db.session.scalar(select(PaymentEvent).filter_by(notification_id="EV-1"))
        assert (event.kind, event.state, event.outcome) == ("notification", "SUCCESS", "paid")


def test_the_same_notification_ten_times_at_once_makes_one_transition(app, live_shop, wechat, order):
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys), notification_id="EV-10")
    barrier = threading.Barrier(10)
    statuses = []

    def deliver():
        barrier.wait()
        statuses.append(requests.post(f"{live_shop}/pay/notify", data=body, headers=headers, timeout=10).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [204] * 10
    with app.app_context():
        events = db.session.scalars(select(PaymentEvent).filter_by(kind="notification")).all()
        assert [(e.notification_id, e.outcome) for e in events] == [("EV-10", "paid")]
        assert db.session.get(Order, order.id).status == "paid"


def test_a_second_delivery_of_a_handled_notification_is_acknowledged(app, client, wechat, order):
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys), notification_id="EV-2")
    assert post(client, headers, body).status_code == 204
    paid_at = snapshot(app, order)[1]
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys), notification_id="EV-2")
    assert post(client, headers, body).status_code == 204
    assert snapshot(app, order)[1] == paid_at
    assert snapshot(app, order)[3] == 1


def other_key(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "other.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def flip_signature(headers):
    signature = headers["Wechatpay-Signature"]
    headers["Wechatpay-Signature"] = ("A" if signature[0] != "A" else "B") + signature[1:]
    return headers


REJECTIONS = {
    # name: (how to build the notification, expected HTTP status)
    "bad signature": (lambda keys, order, tmp: (lambda h, b: (flip_signature(h), b))(
        *signed_notification(keys, transaction_resource(order, keys)))
        , 401),
    "another platform key": (lambda keys, order, tmp: signed_notification(
        keys, transaction_resource(order, keys), signing_key_path=other_key(tmp)), 401),
    "tampered ciphertext": (lambda keys, order, tmp: signed_notification(
        keys, transaction_resource(order, keys), tamper_ciphertext=True), 401),
    "wrong amount": (lambda keys, order, tmp: signed_notification(keys, transaction_resource(
        order, keys, amount={"total": 1, "payer_total": 1, "currency": "CNY", "payer_currency": "CNY"})), 400),
    "wrong currency": (lambda keys, order, tmp: signed_notification(keys, transaction_resource(
        order, keys, amount={"total": order.total_fen, "payer_total": order.total_fen, "currency": "USD",
                             "payer_currency": "USD"})), 400),
    "wrong mchid": (lambda keys, order, tmp: signed_notification(
        keys, transaction_resource(order, keys, mchid="1900000000")), 400),
    "wrong appid": (lambda keys, order, tmp: signed_notification(
        keys, transaction_resource(order, keys, appid="wx0000000000000000")), 400),
    "unknown out_trade_no": (lambda keys, order, tmp: signed_notification(
        keys, transaction_resource(order, keys, out_trade_no="NOSUCHORDER123")), 400),
    "malformed JSON": (lambda keys, order, tmp: signed_notification(keys, None, raw_body=b'{"id": "x", '), 401),
    "missing resource fields": (lambda keys, order, tmp: signed_notification(
        keys, {"mchid": keys.mchid}), 401),
    "signature probe": (lambda keys, order, tmp: (lambda h, b: (
        {**h, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + h["Wechatpay-Signature"]}, b))(
        *signed_notification(keys, transaction_resource(order, keys))), 401),
    "no signature type": (lambda keys, order, tmp: (lambda h, b: (
        {k: v for k, v in h.items() if k != "Wechatpay-Signature-Type"}, b))(
        *signed_notification(keys, transaction_resource(order, keys))), 401),
}


@pytest.mark.parametrize("case", REJECTIONS, ids=list(REJECTIONS))
def test_rejected_notifications_change_nothing(app, client, wechat, order, tmp_path, case):
    build, expected = REJECTIONS[case]
    before = snapshot(app, order)
    headers, body = build(wechat.keys, order, tmp_path)

    response = post(client, headers, body)

    assert response.status_code == expected
    assert response.get_json()["code"] == "FAIL"
    assert response.get_json()["message"]
    assert snapshot(app, order) == before


def test_a_body_over_64_kib_is_rejected(app, client, wechat, order):
    before = snapshot(app, order)
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys, attach="x" * 70_000))
    assert len(body) > 64 * 1024
    response = post(client, headers, body)
    assert response.status_code == 413
    assert response.get_json()["code"] == "FAIL"
    assert snapshot(app, order) == before


def test_a_notification_six_minutes_old_is_rejected(app, client, wechat, order):
    sent_at = time.time()
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys), timestamp=int(sent_at))
    before = snapshot(app, order)
    with freeze_time(utcnow() + timedelta(minutes=6)):
        response = post(client, headers, body)
    assert response.status_code == 401
    assert snapshot(app, order) == before


def test_a_notification_four_minutes_old_is_accepted(app, client, wechat, order):
    resource = transaction_resource(order, wechat.keys)
    headers, body = signed_notification(wechat.keys, resource, timestamp=int(time.time()))
    with freeze_time(utcnow() + timedelta(minutes=4)):
        response = post(client, headers, body)
    assert response.status_code == 204
    assert snapshot(app, order)[0] == "paid"


def test_success_after_a_local_close_still_pays_and_takes_stock_back(app, client, wechat, order):
    with app.app_context():
        from services.payment import release_stock, transition

        transition(order.id, "closed", closed_at=utcnow())
        release_stock(order.id)
        db.session.commit()
        assert db.session.get(Product, order.product_id).stock == 5
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys))

    assert post(client, headers, body).status_code == 204

    with app.app_context():
        row = db.session.get(Order, order.id)
        assert row.status == "paid"
        assert row.attention is None
        assert db.session.get(Product, order.product_id).stock == 3


def test_success_after_close_without_stock_is_flagged_for_the_owner(app, client, wechat, order):
    with app.app_context():
        from services.payment import release_stock, transition

        transition(order.id, "closed", closed_at=utcnow())
        release_stock(order.id)
        db.session.get(Product, order.product_id).stock = 1  # someone else bought the rest
        db.session.commit()
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys))

    assert post(client, headers, body).status_code == 204

    with app.app_context():
        row = db.session.get(Order, order.id)
        assert row.status == "paid"
        assert "库存不足" in row.attention
        assert db.session.get(Product, order.product_id).stock == 1


def test_unknown_event_types_are_acknowledged_and_ignored(app, client, wechat, order):
    before = snapshot(app, order)
    headers, body = signed_notification(wechat.keys, {"foo": "bar"}, event_type="PROFITSHARING.SUCCESS")
    assert post(client, headers, body).status_code == 204
    assert snapshot(app, order) == before


def test_a_refund_notification_for_an_unknown_refund_is_recorded_and_acknowledged(app, client, wechat, order):
    resource = {"mchid": wechat.keys.mchid, "out_trade_no": order.out_trade_no, "transaction_id": "42000001",
                "out_refund_no": "RNOTOURS123", "refund_id": "50300001", "refund_status": "SUCCESS",
                "success_time": "2026-11-27T20:10:00+08:00", "user_received_account": "支付用户零钱",
                "amount": {"total": order.total_fen, "refund": 100, "payer_total": order.total_fen,
                           "payer_refund": 100}}
    headers, body = signed_notification(wechat.keys, resource, event_type="REFUND.SUCCESS", notification_id="EV-R")
    assert post(client, headers, body).status_code == 204
    with app.app_context():
        event = db.session.scalar(select(PaymentEvent).filter_by(notification_id="EV-R"))
        assert (event.order_id, event.outcome) == (order.id, "unknown_refund")
        assert db.session.get(Order, order.id).refunded_fen == 0


def test_payment_log_lines_name_the_order_and_never_a_secret(app, client, wechat, order, caplog):
    caplog.set_level("INFO")
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys), notification_id="EV-LOG")
    assert post(client, headers, body).status_code == 204

    lines = [record.getMessage() for record in caplog.records]
    assert any("payment_event" in line and order.out_trade_no in line and "kind=notification" in line for line in lines)
    assert any("id=EV-LOG" in line and "result=paid" in line for line in lines)
    text = "\n".join(lines)
    for secret in (wechat.keys.apiv3_key, headers["Wechatpay-Signature"], "BEGIN PRIVATE KEY", "ciphertext"):
        assert secret not in text


def test_a_payment_notification_is_applied_in_five_statements(app, client, wechat, order):
    """Find the attempt with the order's amount, write the notification's event, move the attempt and the
    order, set the event's outcome (plus the alert's outbox row where alerts are set up). Every statement
    from the first write to the commit holds SQLite's write lock, so the amount is read before it."""
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys))
    with statements(app) as seen:
        assert post(client, headers, body).status_code == 204

    assert [statement.split()[0] for statement in seen] == ["SELECT", "INSERT", "UPDATE", "UPDATE", "UPDATE"]
