"""Limits a real shop has: units per product, unpaid orders per browser and per address, and request
rates on checkout, retry and cancel, shared by every worker (the counters live in the database)."""
import pytest
from sqlalchemy import func, select

from app import create_app
from extensions import db
from models import Order, Product
from tests.helpers import add_to_cart, buy, checkout_form, csrf_token_from

pytestmark = pytest.mark.wechatpay


def count_orders(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


def stock(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).stock


def test_a_browser_holding_too_many_unpaid_orders_is_told_to_pay_or_cancel_first(app, client, make_product):
    app.config["MAX_PENDING_ORDERS_PER_VISITOR"] = 2
    product_id = make_product(stock=10)
    first, _ = buy(client, product_id), buy(client, product_id)
    add_to_cart(client, product_id, 1)

    response = client.post("/checkout", data=checkout_form(client))

    assert response.status_code == 429
    assert "您已有 2 笔订单等待付款，请先付款或取消其中一笔，再提交新订单。" in response.get_data(as_text=True)
    assert 1700 <= int(response.headers["Retry-After"]) <= 1800  # until the oldest unpaid order expires
    assert count_orders(app) == 2 and stock(app, product_id) == 8

    token = csrf_token_from(client.get(f"/pay/{first}").get_data(as_text=True))
    client.post(f"/pay/{first}/cancel", data={"csrf_token": token, "confirm": "1"})  # cancelled: no longer counts
    assert client.post("/checkout", data=checkout_form(client)).status_code == 303


def test_one_address_holding_too_many_unpaid_orders_is_refused(app, make_product):
    app.config["MAX_PENDING_ORDERS_PER_IP"] = 2
    product_id = make_product(stock=10)
    for _ in range(2):
        buy(app.test_client(), product_id)  # two browsers behind one address
    third = app.test_client()
    add_to_cart(third, product_id, 1)

    response = third.post("/checkout", data=checkout_form(third))

    assert response.status_code == 429
    assert "您所在网络的待付款订单太多了，请稍后再试。" in response.get_data(as_text=True)
    assert count_orders(app) == 2


def test_checkout_posts_beyond_the_rate_get_429_in_chinese_with_retry_after(app, client, make_product):
    app.config["RATELIMIT_CHECKOUT"] = "2 per minute"
    add_to_cart(client, make_product(stock=10), 1)
    bad_form = {**checkout_form(client), "mobile": "123"}  # invalid: no order, but the POST still counts

    answers = [client.post("/checkout", data=bad_form) for _ in range(3)]

    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert "您的操作太频繁了" in answers[2].get_data(as_text=True)
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    assert client.get("/checkout").status_code == 200  # showing the form is not limited


def test_the_rate_holds_across_workers_sharing_the_database(app_config, app, make_product):
    app.config["RATELIMIT_CHECKOUT"] = "3 per minute"
    other_worker = create_app({**app_config, "RATELIMIT_CHECKOUT": "3 per minute"})
    product_id = make_product(stock=10)
    statuses = []
    for worker in (app, other_worker, app, other_worker):
        client = worker.test_client()
        add_to_cart(client, product_id, 1)
        statuses.append(client.post("/checkout", data={**checkout_form(client), "mobile": "123"}).status_code)

    assert statuses == [400, 400, 400, 429]
    with other_worker.app_context():
        db.engine.dispose()


def test_cancel_and_retry_are_rate_limited(app, client, make_product):
    app.config["RATELIMIT_PAY_ACTIONS"] = "2 per minute"
    token = buy(client, make_product(stock=5))
    csrf = csrf_token_from(client.get(f"/pay/{token}").get_data(as_text=True))

    retries = [client.post(f"/pay/{token}/retry", data={"csrf_token": csrf}).status_code for _ in range(3)]
    cancel = {"csrf_token": csrf, "confirm": "1"}
    cancels = [client.post(f"/pay/{token}/cancel", data=cancel).status_code for _ in range(3)]

    assert retries == [302, 302, 429]
    assert cancels == [302, 302, 429]


@pytest.mark.parametrize("quantity", ["21", "99"])
def test_no_more_than_the_per_product_maximum_in_one_order(app, client, make_product, quantity):
    product_id = make_product(stock=500)
    token = csrf_token_from(client.get("/p/p-1").get_data(as_text=True))
    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": quantity})
    assert response.status_code == 400
    assert "数量须在 1 到 20 之间。" in response.get_data(as_text=True)
