"""The session cart: add, update, remove, clear; bad input gets a 400 with a message and changes nothing."""
import re

import pytest
from sqlalchemy import func, select

from extensions import db
from models import Order, Product
from services.cart import SESSION_KEY
from tests.helpers import csrf_token_from


@pytest.fixture
def token(app, client, make_product):
    """A CSRF token for the client's session, read from a product page."""
    product_id = make_product(name="取令牌用", stock=1)
    with app.app_context():
        slug = db.session.get(Product, product_id).slug
    return csrf_token_from(client.get(f"/p/{slug}").get_data(as_text=True))


def session_cart(client):
    with client.session_transaction() as session:
        return dict(session.get(SESSION_KEY, {}))


def put_in_cart(client, lines):
    with client.session_transaction() as session:
        session[SESSION_KEY] = {str(product_id): quantity for product_id, quantity in lines.items()}


def stock_of(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).stock


def order_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


def badge(html):
    return int(re.search(r'<span class="badge[^"]*"[^>]*>(\d+)</span>', html).group(1))


def text(response):
    return response.get_data(as_text=True)


# ---------- Adding ----------


def test_add_puts_id_and_quantity_in_the_session_and_redirects_to_the_cart(app, client, token, make_product):
    product_id = make_product(name="龙井", price_fen=16800, stock=5)

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": "2"})

    assert response.status_code == 303
    assert response.location == "/cart"
    assert session_cart(client) == {str(product_id): 2}
    page = text(client.get("/cart"))
    assert "已将「龙井」× 2 加入购物车" in page
    assert "¥336.00" in page
    assert badge(page) == 2
    assert stock_of(app, product_id) == 5, "adding to the cart reserves nothing"


def test_adding_again_adds_to_the_line(client, token, make_product):
    product_id = make_product(stock=10)

    for quantity in ("2", "3"):
        client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": quantity})

    assert session_cart(client) == {str(product_id): 5}


def test_quantity_with_surrounding_spaces_is_accepted(client, token, make_product):
    product_id = make_product(stock=10)

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": " 4 "})

    assert response.status_code == 303
    assert session_cart(client) == {str(product_id): 4}


def test_posted_price_and_total_are_ignored(client, token, make_product):
    product_id = make_product(name="龙井", price_fen=16800, stock=5)

    client.post("/cart/add", data={
        "csrf_token": token, "product_id": product_id, "quantity": "1", "price": "1", "price_fen": "1", "total": "1",
    })

    assert session_cart(client) == {str(product_id): 1}
    page = text(client.get("/cart"))
    assert "¥168.00" in page
    assert "¥0.01" not in page


@pytest.mark.parametrize("quantity, message", [
    ("-1", "数量须在 1 到 20 之间。"),
    ("0", "数量须在 1 到 20 之间。"),
    ("21", "数量须在 1 到 20 之间。"),
    ("1000", "数量须在 1 到 20 之间。"),
    ("99999999999999999999999", "数量须在 1 到 20 之间。"),
    ("abc", "数量必须是整数。"),
    ("1.5", "数量必须是整数。"),
    ("1e3", "数量必须是整数。"),
    ("", "请填写数量。"),
    ("   ", "请填写数量。"),
])
def test_add_with_a_bad_quantity_is_400_with_a_message_and_changes_nothing(
    app, client, token, make_product, quantity, message
):
    product_id = make_product(name="龙井", stock=2000)
    other = make_product(name="普洱", stock=5)
    put_in_cart(client, {other: 1})

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": quantity})

    assert response.status_code == 400
    html = text(response)
    assert message in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="quantity-error"' in html
    assert session_cart(client) == {str(other): 1}
    assert stock_of(app, product_id) == 2000
    assert order_count(app) == 0


def test_add_without_a_quantity_field_is_400(app, client, token, make_product):
    product_id = make_product(stock=5)

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id})

    assert response.status_code == 400
    assert "请填写数量。" in text(response)
    assert session_cart(client) == {}


