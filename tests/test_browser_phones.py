"""Customers on phones, in headless Chromium at 390x844 with their browser's User-Agent: inside WeChat
(silent OAuth -> WeChat's pay sheet -> success without reload) and in another phone browser (H5 ->
WeChat's cashier -> the return page -> success). WeChat's own checks refuse a tampered paySign and a
page outside the registered payment directory."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import Order, Product
from tests.helpers import fill_delivery
from tests.test_pay_channels import ANDROID_CHROME, IPHONE_WECHAT

pytestmark = [pytest.mark.browser, pytest.mark.wechatpay]
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):
    """A factory of phone pages with a given User-Agent; closed after the test."""
    contexts = []

    def open_page(user_agent, **options):
        context = browser.new_context(user_agent=user_agent, viewport=PHONE, is_mobile=True, has_touch=True,
                                      locale="zh-CN", **options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        return page

    yield open_page
    for context in contexts:
        context.close()


def checkout(app, page, shop, make_product):
    product_id = make_product(name="云南普洱熟茶饼", price_fen=6800, stock=3)
    with app.app_context():
        slug = db.session.get(Product, product_id).slug
    page.goto(f"{shop}/p/{slug}")
    page.get_by_role("button", name="加入购物车").click()
    page.goto(f"{shop}/checkout")
    fill_delivery(page, name="赵六", mobile="13600002222", province="四川省", city="成都市", district="武侯区",
                  detail="天府大道 9 号")
    page.get_by_role("button", name=re.compile("提交订单")).click()


def last_order(app):
    """(status, the channels of its attempts) of the newest order."""
    with app.app_context():
        order = db.session.scalar(select(Order).order_by(Order.id.desc()))
        return order.status, [attempt.channel for attempt in order.attempts]


def test_inside_wechat_the_customer_pays_on_wechats_pay_sheet(app, live_shop, wechat, phone, make_product):
    page = phone(IPHONE_WECHAT)
    shop = live_shop.replace("localhost", "127.0.0.1")
    checkout(app, page, shop, make_product)

    sheet = page.locator("#wxsandbox-sheet")
    sheet.wait_for(state="visible")  # after the silent OAuth, the bridge opened WeChat's pay sheet itself
    assert re.search(r"/pay/[^/?]+$", page.url)
    assert "68.00" in page.locator("#wxsandbox-amount").inner_text()
    page.locator("#wxsandbox-pay").click()

    page.wait_for_url(re.compile(r"/pay/[^/]+/success$"))
    assert "支付成功" in page.content()
    assert last_order(app) == ("paid", ["jsapi"])


def test_in_another_phone_browser_the_customer_pays_in_wechats_cashier(app, live_shop, wechat, phone, make_product):
    page = phone(ANDROID_CHROME)
    checkout(app, page, live_shop, make_product)
    page.wait_for_url(re.compile(r"/pay/[^/]+$"))
    assert page.locator(".qr").count() == 0

    page.get_by_role("link", name="前往微信支付").click()
    page.locator("#h5-pay").click()  # WeChat's cashier accepted the shop's Referer and redirect_url

    page.wait_for_url(re.compile(r"/pay/[^/]+/success$"))  # via the return page, which polled
    assert last_order(app) == ("paid", ["h5"])


def test_wechat_refuses_a_tampered_pay_sign(app, live_shop, wechat, phone, make_product):
    page = phone(IPHONE_WECHAT)
    page.add_init_script("""
        Object.defineProperty(window, "WeixinJSBridge", {configurable: true, get: function () {}, set: function (b) {
            var invoke = b.invoke;
            b.invoke = function (name, params, done) {
                var forged = Object.assign({}, params, {paySign: "AAAA" + params.paySign.slice(4)});
                return invoke.call(b, name, forged, done);
            };
            Object.defineProperty(window, "WeixinJSBridge", {value: b, writable: true, configurable: true});
        }});
    """)
    checkout(app, page, live_shop.replace("localhost", "127.0.0.1"), make_product)

    page.locator("#wxsandbox-error").wait_for(state="visible")
    assert "支付验证签名失败" in page.locator("#wxsandbox-error-text").inner_text()
    page.locator("#wxsandbox-error-ok").click()
    assert "支付未完成" in page.locator("#pay-state").inner_text()
    assert page.locator("#pay-jsapi").is_visible()  # the customer can try again, or switch
    assert last_order(app)[0] == "pending"


def test_wechat_refuses_a_page_outside_the_registered_payment_directory(app, live_shop, wechat, phone, make_product):
    wechat.configure(SANDBOX_JSAPI_PAY_DIRS="127.0.0.1/checkout/pay/")
    page = phone(IPHONE_WECHAT)
    checkout(app, page, live_shop.replace("localhost", "127.0.0.1"), make_product)

    page.locator("#wxsandbox-error").wait_for(state="visible")
    assert "当前页面的URL未注册" in page.locator("#wxsandbox-error-text").inner_text()
    assert last_order(app)[0] == "pending"
