"""Paying end to end against the sandbox over real HTTP: QR, phone, notification, polling, retries."""
import base64
import io

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from extensions import db
from models import Order, PaymentEvent, Product
from payments import get_gateway
from services.payment import order_attach
from tests.helpers import SECRET_KEY, buy, csrf_token_from, open_attempt_of, wait_for

pytestmark = pytest.mark.wechatpay


def order_by_token(app, token):
    with app.app_context():
        return db.session.scalar(select(Order).filter_by(token=token))


def qr_text(html):
    start = html.index("data:image/png;base64,") + len("data:image/png;base64,")
    data = base64.b64decode(html[start:html.index('"', start)])
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))]


def test_checkout_qr_pay_notification_poll_success(app, client, live_shop, wechat, make_product):
    product_id = make_product(name="青花瓷茶杯", price_fen=3900, stock=3)
    token = buy(client, product_id, quantity=2)

    page = client.get(f"/pay/{token}")
    html = page.get_data(as_text=True)
    order = order_by_token(app, token)
    attempt = open_attempt_of(app, order.id)
    assert page.status_code == 200
    assert (attempt.channel, attempt.out_trade_no) == ("native", order.out_trade_no)
    assert attempt.prompt.startswith("weixin://wxpay/bizpayurl?pr=")
    assert qr_text(html) == [attempt.prompt]
    assert "¥78.00" in html
    assert 'id="countdown">29:5' in html or 'id="countdown">30:00' in html
    assert client.get(f"/pay/{token}/status").get_json()["status"] == "pending"

    sandbox_order = wechat.order(order.out_trade_no)
    assert sandbox_order["amount"]["total"] == 7800
    wechat.pay(order.out_trade_no)

    wait_for(lambda: client.get(f"/pay/{token}/status").get_json()["status"] == "paid")
    assert client.get(f"/pay/{token}").headers["Location"].endswith(f"/pay/{token}/success")
    success = client.get(f"/pay/{token}/success").get_data(as_text=True)
    assert "支付成功" in success and "¥78.00" in success
    paid = order_by_token(app, token)
    assert paid.transaction_id and paid.paid_at
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 1

    def kinds():
        with app.app_context():
            return [e.kind for e in db.session.scalars(select(PaymentEvent).filter_by(order_id=paid.id))]

    # The poll may see the payment first (an active query); the notification is still applied, if need be on
    # WeChat Pay's next delivery (a notification answered 503 is delivered again).
    wait_for(lambda: "notification" in kinds())
    assert "create" in kinds()


def test_lost_notification_is_caught_by_the_status_polls_active_query(app, client, live_shop, wechat, make_product):
    product_id = make_product(price_fen=990, stock=5)
    token = buy(client, product_id)
    order = order_by_token(app, token)
    wechat.fault(target="notify", mode="drop", count=100)
    wechat.pay(order.out_trade_no)

    status = wait_for(lambda: (lambda s: s if s["status"] == "paid" else None)(
        client.get(f"/pay/{token}/status").get_json()), timeout=15, interval=0.5)

    assert status["status"] == "paid"
    with app.app_context():
        sources = {e.kind for e in db.session.scalars(select(PaymentEvent).filter_by(order_id=order.id))}
    assert "poll_query" in sources and "notification" not in sources


def test_status_poll_queries_wechat_at_most_once_per_ten_seconds(app, client, live_shop, wechat, make_product):
    token = buy(client, make_product(stock=5))
    order = order_by_token(app, token)
    for _ in range(5):
        assert client.get(f"/pay/{token}/status").get_json()["status"] == "pending"
    wait_for(lambda: order_by_token(app, token).last_queried_at is not None)
    with app.app_context():
        wait_for(lambda: db.session.scalars(select(PaymentEvent).filter_by(order_id=order.id, kind="poll_query")).all())
        queries = db.session.scalars(select(PaymentEvent).filter_by(order_id=order.id, kind="poll_query")).all()
    assert len(queries) == 1