@pytest.mark.parametrize("product_id", ["999999", "abc", "", "-1", None])
def test_add_of_an_unknown_product_is_400_and_changes_nothing(app, client, token, make_product, product_id):
    other = make_product(stock=5)
    put_in_cart(client, {other: 2})
    data = {"csrf_token": token, "quantity": "1"}
    if product_id is not None:
        data["product_id"] = product_id

    response = client.post("/cart/add", data=data)

    assert response.status_code == 400
    assert "商品不存在或已下架。" in text(response)
    assert session_cart(client) == {str(other): 2}
    assert order_count(app) == 0


def test_add_of_an_inactive_product_is_400_and_changes_nothing(app, client, token, make_product):
    product_id = make_product(stock=5, active=False)

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": "1"})

    assert response.status_code == 400
    assert "商品不存在或已下架。" in text(response)
    assert session_cart(client) == {}
    assert stock_of(app, product_id) == 5


def test_add_over_stock_is_400_and_changes_nothing(app, client, token, make_product):
    product_id = make_product(name="龙井", stock=3)

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": "4"})

    assert response.status_code == 400
    assert "库存不足：「龙井」仅剩 3 件。" in text(response)
    assert session_cart(client) == {}
    assert stock_of(app, product_id) == 3


def test_add_that_would_take_the_line_over_stock_is_400(app, client, token, make_product):
    product_id = make_product(name="龙井", stock=4)
    put_in_cart(client, {product_id: 3})

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": "2"})

    assert response.status_code == 400
    assert "库存不足：「龙井」仅剩 4 件，购物车中已有 3 件。" in text(response)
    assert session_cart(client) == {str(product_id): 3}


def test_add_that_would_take_the_line_over_the_maximum_is_400(app, client, token, make_product):
    product_id = make_product(stock=500)
    put_in_cart(client, {product_id: 19})

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": "2"})

    assert response.status_code == 400
    assert "每种商品最多购买 20 件，购物车中已有 19 件。" in text(response)
    assert session_cart(client) == {str(product_id): 19}


def test_add_of_a_sold_out_product_is_400(app, client, token, make_product):
    product_id = make_product(name="牛肉干", stock=0)

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": product_id, "quantity": "1"})

    assert response.status_code == 400
    assert "「牛肉干」已售罄。" in text(response)
    assert session_cart(client) == {}
    assert stock_of(app, product_id) == 0


@pytest.mark.parametrize("csrf", [None, "", "wrong-token"])
def test_add_without_a_valid_csrf_token_is_400_and_changes_nothing(app, client, make_product, csrf):
    product_id = make_product(stock=5)
    put_in_cart(client, {product_id: 1})
    data = {"product_id": product_id, "quantity": "1"}
    if csrf is not None:
        data["csrf_token"] = csrf

    response = client.post("/cart/add", data=data)

    assert response.status_code == 400
    assert "页面已过期或表单校验失败" in text(response)
    assert session_cart(client) == {str(product_id): 1}
    assert stock_of(app, product_id) == 5


def test_cart_routes_that_change_things_refuse_get(client):
    for path in ("/cart/add", "/cart/update", "/cart/remove"):
        assert client.get(path).status_code == 405, path


def test_clear_asks_first_on_a_page_of_its_own_and_a_get_changes_nothing(client, make_product):
    """清空购物车 is a link to a confirmation page (no JavaScript needed); only its button empties the cart."""
    put_in_cart(client, {make_product(stock=5): 1, make_product(stock=5): 2})
    cart_page = text(client.get("/cart"))
    assert '<a class="button-link clear-cart" href="/cart/clear">清空购物车</a>' in cart_page
    # On a phone the first button is 去结算, not 清空购物车.
    actions = cart_page[cart_page.index('class="actions cart-actions"'):]
    assert actions.index("去结算") < actions.index("继续购物") < actions.index("清空购物车")

    response = client.get("/cart/clear")

    html = text(response)
    assert response.status_code == 200
    assert "确定清空购物车吗？" in html and "2 种商品（3 件）" in html
    assert '<button class="button button-danger" type="submit">确定清空</button>' in html
    assert len(session_cart(client)) == 2


def test_clear_confirmation_of_an_empty_cart_goes_back_to_the_cart(client):
    response = client.get("/cart/clear")
    assert (response.status_code, response.location) == (303, "/cart")


