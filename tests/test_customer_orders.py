"""Orders the customer can find again: 我的订单 (a signed cookie), the lookup by order number and mobile,
the order page's steps and next steps, and 再来一单."""
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.vocabulary import OrderStatus, RefundStatus
from extensions import db
from models import Order, OrderItem, Product, Refund
from tests.helpers import add_to_cart, buy, csrf_token_from, flashes


@pytest.fixture
def app_config(app_config):
    return {**app_config, "MY_ORDERS_MAX": 3, "RATELIMIT_ORDER_LOOKUP": "3 per minute",
            "MAX_PENDING_ORDERS_PER_VISITOR": 10}


def text(response):
    return response.get_data(as_text=True)


def listed(html):
    """The order numbers on 我的订单, in order."""
    return re.findall(r'<span class="order-number">订单号 <span class="mono">(\w+)</span>', html)


def order_of(app, token) -> Order:
    with app.app_context():
        order = db.session.scalar(select(Order).filter_by(token=token))
        assert order.items  # loaded before the session ends
        return order


def set_order(app, token, **changes):
    with app.app_context():
        order = db.session.scalar(select(Order).filter_by(token=token))
        for name, value in changes.items():
            setattr(order, name, value)
        db.session.commit()


# -- 我的订单 ----------------------------------------------------------------------------------------------

def test_my_orders_lists_this_browsers_orders_newest_first_and_no_one_elses(app, client, make_product):
    tea = make_product(name="龙井", stock=10)
    first, second = buy(client, tea), buy(client, tea)
    buy(app.test_client(), tea)  # another browser's order

    response = client.get("/orders")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    numbers = [order_of(app, token).out_trade_no for token in (second, first)]
    assert listed(text(response)) == numbers
    assert '<a class="header-link" href="/orders" aria-current="page">我的订单</a>' in text(response)
    assert listed(text(app.test_client().get("/orders"))) == []


def test_my_orders_keeps_a_bounded_number(app, client, make_product):
    tea = make_product(stock=10)
    tokens = [buy(client, tea) for _ in range(4)]

    numbers = listed(text(client.get("/orders")))

    assert numbers == [order_of(app, token).out_trade_no for token in reversed(tokens[1:])]  # MY_ORDERS_MAX = 3


def test_a_changed_cookie_is_ignored(client, make_product):
    buy(client, make_product(stock=5))
    cookie = client.get_cookie("my_orders")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"

    client.set_cookie("my_orders", cookie.value[:-2] + "xx")

    assert listed(text(client.get("/orders"))) == []


def test_the_cookie_holds_no_delivery_details_in_clear_order_tokens_only(client, make_product):
    buy(client, make_product(stock=5))
    assert "13912345678" not in client.get_cookie("my_orders").value


# -- the lookup ---------------------------------------------------------------------------------------------

def lookup(client, out_trade_no, mobile):
    page = text(client.get("/orders/lookup"))
    return client.post("/orders/lookup", data={"csrf_token": csrf_token_from(page), "out_trade_no": out_trade_no,
                                               "mobile": mobile})


def test_a_lookup_by_order_number_and_mobile_opens_the_order_and_remembers_it(app, client, make_product):
    token = buy(client, make_product(name="龙井", stock=5), mobile="13912345678")
    number = order_of(app, token).out_trade_no
    other_browser = app.test_client()

    response = lookup(other_browser, f" {number[:6]} {number[6:].lower()} ", "139-1234-5678")

    assert (response.status_code, response.location) == (303, f"/orders/{token}")
    assert listed(text(other_browser.get("/orders"))) == [number]


