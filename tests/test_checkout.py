"""Checkout: the delivery form, the one-transaction order placement, bad input, and the last-unit race."""
import re
import threading
from datetime import datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from core.clock import utcnow
from core.vocabulary import OrderStatus
from extensions import db
from models import Delivery, Order, OrderItem, Product
from services.cart import SESSION_KEY
from services.checkout import CheckoutError, place_order
from tests.helpers import csrf_token_from

VALID = {"contact_name": "张三", "mobile": "13800138000", "province": "上海市", "city": "上海市",
         "district": "浦东新区", "address_detail": "世纪大道 1 号", "note": ""}
DELIVERY = Delivery(**VALID)


def put_in_cart(client, lines):
    with client.session_transaction() as session:
        session[SESSION_KEY] = {str(product_id): quantity for product_id, quantity in lines.items()}


def session_cart(client):
    with client.session_transaction() as session:
        return dict(session.get(SESSION_KEY, {}))


def checkout_token(client):
    response = client.get("/checkout")
    assert response.status_code == 200, response.location
    return csrf_token_from(response.get_data(as_text=True))


def submit(client, **fields):
    data = {"csrf_token": checkout_token(client), **VALID, **fields}
    return client.post("/checkout", data={k: v for k, v in data.items() if v is not None})


def stock_of(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).stock


def counts(app):
    with app.app_context():
        return (db.session.scalar(select(func.count(Order.id))), db.session.scalar(select(func.count(OrderItem.id))))


def only_order(app):
    with app.app_context():
        order = db.session.scalars(select(Order)).one()
        items = [(i.product_id, i.product_name, i.unit_price_fen, i.quantity) for i in order.items]
        return order, items


def text(response):
    return response.get_data(as_text=True)


# ---------- The page ----------


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_empty_cart_redirects_back_with_a_message(app, client, make_product, method):
    with app.app_context():
        slug = db.session.get(Product, make_product(stock=5)).slug
    token = csrf_token_from(text(client.get(f"/p/{slug}")))

    if method == "get":
        response = client.get("/checkout")
    else:
        response = client.post("/checkout", data={"csrf_token": token, **VALID})

    assert response.status_code == 303
    assert response.location == "/cart"
    assert "购物车是空的，先去挑选商品吧。" in text(client.get("/cart"))
    assert counts(app) == (0, 0)


def test_checkout_page_shows_the_lines_total_and_a_labelled_form(client, make_product):
    tea = make_product(name="龙井", price_fen=16800, stock=5)
    candy = make_product(name="芝麻糖", price_fen=2580, stock=5)
    put_in_cart(client, {tea: 1, candy: 2})

    html = text(client.get("/checkout"))

    assert "龙井" in html and "芝麻糖" in html
    assert '<td class="num total">¥219.60</td>' in html
    labels = [("contact_name", "收货人"), ("mobile", "手机号"), ("province", "省份"), ("city", "城市"),
              ("district", "区县"), ("address_detail", "详细地址"), ("note", "备注（选填）")]
    for field, label in labels:
        assert f'<label class="field-label" for="{field}">{label}</label>' in html
    assert 'id="mobile-hint"' in html and 'aria-describedby="mobile-hint"' in html
    assert 'name="csrf_token"' in html


def test_checkout_page_with_a_line_over_stock_sends_the_buyer_to_the_cart(app, client, make_product):
    tea = make_product(name="龙井", stock=1)
    put_in_cart(client, {tea: 3})

    response = client.get("/checkout")

    assert response.status_code == 303
    assert response.location == "/cart"
    assert "购物车中有商品库存不足，请先修改数量。" in text(client.get("/cart"))


# ---------- Placing the order ----------


def test_submitting_places_the_order_reserves_stock_and_clears_the_cart(app, client, make_product):
    tea = make_product(name="龙井", price_fen=16800, stock=5)
    candy = make_product(name="芝麻糖", price_fen=2580, stock=4)
    put_in_cart(client, {tea: 2, candy: 1})

    # Frozen a little ahead of the real clock: the signed session cookie must not look older or newer.
    frozen = utcnow().replace(microsecond=0) + timedelta(seconds=5)
    with freeze_time(frozen):
        response = submit(client, contact_name="  张三  ", mobile=" 138-0013-8000 ", note=" 请放门口 ")

    order, items = only_order(app)
    assert response.status_code == 303
    assert response.location == f"/orders/{order.token}"
    assert session_cart(client) == {}
    assert stock_of(app, tea) == 3 and stock_of(app, candy) == 3
    assert sorted(items) == sorted([(tea, "龙井", 16800, 2), (candy, "芝麻糖", 2580, 1)])
    assert order.total_fen == 16800 * 2 + 2580
    assert order.status == OrderStatus.PENDING
    assert (order.contact_name, order.mobile, order.note) == ("张三", "13800138000", "请放门口")
    assert order.address == "上海市浦东新区 世纪大道 1 号"
    assert (order.province, order.city, order.district, order.address_detail) == (
        "上海市", "上海市", "浦东新区", "世纪大道 1 号")
    assert order.created_at == frozen
    assert order.expires_at == order.created_at + timedelta(minutes=app.config["ORDER_PAY_TIMEOUT"])
    assert re.fullmatch(frozen.strftime("%Y%m%d%H%M%S") + r"[0-9A-F]{10}", order.out_trade_no)