def test_a_cart_is_limited_in_distinct_products(app, client, token, make_product):
    from services.cart import MAX_LINES

    ids = [make_product(stock=5) for _ in range(MAX_LINES + 1)]
    put_in_cart(client, {product_id: 1 for product_id in ids[:MAX_LINES]})

    response = client.post("/cart/add", data={"csrf_token": token, "product_id": ids[-1], "quantity": "1"})

    assert response.status_code == 400
    assert f"购物车最多可放 {MAX_LINES} 种商品。" in text(response)
    assert str(ids[-1]) not in session_cart(client)


# ---------- Showing ----------


def test_cart_page_shows_lines_with_database_prices_and_the_total(app, client, make_product):
    tea = make_product(name="龙井", price_fen=16800, stock=5)
    candy = make_product(name="芝麻糖", price_fen=2580, stock=5)
    put_in_cart(client, {tea: 2, candy: 3})
    with app.app_context():
        db.session.get(Product, tea).price_fen = 15000
        db.session.commit()

    html = text(client.get("/cart"))

    assert "¥150.00" in html and "¥300.00" in html
    assert "¥25.80" in html and "¥77.40" in html
    assert '<td class="num total" colspan="2">¥377.40</td>' in html
    assert badge(html) == 5
    assert 'href="/checkout"' in html


def test_empty_cart_page_says_so(client):
    html = text(client.get("/cart"))

    assert "购物车是空的" in html
    assert badge(html) == 0
    assert 'href="/checkout"' not in html


def test_lines_of_vanished_or_inactive_products_are_dropped(app, client, make_product):
    kept = make_product(name="龙井", stock=5)
    hidden = make_product(name="下架了", stock=5)
    put_in_cart(client, {kept: 1, hidden: 2, 999999: 4})
    with app.app_context():
        db.session.get(Product, hidden).active = False
        db.session.commit()

    home = text(client.get("/"))
    cart = text(client.get("/cart"))

    assert badge(home) == 1
    assert "下架了" not in cart
    assert "购物车中有商品已下架，已为您移除。" in cart
    assert session_cart(client) == {str(kept): 1}


def test_a_line_over_the_current_stock_is_flagged_and_blocks_checkout(app, client, make_product):
    product_id = make_product(name="龙井", stock=5)
    put_in_cart(client, {product_id: 4})
    with app.app_context():
        db.session.get(Product, product_id).stock = 2
        db.session.commit()

    html = text(client.get("/cart"))

    assert "库存仅剩 2 件" in html
    assert 'href="/checkout"' not in html
    assert session_cart(client) == {str(product_id): 4}


def test_a_tampered_session_cart_is_ignored_not_a_500(client, make_product):
    product_id = make_product(stock=5)
    with client.session_transaction() as session:
        session[SESSION_KEY] = {"abc": 1, str(product_id): "3", "-2": 1, "7": -5, "8": True}

    response = client.get("/cart")

    assert response.status_code == 200
    assert "购物车是空的" in text(response)
    assert badge(text(response)) == 0


def test_a_session_cart_of_the_wrong_type_is_ignored(client):
    with client.session_transaction() as session:
        session[SESSION_KEY] = ["not", "a", "dict"]

    response = client.get("/cart")

    assert response.status_code == 200
    assert "购物车是空的" in text(response)


# ---------- Updating ----------


def test_update_changes_the_quantity(client, token, make_product):
    product_id = make_product(name="龙井", stock=10)
    put_in_cart(client, {product_id: 1})

    response = client.post("/cart/update", data={"csrf_token": token, "product_id": product_id, "quantity": "7"})

    assert response.status_code == 303
    assert session_cart(client) == {str(product_id): 7}
    assert "已将「龙井」的数量改为 7。" in text(client.get("/cart"))


