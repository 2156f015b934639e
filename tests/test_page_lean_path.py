"""The stored pages' lean path (blueprints/page_lean_path.py): a returning visitor's stored catalog or pay page
is answered below Flask exactly as Flask's cached path answers it; every other request reaches Flask."""
from datetime import timedelta

import pytest
from freezegun import freeze_time
from werkzeug.test import Client
from werkzeug.wrappers import Response

from blueprints.lean_path import query_args
from core.clock import utcnow
from extensions import db
from models import Product
from tests.helpers import add_to_cart, csrf_token_from, flask_itself, flask_requests

COMPUTER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36"}
PHONE = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"}
WECHAT = {"User-Agent": PHONE["User-Agent"] + " MicroMessenger/8.0.50(0x18003231) NetType/WIFI Language/zh_CN"}


def from_flask(app, client, path, headers=None):
    """What Flask answers the same visitor (their session cookie) for the same request."""
    cookie = client.get_cookie("session")
    sent = {**(headers or {}), **({"Cookie": f"session={cookie.value}"} if cookie else {})}
    return Client(flask_itself(app), Response, use_cookies=False).get(path, headers=sent)


def returning(client, path, headers=None):
    """Visit twice: the page is stored and the visitor's session cookie verified and token signed by Flask."""
    for _ in range(2):
        assert client.get(path, headers=headers).status_code == 200


def assert_same(lean, view):
    assert lean.status_code == view.status_code == 200
    assert lean.get_data() == view.get_data()
    assert {**lean.headers, "X-Request-ID": ""} == {**view.headers, "X-Request-ID": ""}
    assert lean.headers["X-Request-ID"] and "Set-Cookie" not in lean.headers


def catalog_paths(app, product_id):
    with app.app_context():
        product = db.session.get(Product, product_id)
        return "/", f"/c/{product.category.slug}?page=1&from=singlemessage", f"/p/{product.slug}"


def test_a_returning_visitors_catalog_pages_are_answered_below_flask_exactly_as_flask_answers(
        app, client, make_product):
    paths = catalog_paths(app, make_product(name="明前龙井"))
    for path in paths:
        returning(client, path)

    with flask_requests(app) as seen:
        lean = [client.get(path) for path in paths]
    views = [from_flask(app, client, path) for path in paths]

    assert not seen and len(views) == 3
    for answered, view in zip(lean, views):
        assert_same(answered, view)
    assert "明前龙井" in lean[2].get_data(as_text=True)
    assert csrf_token_from(lean[2].get_data(as_text=True))  # the product page's add-to-cart form

    newcomer = app.test_client()  # no cookie: the home page has no form, so it needs no session
    with flask_requests(app) as seen:
        first_visit = newcomer.get(paths[0])
    assert not seen
    assert_same(first_visit, from_flask(app, newcomer, paths[0]))


@pytest.mark.wechatpay
@pytest.mark.parametrize("browser", [COMPUTER, PHONE], ids=["qr code", "h5"])
def test_a_waiting_orders_pay_page_is_answered_below_flask_with_the_time_left_now(app, client, wechat, placed,
                                                                                   browser):
    start = utcnow().replace(microsecond=0)
    order = placed(at=start)
    path = f"/pay/{order.token}"
    with freeze_time(start + timedelta(seconds=5)):
        returning(client, path, browser)
    with freeze_time(start + timedelta(seconds=70)):
        client.get(path, headers=browser)  # a new minute may need a new CSRF token, which Flask signs
        with flask_requests(app) as seen:
            lean = client.get(path, headers=browser)
        view = from_flask(app, client, path, browser)

    assert not seen
    assert_same(lean, view)
    assert '<strong id="countdown">28:50</strong>' in lean.get_data(as_text=True)
    assert lean.headers["Cache-Control"] == "no-store"


@pytest.mark.wechatpay
def test_wechats_browser_always_reaches_flask(app, client, wechat, placed):
    path = f"/pay/{placed().token}"
    returning(client, path, COMPUTER)
    with flask_requests(app) as seen:
        client.get(path, headers=WECHAT)
    assert len(seen) == 1


def test_a_visitor_flask_must_look_at_reaches_flask(app, client, make_product):
    product_id = make_product(name="芝麻糖")
    home, _, product = catalog_paths(app, product_id)
    returning(client, product)
    newcomer = app.test_client()

    with flask_requests(app) as seen:
        client.get(product)  # lean: the page and this visitor are known
        first_visit = newcomer.get(product)  # no session yet: Flask gives one, with the form's CSRF secret
        add_to_cart(client, product_id)  # the product page (lean again), then the post
        with_cart = client.get(home)  # a flash to show, and a badge that counts products still on sale
        again = client.get(home)  # the flash shown: still a cart
    assert len(seen) == 4
    assert first_visit.headers.get("Set-Cookie", "").startswith("session=")
    assert "已将「芝麻糖」× 1 加入购物车。" in with_cart.get_data(as_text=True)
    assert ">1</span>" in again.get_data(as_text=True) and "加入购物车。" not in again.get_data(as_text=True)


def test_a_session_cookie_this_process_has_not_verified_reaches_flask_once(app, client, make_product):
    product = catalog_paths(app, make_product())[2]
    returning(client, product)
    app.session_interface.verified.clear()  # as in a worker that has not seen this visitor yet

    with flask_requests(app) as seen:
        client.get(product)  # Flask verifies the cookie and remembers it
        client.get(product)
    assert len(seen) == 1


def test_an_expired_session_cookie_reaches_flask_which_opens_a_new_session(app, client, make_product):
    product = catalog_paths(app, make_product())[2]
    with freeze_time("2026-12-08 12:00:05") as clock:
        returning(client, product)
        clock.tick(app.permanent_session_lifetime + timedelta(seconds=1))
        with flask_requests(app) as seen:
            expired = client.get(product)
    assert len(seen) == 1
    assert expired.headers.get("Set-Cookie", "").startswith("session=")  # the form's new CSRF secret


def test_a_csrf_token_not_signed_this_minute_reaches_flask_which_signs_it(app, client, make_product):
    product = catalog_paths(app, make_product())[2]
    with freeze_time("2026-12-08 12:00:05") as clock:
        returning(client, product)
        clock.tick(60)
        with flask_requests(app) as seen:
            signed = csrf_token_from(client.get(product).get_data(as_text=True))
            again = csrf_token_from(client.get(product).get_data(as_text=True))
    assert len(seen) == 1 and again == signed


def test_other_methods_and_odd_queries_reach_flask(app, client, make_product):
    home = catalog_paths(app, make_product())[0]
    returning(client, home)
    with flask_requests(app) as seen:
        head = client.head(home)
        nul = client.get(home + "?page=%00")
        unknown = client.get("/p/no-such-product")
    assert len(seen) == 3
    assert head.status_code == 200 and nul.status_code == 400 and unknown.status_code == 404


def test_query_args_are_the_first_of_each_or_none_for_what_flask_must_see():
    assert query_args("") == {}
    assert query_args("page=2&page=3&from=singlemessage&isappinstalled=0") == {
        "page": "2", "from": "singlemessage", "isappinstalled": "0"}
    assert query_args("q=%E8%8C%B6+%E5%8F%B6") == {"q": "茶 叶"}
    assert query_args("page=%00") is None and query_args("page=\x00") is None
    assert query_args("q=%FF") is None  # not UTF-8
    assert query_args("q=茶".encode().decode("latin-1")) is None  # raw bytes, not percent-encoded