def test_order_lines_keep_the_price_they_were_bought_at(app, client, make_product):
    tea = make_product(name="龙井", price_fen=16800, stock=5)
    put_in_cart(client, {tea: 1})
    submit(client)

    with app.app_context():
        db.session.get(Product, tea).price_fen = 99900
        db.session.commit()

    order, items = only_order(app)
    assert items == [(tea, "龙井", 16800, 1)]
    assert order.total_fen == 16800


def test_posted_price_and_total_are_ignored(app, client, make_product):
    tea = make_product(name="龙井", price_fen=16800, stock=5)
    put_in_cart(client, {tea: 2})

    response = submit(client, price="1", price_fen="1", total="1", total_fen="1", unit_price_fen="1")

    order, items = only_order(app)
    assert response.status_code == 303
    assert order.total_fen == 33600
    assert items == [(tea, "龙井", 16800, 2)]


def test_fields_at_their_maximum_length_are_accepted(app, client, make_product):
    put_in_cart(client, {make_product(stock=5): 1})

    response = submit(client, contact_name="名" * 40, address_detail="址" * 120, note="备" * 200)

    order, _ = only_order(app)
    assert response.status_code == 303
    assert (len(order.contact_name), len(order.address_detail), len(order.note)) == (40, 120, 200)


def test_a_script_in_the_name_is_stored_as_text_and_shown_escaped(app, client, make_product):
    put_in_cart(client, {make_product(stock=5): 1})
    name = "<script>alert(1)</script>"

    rejected = submit(client, contact_name=name, mobile="123")  # re-rendered with the value
    accepted = submit(client, contact_name=name)

    html = text(rejected)
    assert rejected.status_code == 400
    assert "<script>alert(1)</script>" not in html
    assert 'value="&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert accepted.status_code == 303
    order, _ = only_order(app)
    assert order.contact_name == name


# ---------- Bad input changes nothing ----------


def assert_nothing_changed(app, client, product_id, stock, cart):
    assert stock_of(app, product_id) == stock
    assert session_cart(client) == cart
    assert counts(app) == (0, 0)


@pytest.mark.parametrize("mobile", [
    "12345678901", "12800138000", "1380013800", "138001380001", "23800138000", "abcdefghijk", "1380013800a",
    "１３８００１３８０００", "", "   ", "+1 202 555 0123",
])
def test_an_invalid_mobile_number_is_a_form_error(app, client, make_product, mobile):
    tea = make_product(stock=5)
    put_in_cart(client, {tea: 2})

    response = submit(client, mobile=mobile)

    html = text(response)
    assert response.status_code == 400
    assert ("请填写 11 位中国大陆手机号" in html) or ("请填写手机号。" in html)
    assert 'aria-describedby="mobile-hint mobile-error"' in html
    assert "提交未成功，请修改以下内容（1 处）" in html
    assert '<a href="#mobile">手机号：' in html
    assert html.count("autofocus") == 1 and re.search(r'<input[^>]*autofocus[^>]*id="mobile"', html)
    assert "<title>错误：结算" in html
    assert_nothing_changed(app, client, tea, 5, {str(tea): 2})


@pytest.mark.parametrize("field, value, message", [
    ("contact_name", "名" * 41, "收货人姓名不能超过 40 个字。"),
    ("address_detail", "址" * 121, "详细地址不能超过 120 个字。"),
    ("note", "备" * 201, "备注不能超过 200 个字。"),
    ("contact_name", "", "请填写收货人姓名。"),
    ("contact_name", "   ", "请填写收货人姓名。"),
    ("contact_name", None, "请填写收货人姓名。"),
    ("address_detail", "", "请填写详细地址（街道、小区、楼栋和门牌号）。"),
    ("province", "", "请选择省份。"),
    ("province", "火星", "请选择省份。"),
    ("city", "杭州市", "请选择城市。"),
    ("district", "西湖区", "请选择区县。"),
    ("mobile", None, "请填写手机号。"),
])
def test_overlong_or_missing_fields_are_form_errors(app, client, make_product, field, value, message):
    tea = make_product(stock=5)
    put_in_cart(client, {tea: 1})

    response = submit(client, **{field: value})

    html = text(response)
    assert response.status_code == 400
    assert message in html
    assert f'id="{field}-error"' in html
    assert_nothing_changed(app, client, tea, 5, {str(tea): 1})


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
def test_checkout_without_a_valid_csrf_token_is_400_and_changes_nothing(app, client, make_product, csrf):
    tea = make_product(stock=5)
    put_in_cart(client, {tea: 1})
    data = dict(VALID)
    if csrf is not None:
        data["csrf_token"] = csrf

    response = client.post("/checkout", data=data)

    assert response.status_code == 400
    assert "页面已过期或表单校验失败" in text(response)
    assert_nothing_changed(app, client, tea, 5, {str(tea): 1})


