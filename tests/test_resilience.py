"""Hostile input and outages: never a 500, never a transaction held while WeChat Pay is asked, a 503
that needs no database while the database is gone, and failures recorded once per order."""
import threading
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from app import create_app
from blueprints.pay.active_queries import ActiveQueries
from core.clock import utcnow
from core.vocabulary import EventKind, PaymentChannel
from extensions import db
from models import Category, Order, PaymentEvent, Product
from payments import PaymentError
from services.attempts import open_attempt
from services.payment import close_order, refresh_order
from services.refunds import create_refund, refresh_refund
from tests.helpers import csrf, free_port, status_of, wait_for
from tests.wechat import signed_notification, transaction_resource

HOSTILE_QUERIES = [
    "page=99999999999999999999999", "page=-1", "page=0", "page=abc", "page=1e9", "page=%00",
    "q=" + "茶" * 3000, "q=%3Cscript%3Ealert(1)%3C/script%3E", "q=%25_%5C", "q=%00",
    "date_from=0001-01-01", "date_to=9999-12-31", "date_from=2026-13-45", "date_from=0001-01-01&date_to=0001-01-02",
    "status=%3Cx%3E", "status=paid&status=closed", "next=//evil.example/", "next=%5C%5Cevil",
    "code_url=" + quote("weixin://wxpay/bizpayurl?pr=" + "x" * 500), "token=" + "A" * 500,
]


def path_for(rule, values):
    """A URL for a GET rule, its parameters filled from ``values`` (real slugs, tokens and ids)."""
    path = rule.rule
    for argument in rule.arguments:
        for form in (f"<{argument}>", f"<int:{argument}>", f"<path:{argument}>"):
            path = path.replace(form, str(values[argument]))
    return path


def test_no_get_route_answers_5xx_to_hostile_query_strings(app, owner_client, make_order):
    order = make_order()
    with app.app_context():
        values = {"slug": db.session.scalar(select(Category.slug)), "token": order.token, "order_id": order.id,
                  "day": "2026-11-26", "product_id": order.product_id,
                  "name": "products/" + "0" * 32 + "-480.jpg"}
        product_slug = db.session.scalar(select(Product.slug))
        rules = [rule for rule in app.url_map.iter_rules() if "GET" in rule.methods and rule.endpoint != "static"]
    anonymous = app.test_client()
    failures = []
    for rule in rules:
        slug = product_slug if rule.endpoint == "catalog.product" else values["slug"]
        path = path_for(rule, {**values, "slug": slug})
        for query in HOSTILE_QUERIES:
            for client in (anonymous, owner_client):
                status = client.get(f"{path}?{query}").status_code
                if status >= 500:
                    failures.append(f"{status} {path}?{query[:60]}")
    assert failures == []
    assert len(rules) >= 15


# -- the database is gone ---------------------------------------------------------------------------------

@pytest.fixture
def database_down(app_config):
    """The shop pointed at a PostgreSQL port where nothing listens: every query fails to connect."""
    url = f"postgresql+psycopg://shop@127.0.0.1:{free_port()}/shop"
    app = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": url})
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("path", ["/", "/c/tea", "/p/tea", "/cart", "/checkout", "/pay/abcdefghijklmnopqrstuv",
                                  "/admin/login", "/admin/orders"])
def test_pages_answer_503_with_a_retry_page_while_the_database_is_unreachable(database_down, path):
    client = database_down.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "1:0"  # a logged-in owner's error page must not need the database either
        session["cart"] = {"1": 2}

    response = client.get(path)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "系统繁忙，请稍后再试" in response.get_data(as_text=True)


def test_the_status_poll_and_the_notification_answer_503_in_their_own_language(database_down, tmp_path):
    client = database_down.test_client()
    poll = client.get("/pay/abcdefghijklmnopqrstuv/status")
    assert (poll.status_code, poll.get_json()["status"]) == (503, "unavailable")


@pytest.mark.wechatpay
def test_a_notification_while_the_database_is_unreachable_gets_fail_503(app_config, wechat, make_order):
    order = make_order()
    down = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x"})
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys))

    response = down.test_client().post("/pay/notify", data=body, headers=headers)

    assert response.status_code == 503
    assert response.get_json()["code"] == "FAIL"  # WeChat Pay retries it later
    with down.app_context():
        db.engine.dispose()


# -- no transaction while WeChat Pay is asked -----------------------------------------------------------

@pytest.mark.wechatpay
def test_no_database_transaction_is_open_during_any_call_to_wechat_pay(app, wechat, live_shop, gateway, make_order):
    open_during = []

    def no_transaction(*args):
        open_during.append(db.session().in_transaction())

    for name in gateway.CALLS:
        gateway.before[name] = no_transaction
    order = make_order(price_fen=3000)
    now = utcnow()
    with app.app_context():
        open_attempt(db.session.get(Order, order.id), PaymentChannel.NATIVE, now)
        refresh_order(db.session.get(Order, order.id), now)
    wechat.pay(order.out_trade_no)
    wait_for(lambda: status_of(app, order) == "paid")
    with app.app_context():
        refund = create_refund(db.session.get(Order, order.id), 1000, "测试", now)
        refresh_refund(refund, now)
    other = make_order()
    with app.app_context():
        close_order(db.session.get(Order, other.id), now)

    assert len(open_during) >= 6
    assert not any(open_during)


# -- WeChat Pay is gone ---------------------------------------------------------------------------------

@pytest.mark.wechatpay
def test_a_wechat_pay_outage_is_recorded_once_per_order_not_once_per_attempt(app, gateway, placed):
    order = placed()

    def unreachable(*args):
        raise PaymentError("TIMEOUT")

    gateway.before["query"] = unreachable
    for _ in range(5):
        with app.app_context(), pytest.raises(PaymentError):
            refresh_order(db.session.get(Order, order.id), utcnow(), source=EventKind.POLL_QUERY)

    with app.app_context():
        errors = db.session.scalar(select(func.count()).where(PaymentEvent.order_id == order.id,
                                                              PaymentEvent.outcome == "error"))
    assert errors == 1


@pytest.mark.wechatpay
def test_active_queries_are_bounded_per_order_per_process_and_per_second(app, gateway, placed):
    app.config["ACTIVE_QUERIES_PER_SECOND"] = 3
    release = threading.Event()
    gateway.before["query"] = lambda *args: release.wait(10)
    orders = [placed() for _ in range(4)]
    queries = ActiveQueries(workers=1, queue=1)

    with app.test_request_context():
        started = [queries.submit(orders[0].id), queries.submit(orders[0].id),  # the same order twice
                   queries.submit(orders[1].id), queries.submit(orders[2].id)]  # one running, one queued, full
    release.set()
    wait_for(queries.idle)
    with app.test_request_context():
        after = [queries.submit(orders[3].id), queries.submit(orders[2].id)]  # the second passes 3 per second

    assert started == [True, False, True, False]
    assert after == [True, False]



def test_nul_bytes_in_a_path_query_or_form_get_400(app, client, make_product):
    product_id = make_product()
    with app.app_context():
        slug = db.session.get(Product, product_id).slug
    form = {"product_id": product_id, "quantity": "1", "csrf_token": csrf(client, f"/p/{slug}")}

    assert client.get("/search?q=%00").status_code == 400
    assert client.get("/p/%00").status_code == 400
    assert client.post("/cart/add", data={**form, "quantity": "1\x00"}).status_code == 400
    assert client.get("/search?q=ok").status_code == 200
    assert client.post("/cart/add", data=form).status_code == 303