@pytest.mark.parametrize("quantity, message", [
    ("-1", "数量须在 1 到 20 之间。"),
    ("0", "数量须在 1 到 20 之间。"),
    ("1000", "数量须在 1 到 20 之间。"),
    ("abc", "数量必须是整数。"),
    ("", "请填写数量。"),
    ("11", "库存不足：「龙井」仅剩 10 件。"),
])
def test_update_with_a_bad_quantity_is_400_with_a_message_and_changes_nothing(
    app, client, token, make_product, quantity, message
):
    product_id = make_product(name="龙井", stock=10)
    put_in_cart(client, {product_id: 2})

    response = client.post("/cart/update", data={"csrf_token": token, "product_id": product_id, "quantity": quantity})

    assert response.status_code == 400
    html = text(response)
    assert message in html
    assert f'aria-describedby="qty-error-{product_id}"' in html
    assert f'id="qty-{product_id}" name="quantity"' in html and 'value="2"' in html
    assert session_cart(client) == {str(product_id): 2}
    assert stock_of(app, product_id) == 10
    assert order_count(app) == 0


@pytest.mark.parametrize("product_id", ["999999", "abc", ""])
def test_update_of_a_line_not_in_the_cart_is_400(client, token, make_product, product_id):
    kept = make_product(stock=5)
    put_in_cart(client, {kept: 2})

    response = client.post("/cart/update", data={"csrf_token": token, "product_id": product_id, "quantity": "1"})

    assert response.status_code == 400
    assert "商品" in text(response)
    assert session_cart(client) == {str(kept): 2}


def test_update_of_a_line_whose_product_went_inactive_is_400(app, client, token, make_product):
    product_id = make_product(stock=5)
    put_in_cart(client, {product_id: 2})
    with app.app_context():
        db.session.get(Product, product_id).active = False
        db.session.commit()

    response = client.post("/cart/update", data={"csrf_token": token, "product_id": product_id, "quantity": "1"})

    assert response.status_code == 400
    assert "购物车中没有这件商品，它可能已下架。" in text(response)


def test_update_without_csrf_is_400_and_changes_nothing(client, make_product):
    product_id = make_product(stock=5)
    put_in_cart(client, {product_id: 2})

    response = client.post("/cart/update", data={"product_id": product_id, "quantity": "3"})

    assert response.status_code == 400
    assert session_cart(client) == {str(product_id): 2}


# ---------- Removing and clearing ----------


def test_remove_drops_one_line(client, token, make_product):
    tea = make_product(stock=5)
    candy = make_product(stock=5)
    put_in_cart(client, {tea: 1, candy: 2})

    response = client.post("/cart/remove", data={"csrf_token": token, "product_id": tea})

    assert response.status_code == 303
    assert session_cart(client) == {str(candy): 2}
    assert "已从购物车中移除。" in text(client.get("/cart"))


def test_removing_a_line_that_is_not_there_changes_nothing(client, token, make_product):
    tea = make_product(stock=5)
    put_in_cart(client, {tea: 1})

    response = client.post("/cart/remove", data={"csrf_token": token, "product_id": 999999})

    assert response.status_code == 303
    assert session_cart(client) == {str(tea): 1}
    assert "这件商品已不在购物车中。" in text(client.get("/cart"))


def test_remove_with_a_malformed_id_is_400(client, token, make_product):
    tea = make_product(stock=5)
    put_in_cart(client, {tea: 1})

    response = client.post("/cart/remove", data={"csrf_token": token, "product_id": "abc"})

    assert response.status_code == 400
    assert "商品不存在或已下架。" in text(response)
    assert session_cart(client) == {str(tea): 1}


@pytest.mark.parametrize("path", ["/cart/remove", "/cart/clear"])
def test_remove_and_clear_with_a_wrong_csrf_token_are_400(client, make_product, path):
    tea = make_product(stock=5)
    put_in_cart(client, {tea: 1})

    response = client.post(path, data={"csrf_token": "forged", "product_id": tea})

    assert response.status_code == 400
    assert "页面已过期或表单校验失败" in text(response)
    assert session_cart(client) == {str(tea): 1}


def test_clear_empties_the_cart(client, token, make_product):
    put_in_cart(client, {make_product(stock=5): 1, make_product(stock=5): 2})

    response = client.post("/cart/clear", data={"csrf_token": token})

    assert response.status_code == 303
    assert session_cart(client) == {}
    html = text(client.get("/cart"))
    assert "购物车已清空。" in html
    assert badge(html) == 0
