"""The shipping fee: a flat fee, free from a threshold (满 N 元包邮), shown in the cart and checkout, stored on
the order as its own line and included in its total, which is the amount WeChat Pay is asked for."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import Order
from services.checkout import Shipping, shipping_for
from services.refunds import refundable_fen
from tests.helpers import add_to_cart, buy

FEE, FREE_OVER = 1000, 9900


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SHIPPING_FEE_FEN": FEE, "FREE_SHIPPING_OVER_FEN": FREE_OVER}


@pytest.mark.parametrize(("items_fen", "fee", "free_over", "expected"), [
    (5000, 1000, 9900, Shipping(1000, 9900, 4900)),
    (9899, 1000, 9900, Shipping(1000, 9900, 1)),
    (9900, 1000, 9900, Shipping(0, 9900, 0)),   # 满 99 元: reaching the threshold is enough
    (5000, 1000, 0, Shipping(1000, 0, 0)),      # no threshold
    (5000, 0, 9900, Shipping(0, 9900, 0)),      # no fee at all
])
def test_the_one_shipping_rule(app, items_fen, fee, free_over, expected):
    app.config.update(SHIPPING_FEE_FEN=fee, FREE_SHIPPING_OVER_FEN=free_over)
    with app.app_context():
        assert shipping_for(items_fen) == expected


def only_order(app) -> Order:
    with app.app_context():
        return db.session.scalars(select(Order)).one()


def test_an_order_under_the_threshold_pays_the_fee_as_its_own_line(app, client, make_product):
    tea = make_product(name="龙井", price_fen=4000, stock=5)
    add_to_cart(client, tea, 2)

    cart = client.get("/cart").get_data(as_text=True)
    checkout = client.get("/checkout").get_data(as_text=True)
    buy(client, tea, 0)

    assert '<tr class="shipping"><th scope="row" colspan="3">运费</th>' in cart
    assert "再买 <strong>¥19.00</strong> 即可包邮（满 ¥99.00 包邮）" in cart
    assert re.search(r'<td class="num total" colspan="2">¥90.00</td>', cart)
    assert "应付 <strong class=\"price\">¥90.00</strong>（含运费 ¥10.00）" in checkout
    assert "提交订单 · ¥90.00" in checkout
    order = only_order(app)
    assert (order.items_fen, order.shipping_fen, order.total_fen) == (8000, 1000, 9000)
    with app.app_context():
        assert refundable_fen(order.id) == 9000  # the whole total, shipping too, once it is paid


def test_an_order_reaching_the_threshold_ships_free(app, client, make_product):
    tea = make_product(name="龙井", price_fen=3300, stock=5)
    add_to_cart(client, tea, 3)

    cart = client.get("/cart").get_data(as_text=True)
    buy(client, tea, 0)

    assert "已满 ¥99.00，本单包邮。" in cart and ">包邮</td>" in cart
    order = only_order(app)
    assert (order.shipping_fen, order.total_fen) == (0, 9900)


def test_the_order_page_shows_the_shipping_line(app, client, make_product):
    token = buy(client, make_product(price_fen=2000, stock=5))
    with app.app_context():
        order = db.session.scalar(select(Order).filter_by(token=token))
        order.status = "closed"
        db.session.commit()
    html = client.get(f"/orders/{token}").get_data(as_text=True)
    assert re.search(r'运费</th>\s*<td class="num">¥10.00</td>', html)
    assert '<td class="num total">¥30.00</td>' in html


def test_the_shipping_policy_page_states_the_settings(client):
    html = client.get("/help/shipping").get_data(as_text=True)
    assert "每笔订单运费 ¥10.00，商品金额满 ¥99.00 包邮。" in html


@pytest.mark.wechatpay
def test_wechat_pay_is_asked_for_the_total_with_shipping(app, wechat, live_shop, client, make_product):
    token = buy(client, make_product(price_fen=4550, stock=5))

    order = only_order(app)
    assert order.token == token and order.total_fen == 5550
    assert wechat.order(order.out_trade_no)["amount"]["total"] == 5550


def test_production_refuses_a_negative_shipping_setting(database_url, tmp_path):
    from app import create_app
    from settings_check import UnsafeSettings
    from tests.helpers import production_settings

    with pytest.raises(UnsafeSettings) as caught:
        create_app(production_settings(tmp_path, SQLALCHEMY_DATABASE_URI=database_url, SHIPPING_FEE_FEN=-500))
    assert "SHIPPING_FEE_FEN must be a whole number of fen, 0 or more" in str(caught.value)