def test_stock_that_ran_out_after_the_cart_was_filled_is_refused(app, client, make_product):
    tea = make_product(name="龙井", stock=5)
    candy = make_product(name="芝麻糖", stock=5)
    put_in_cart(client, {tea: 1, candy: 3})
    token = checkout_token(client)
    with app.app_context():
        db.session.get(Product, candy).stock = 2  # someone else bought some meanwhile
        db.session.commit()

    response = client.post("/checkout", data={"csrf_token": token, **VALID})

    assert response.status_code == 409
    assert "「芝麻糖」库存不足" in text(response)
    assert stock_of(app, tea) == 5, "the first line's reservation was rolled back"
    assert stock_of(app, candy) == 2
    assert session_cart(client) == {str(tea): 1, str(candy): 3}
    assert counts(app) == (0, 0)


def test_a_product_withdrawn_after_the_page_was_shown_is_refused(app, client, make_product):
    tea = make_product(name="龙井", stock=5)
    candy = make_product(name="芝麻糖", stock=5)
    put_in_cart(client, {tea: 1, candy: 1})
    token = checkout_token(client)
    with app.app_context():
        db.session.get(Product, candy).active = False
        db.session.commit()

    response = client.post("/checkout", data={"csrf_token": token, **VALID})

    assert response.status_code == 409
    assert "购物车中有商品已下架，已为您移除，请核对后再提交。" in text(response)
    assert stock_of(app, tea) == 5 and stock_of(app, candy) == 5
    assert counts(app) == (0, 0)
    # The buyer sees the cart without it and can submit again.
    assert session_cart(client) == {str(tea): 1}


# ---------- The service, called directly ----------


def test_place_order_rolls_back_every_reservation_when_a_later_line_fails(app, make_product):
    first = make_product(name="龙井", stock=5)
    second = make_product(name="芝麻糖", stock=1)

    with app.app_context(), pytest.raises(CheckoutError, match="「芝麻糖」库存不足"):
        place_order({first: 2, second: 2}, DELIVERY, datetime(2026, 1, 1))

    assert stock_of(app, first) == 5 and stock_of(app, second) == 1
    assert counts(app) == (0, 0)


@pytest.mark.parametrize("quantity", [0, -1, 21, "3", 2.0, True, None])
def test_place_order_refuses_quantities_out_of_range(app, make_product, quantity):
    tea = make_product(stock=500)

    with app.app_context(), pytest.raises(CheckoutError, match="数量须在 1 到 20 之间"):
        place_order({tea: quantity}, DELIVERY, datetime(2026, 1, 1))

    assert stock_of(app, tea) == 500
    assert counts(app) == (0, 0)


def test_place_order_refuses_unknown_and_inactive_products_and_an_empty_cart(app, make_product):
    inactive = make_product(stock=5, active=False)

    with app.app_context():
        for lines in ({inactive: 1}, {999999: 1}, {}):
            with pytest.raises(CheckoutError):
                place_order(lines, DELIVERY, datetime(2026, 1, 1))

    assert stock_of(app, inactive) == 5
    assert counts(app) == (0, 0)


def test_place_order_accepts_line_pairs_and_reads_prices_from_the_database(app, make_product):
    tea = make_product(name="龙井", price_fen=16800, stock=5)

    with app.app_context():
        order = place_order([(tea, 3)], DELIVERY, datetime(2026, 1, 1))
        assert order.total_fen == 50400
        assert [(i.unit_price_fen, i.quantity) for i in order.items] == [(16800, 3)]

    assert stock_of(app, tea) == 2


# ---------- The race for the last unit ----------


def test_two_buyers_racing_for_the_last_unit_make_exactly_one_order(app, make_product):
    assert app.config["SQLALCHEMY_DATABASE_URI"] != "sqlite://", "threads need a shared (file) database"
    last = make_product(name="最后一件", price_fen=5000, stock=1)
    buyers = [app.test_client() for _ in range(2)]
    tokens = []
    for buyer in buyers:
        put_in_cart(buyer, {last: 1})
        tokens.append(checkout_token(buyer))

    barrier = threading.Barrier(len(buyers))
    responses, errors = [None] * len(buyers), []

    def buy(index):
        try:
            barrier.wait(timeout=10)
            responses[index] = buyers[index].post("/checkout", data={"csrf_token": tokens[index], **VALID})
        except Exception as error:  # surfaced below; an exception in a thread must not vanish
            errors.append(error)

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(len(buyers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [303, 409]
    winner = next(i for i, r in enumerate(responses) if r.status_code == 303)
    loser = 1 - winner
    assert responses[winner].location.startswith("/orders/")
    assert "「最后一件」库存不足" in text(responses[loser])
    assert session_cart(buyers[winner]) == {}
    assert session_cart(buyers[loser]) == {str(last): 1}
    assert stock_of(app, last) == 0
    assert counts(app) == (1, 1)