@pytest.mark.parametrize("mode", ["system_error", "frequency_limited", "hang"])
def test_gateway_failure_at_checkout_shows_retry_and_retry_reuses_the_out_trade_no(app, client, live_shop, wechat,
                                                                                  make_product, mode):
    product_id = make_product(stock=5)
    app.config["WECHATPAY_TIMEOUT"] = (2, 1)  # a hang outlasts the read timeout sooner
    wechat.fault(target="api", mode=mode, count=1, seconds=3, path_prefix="/v3/pay/transactions/native")

    token = buy(client, product_id, visit=False)

    page = client.get(f"/pay/{token}")
    html = page.get_data(as_text=True)
    order = order_by_token(app, token)
    assert page.status_code == 200
    assert "暂时无法发起微信支付" in html and "重试支付" in html
    assert order.status == "pending" and open_attempt_of(app, order.id).prompt is None
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 4  # still reserved for the customer

    response = client.post(f"/pay/{token}/retry", data={"csrf_token": csrf_token_from(html)})
    assert response.status_code == 302
    retried = open_attempt_of(app, order.id)
    assert retried.prompt and retried.out_trade_no == order.out_trade_no
    assert wechat.order(order.out_trade_no)["out_trade_no"] == order.out_trade_no
    assert "data:image/png;base64," in client.get(f"/pay/{token}").get_data(as_text=True)


def test_customer_cancel_closes_on_wechat_and_releases_stock(app, client, live_shop, wechat, make_product):

    product_id = make_product(stock=2)
    token = buy(client, product_id, quantity=2)
    html = client.get(f"/pay/{token}").get_data(as_text=True)

    client.post(f"/pay/{token}/cancel", data={"csrf_token": csrf_token_from(html), "confirm": "1"})

    order = order_by_token(app, token)
    assert order.status == "closed" and order.closed_at
    assert wechat.order(order.out_trade_no)["trade_state"] == "CLOSED"
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 2
    assert "订单已关闭" in client.get(f"/pay/{token}").get_data(as_text=True)


def test_cancel_of_an_order_already_paid_on_wechat_ends_paid(app, client, live_shop, wechat, make_product):
    from tests.helpers import csrf_token_from

    product_id = make_product(stock=2)
    token = buy(client, product_id)
    order = order_by_token(app, token)
    html = client.get(f"/pay/{token}").get_data(as_text=True)
    wechat.fault(target="notify", mode="drop", count=100)
    wechat.pay(order.out_trade_no)

    response = client.post(f"/pay/{token}/cancel", data={"csrf_token": csrf_token_from(html), "confirm": "1"})

    assert response.headers["Location"].endswith("/success")
    assert order_by_token(app, token).status == "paid"
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 1


def test_paid_after_a_local_close_becomes_paid(app, client, live_shop, wechat, make_product):
    """The customer pays on WeChat while the shop's close raced it: the money wins."""
    from tests.helpers import csrf_token_from

    product_id = make_product(stock=1)
    token = buy(client, product_id)
    html = client.get(f"/pay/{token}").get_data(as_text=True)
    wechat.fault(target="api", mode="pay_on_close", count=1)

    client.post(f"/pay/{token}/cancel", data={"csrf_token": csrf_token_from(html), "confirm": "1"})

    wait_for(lambda: order_by_token(app, token).status == "paid")
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 0


def test_cancel_and_retry_need_a_csrf_token(app, client, live_shop, wechat, make_product):
    token = buy(client, make_product(stock=2))
    assert client.post(f"/pay/{token}/cancel").status_code == 400
    assert client.post(f"/pay/{token}/retry").status_code == 400
    assert order_by_token(app, token).status == "pending"


def test_unknown_token_is_404(client):
    assert client.get("/pay/nope").status_code == 404
    assert client.get("/pay/nope/status").status_code == 404


def test_wechat_pay_is_sent_an_opaque_attach_never_the_order_token(app, placed):
    order = placed()
    with app.app_context():
        attach = get_gateway().query(order.out_trade_no).attach  # as WeChat Pay stored it
    assert attach == order_attach(order.token, SECRET_KEY)
    assert len(attach) == 32 and order.token not in attach and order.token[:8] not in attach
    assert order_attach(order.token, "another key") != attach  # keyed: not computable from the token alone
