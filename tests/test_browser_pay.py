"""A customer buys in a real browser, pays on the sandbox phone page in a second tab, and the pay page
turns to success by itself."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import Order, Product
from tests.helpers import fill_delivery, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.wechatpay]


def checkout_in(context, app, live_shop, product_id):
    """A new page of ``context`` that bought one of the product through the real forms; on its pay page."""
    with app.app_context():
        slug = db.session.get(Product, product_id).slug
    shop = context.new_page()
    shop.goto(f"{live_shop}/p/{slug}")
    shop.get_by_role("button", name="加入购物车").click()
    shop.goto(f"{live_shop}/checkout")
    fill_delivery(shop)
    shop.get_by_role("button", name=re.compile("提交订单")).click()
    shop.wait_for_url(re.compile(r"/pay/[^/]+$"))
    return shop


def test_customer_buys_sees_a_ticking_qr_pays_on_the_phone_and_sees_success(
        app, live_shop, wechat, browser, make_product):
    context = browser.new_context()
    shop = checkout_in(context, app, live_shop, make_product(name="桂花乌龙茶", price_fen=4800, stock=3))
    qr = shop.locator(".qr img")
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    first = shop.locator("#countdown").inner_text()
    # The page's CSP forbids eval, so watch the countdown from here rather than with wait_for_function.
    wait_for(lambda: shop.locator("#countdown").inner_text() != first, timeout=5)
    assert re.fullmatch(r"\d\d:\d\d", shop.locator("#countdown").inner_text())

    with app.app_context():
        order = db.session.scalar(select(Order).order_by(Order.id.desc()))
    phone = context.new_page()
    phone.goto(shop.get_by_role("link", name=re.compile("沙箱")).get_attribute("href"))
    assert "¥48.00" in phone.content() or "48.00" in phone.content()
    phone.get_by_role("button", name="支付").click()

    shop.wait_for_url(re.compile(r"/pay/[^/]+/success$"), timeout=15000)
    assert "支付成功" in shop.content()
    with app.app_context():
        assert db.session.get(Order, order.id).status == "paid"
    context.close()


def test_past_the_deadline_the_pay_page_keeps_looking_and_turns_to_success(
        app, live_shop, wechat, browser, make_product):
    """A payment made at the last moment may reach the shop after the deadline (a late or lost notification):
    the page says so, keeps polling, and turns to success (found by `make loadtest`: it said the order would
    be closed and stopped looking)."""
    context = browser.new_context()
    shop = checkout_in(context, app, live_shop, make_product(name="陈皮", price_fen=2600, stock=3))
    phone_url = shop.get_by_role("link", name=re.compile("沙箱")).get_attribute("href")

    # The status poll answers as it does for a pending order past its deadline.
    shop.route("**/status", lambda route: route.fulfill(json={"status": "expired", "seconds_left": 0}))
    expired = shop.locator("#pay-expired")
    expired.wait_for(state="visible", timeout=10000)
    assert "如果您刚刚付过款，请稍候" in expired.inner_text()
    shop.unroute("**/status")

    phone = context.new_page()
    phone.goto(phone_url)
    phone.get_by_role("button", name="支付").click()
    shop.wait_for_url(re.compile(r"/pay/[^/]+/success$"), timeout=15000)
    assert "支付成功" in shop.content()
    context.close()