def test_no_such_order_and_a_wrong_mobile_get_the_same_answer(app, client, make_product):
    token = buy(client, make_product(stock=5), mobile="13912345678")
    number = order_of(app, token).out_trade_no

    wrong_mobile = lookup(app.test_client(), number, "13900000000")
    no_such_order = lookup(app.test_client(), "2020010100000012345ABCDE", "13912345678")

    def answer(response):
        html = text(response)
        return response.status_code, re.sub(r' value="[^"]*"', "", html[html.index("<main"):])

    assert answer(wrong_mobile) == answer(no_such_order)
    assert wrong_mobile.status_code == 404
    assert "没有找到这笔订单，请核对订单号和下单时填写的手机号。" in text(wrong_mobile)
    assert "<title>错误：查询订单" in text(wrong_mobile)


def test_lookups_are_rate_limited(app, make_product):
    client = app.test_client()
    for _ in range(3):
        assert lookup(client, "2020010100000012345ABCDE", "13912345678").status_code == 404
    response = lookup(client, "2020010100000012345ABCDE", "13912345678")
    assert response.status_code == 429
    assert "Retry-After" in response.headers


def test_a_lookup_with_bad_input_names_the_field(client):
    response = lookup(client, "", "123")
    html = text(response)
    assert response.status_code == 400
    assert "请填写订单号。" in html and "请填写 11 位中国大陆手机号" in html
    assert '<a href="#out_trade_no">订单号：请填写订单号。</a>' in html


# -- the order page ----------------------------------------------------------------------------------------

def steps(html):
    """The order page's steps as (name, state) pairs."""
    return re.findall(r'<li class="step step-(\w+)">\s*<span class="step-name">(\S+)</span>', html)


def test_a_closed_order_shows_its_steps_what_to_do_and_reorder(app, client, make_product):
    token = buy(client, make_product(stock=5))
    set_order(app, token, status=OrderStatus.CLOSED, closed_at=utcnow())

    html = text(client.get(f"/orders/{token}"))

    assert steps(html) == [("done", "下单"), ("done", "关闭")]
    assert "订单已关闭，没有扣款。" in html
    assert 'action="/orders/' + token + '/reorder"' in html and ">再来一单</button>" in html
    assert "北京市海淀区 中关村大街 27 号" in html


def test_a_pending_order_past_its_deadline_shows_the_order_page_with_reorder(app, client, make_product):
    token = buy(client, make_product(stock=5))
    set_order(app, token, expires_at=utcnow() - timedelta(minutes=1))

    response = client.get(f"/orders/{token}")

    assert response.status_code == 200
    assert steps(text(response)) == [("done", "下单"), ("failed", "支付")]
    assert "支付已超时" in text(response) and ">再来一单</button>" in text(response)


def test_the_pay_page_past_its_deadline_offers_to_order_the_same_again(app, client, make_product):
    token = buy(client, make_product(stock=5))
    set_order(app, token, expires_at=utcnow() - timedelta(minutes=1))

    page = text(client.get(f"/pay/{token}"))

    assert "支付已超时" in page and ">重新下单</button>" in page
    reorder = client.post(f"/orders/{token}/reorder", data={"csrf_token": csrf_token_from(page)})
    assert (reorder.status_code, reorder.location) == (303, "/cart")
    assert "已将 1 件商品放入购物车" in text(client.get("/cart"))


def test_a_payable_order_still_goes_to_the_pay_page(client, make_product):
    token = buy(client, make_product(stock=5))
    response = client.get(f"/orders/{token}")
    assert (response.status_code, response.location) == (302, f"/pay/{token}")


def test_a_paid_shipped_and_refunded_order_shows_each_step(app, client, make_product):
    token = buy(client, make_product(price_fen=5000, stock=5))
    now = utcnow()
    set_order(app, token, status=OrderStatus.SHIPPED, paid_at=now, shipped_at=now, refunded_fen=1000)
    with app.app_context():
        order_id = db.session.scalar(select(Order.id).filter_by(token=token))
        db.session.add(Refund(order_id=order_id, out_refund_no="R1", amount_fen=1000, status=RefundStatus.SUCCESS,
                              succeeded_at=now))
        db.session.commit()

    html = text(client.get(f"/orders/{token}"))

    assert steps(html) == [("done", "下单"), ("done", "支付"), ("done", "发货"), ("done", "退款")]
    assert "¥10.00 · 退款成功" in html
    assert "部分退款" in html
    assert "退款原路退回您付款的微信账户" in html and "商品已发出" in html


# -- 再来一单 -----------------------------------------------------------------------------------------------

def test_reorder_refills_the_cart_at_todays_prices_and_stock_says_what_changed_and_prefills(
        app, client, make_product):
    tea, candy, cup = make_product(name="龙井", price_fen=1000, stock=9), make_product(name="芝麻糖", stock=9), \
        make_product(name="茶杯", stock=9)
    for product_id, quantity in ((tea, 2), (candy, 3)):  # the order: 2 tea, 3 candy, 1 cup
        add_to_cart(client, product_id, quantity)
    token = buy(client, cup, 1, contact_name="赵六", province="浙江省", city="杭州市", district="西湖区",
                address_detail="文三路 100 号", note="放门口")
    set_order(app, token, status=OrderStatus.CLOSED, closed_at=utcnow())
    with app.app_context():
        db.session.get(Product, tea).price_fen = 1200
        db.session.get(Product, candy).stock = 2
        db.session.get(Product, cup).active = False
        db.session.commit()
    page = text(client.get(f"/orders/{token}"))

    response = client.post(f"/orders/{token}/reorder", data={"csrf_token": csrf_token_from(page)},
                           follow_redirects=True)

    html = text(response)
    assert response.request.path == "/cart"
    with client.session_transaction() as session:
        assert session["cart"] == {str(tea): 2, str(candy): 2}
    messages = flashes(html)
    assert "已将 4 件商品放入购物车，价格和库存以今天为准；收货信息已为您填好。" in messages
    assert "「龙井」价格由 ¥10.00 变为 ¥12.00。" in messages
    assert "「芝麻糖」库存或限购不足，只放入了 2 件（原订单 3 件）。" in messages
    assert "「茶杯」已下架，没有放入购物车。" in messages

    checkout = text(client.get("/checkout"))
    assert 'value="赵六"' in checkout and 'value="文三路 100 号"' in checkout and "放门口" in checkout
    assert '<option selected value="西湖区">西湖区</option>' in checkout


def test_reorder_of_an_order_that_can_still_be_paid_goes_to_pay(app, client, make_product):
    token = buy(client, make_product(stock=5))
    page = text(client.get("/orders/lookup"))
    response = client.post(f"/orders/{token}/reorder", data={"csrf_token": csrf_token_from(page)})
    assert (response.status_code, response.location) == (303, f"/pay/{token}")
    with client.session_transaction() as session:
        assert "cart" not in session


def test_reorder_needs_the_csrf_token(app, client, make_product):
    token = buy(client, make_product(stock=5))
    set_order(app, token, status=OrderStatus.CLOSED, closed_at=utcnow())
    assert client.post(f"/orders/{token}/reorder", data={}).status_code == 400


def test_an_order_from_before_the_region_fields_is_still_readable(app, client, make_product):
    product_id = make_product(stock=5)
    with app.app_context():
        order = Order(out_trade_no="20200101000000ABCDEF0123", total_fen=1000, status=OrderStatus.CLOSED,
                      contact_name="张三", mobile="13800138000", address="上海市浦东新区世纪大道 1 号",
                      created_at=utcnow(), expires_at=utcnow(), closed_at=utcnow(),
                      items=[OrderItem(product_id=product_id, product_name="旧商品", unit_price_fen=1000, quantity=1)])
        db.session.add(order)
        db.session.commit()
        token = order.token
        assert order.delivery.address == "上海市浦东新区世纪大道 1 号"
    html = text(client.get(f"/orders/{token}"))
    assert "上海市浦东新区世纪大道 1 号" in html and "包邮" in html
