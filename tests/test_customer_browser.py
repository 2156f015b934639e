"""The customer's side in headless Chromium at 390x844 and 1280x800: finding an order again, 再来一单, the
shipping fee through to WeChat Pay's amount, the region selects with and without JavaScript, search, and no
element sticking out of its container at phone width."""
import re

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.vocabulary import OrderStatus
from extensions import db
from models import Order, PaymentAttempt, Product
from tests.helpers import SIZES, fill_delivery, wait_for

pytestmark = pytest.mark.browser


@pytest.fixture(params=sorted(SIZES))
def size(request):
    return request.param


@pytest.fixture
def new_page(browser, size):
    """Factory: a page in a fresh browser context (its own cookies) of the test's size."""
    contexts = []

    def make(**options):
        context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **SIZES[size], **options)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def slug_of(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).slug


def latest_order(app) -> Order:
    with app.app_context():
        return db.session.scalar(select(Order).order_by(Order.id.desc()))


def amount_on_wechat_pay(app, wechat, page) -> int:
    """The amount WeChat Pay holds for the newest order: on a phone browser the H5 payment starts only at the
    customer's tap, on a computer the pay page has already shown the QR code."""
    h5 = page.get_by_role("link", name="前往微信支付")
    if h5.count():
        h5.click()
    order_id = latest_order(app).id

    def started():
        with app.app_context():
            return db.session.scalar(select(PaymentAttempt.out_trade_no).filter_by(order_id=order_id)
                                     .order_by(PaymentAttempt.id.desc()))

    out_trade_no = wait_for(started)
    return wechat.order(out_trade_no)["amount"]["total"]


def buy_in_browser(page, live_shop, slug, quantity=1, **delivery):
    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_label("数量").fill(str(quantity))
    page.get_by_role("button", name="加入购物车").click()
    page.get_by_role("link", name="去结算").click()
    fill_delivery(page, **delivery)
    page.get_by_role("button", name=re.compile("提交订单")).click()
    page.wait_for_url(re.compile(r"/pay/[^/]+$"))


def test_an_order_is_found_again_in_my_orders_and_by_lookup(app, live_shop, new_page, make_product):
    slug = slug_of(app, make_product(name="桂花乌龙茶", price_fen=4800, stock=3))
    page = new_page()
    buy_in_browser(page, live_shop, slug, mobile="13700001111")
    order = latest_order(app)

    page.get_by_role("link", name="我的订单").click()
    card = page.locator(".order-card")
    assert card.count() == 1 and order.out_trade_no in card.inner_text() and "桂花乌龙茶" in card.inner_text()

    elsewhere = new_page()  # another phone or browser: no cookie, so it looks the order up
    elsewhere.goto(f"{live_shop}/orders")
    assert elsewhere.locator(".order-card").count() == 0
    elsewhere.get_by_role("link", name="用订单号和手机号查询").click()
    elsewhere.get_by_label("订单号").fill(order.out_trade_no)
    elsewhere.get_by_label("下单手机号").fill("13700001112")
    elsewhere.get_by_role("button", name="查询").click()
    assert "没有找到这笔订单" in elsewhere.locator("#not-found").inner_text()
    assert elsewhere.title().startswith("错误：")
    elsewhere.get_by_label("下单手机号").fill("137 0000 1111")
    elsewhere.get_by_role("button", name="查询").click()
    elsewhere.wait_for_url(re.compile(r"/pay/"))
    elsewhere.goto(f"{live_shop}/orders")
    assert order.out_trade_no in elsewhere.locator(".order-card").inner_text()


def test_reorder_refills_the_cart_and_prefills_the_delivery_details(app, live_shop, new_page, make_product):
    tea = make_product(name="白牡丹", price_fen=9800, stock=5)
    page = new_page()
    buy_in_browser(page, live_shop, slug_of(app, tea), 2, name="钱八", province="广东省", city="深圳市",
                   district="南山区", detail="科技园 1 栋")
    order = latest_order(app)
    with app.app_context():
        row = db.session.get(Order, order.id)
        row.status, row.closed_at = OrderStatus.CLOSED, utcnow()
        db.session.get(Product, tea).price_fen = 9900
        db.session.commit()

    page.goto(f"{live_shop}/orders/{order.token}")
    assert "订单已关闭" in page.locator(".next-steps").inner_text()
    page.get_by_role("button", name="再来一单").click()

    page.wait_for_url(f"{live_shop}/cart")
    flashes = page.locator(".flashes").inner_text()
    assert "已将 2 件商品放入购物车" in flashes and "价格由 ¥98.00 变为 ¥99.00" in flashes
    assert page.locator("#qty-%d" % tea).input_value() == "2"
    page.get_by_role("link", name="去结算").click()
    assert page.get_by_label("收货人").input_value() == "钱八"
    assert page.get_by_label("区县").input_value() == "南山区"
    assert page.get_by_label("详细地址").input_value() == "科技园 1 栋"


@pytest.mark.wechatpay
def test_the_shipping_fee_and_free_shipping_reach_the_wechat_pay_amount(app, wechat, live_shop, new_page,
                                                                         make_product):
    app.config.update(SHIPPING_FEE_FEN=1000, FREE_SHIPPING_OVER_FEN=9900)
    slug = slug_of(app, make_product(name="芝麻糖", price_fen=4550, stock=10))
    page = new_page()

    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_role("button", name="加入购物车").click()
    assert page.locator("tr.shipping td").inner_text() == "¥10.00"
    assert "再买 ¥53.50 即可包邮" in page.locator(".free-shipping-hint").inner_text()
    page.get_by_role("link", name="去结算").click()
    assert "含运费 ¥10.00" in page.locator(".checkout-brief").inner_text()
    fill_delivery(page)
    page.get_by_role("button", name="提交订单 · ¥55.50").click()
    page.wait_for_url(re.compile(r"/pay/[^/]+$"))
    first = latest_order(app)
    assert (first.shipping_fen, first.total_fen) == (1000, 5550)
    assert amount_on_wechat_pay(app, wechat, page) == 5550

    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_label("数量").fill("3")
    page.get_by_role("button", name="加入购物车").click()
    assert page.locator("tr.shipping td").inner_text() == "包邮"
    page.get_by_role("link", name="去结算").click()
    page.get_by_role("button", name="提交订单 · ¥136.50").click()  # the details were remembered
    page.wait_for_url(re.compile(r"/pay/[^/]+$"))
    second = latest_order(app)
    assert (second.shipping_fen, second.total_fen) == (0, 13650)
    assert amount_on_wechat_pay(app, wechat, page) == 13650


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_the_region_selects_work_with_and_without_javascript(app, live_shop, new_page, make_product, javascript):
    slug = slug_of(app, make_product(stock=5))
    page = new_page(java_script_enabled=javascript)
    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_role("button", name="加入购物车").click()
    page.goto(f"{live_shop}/checkout")
    # The summary does not push the form below the first screen, on a phone too.
    name_box, viewport = page.get_by_label("收货人").bounding_box(), page.viewport_size
    assert name_box["y"] + name_box["height"] <= viewport["height"]
    refresh = page.get_by_role("button", name="更新城市和区县")
    assert refresh.count() == (0 if javascript else 1)

    page.get_by_label("收货人").fill("周九")
    page.get_by_label("省份").select_option("四川省")
    if javascript:  # filled in place, no round trip
        wait_for(lambda: page.get_by_label("城市").locator("option[value='成都市']").count() == 1)
    else:
        assert page.get_by_label("城市").locator("option").count() == 1
    fill_delivery(page, name="周九", province="四川省", city="成都市", district="武侯区", detail="人民南路 4 段")
    page.get_by_role("button", name=re.compile("提交订单")).click()
    page.wait_for_url(re.compile(r"/pay/[^/]+$"))
    order = latest_order(app)
    assert (order.province, order.city, order.district) == ("四川省", "成都市", "武侯区")
    assert order.address == "四川省成都市武侯区 人民南路 4 段"


def test_search_finds_what_a_customer_types(app, live_shop, new_page, make_product):
    for name, category in [("云南普洱熟茶饼 357g", "茶饮"), ("西湖龙井 明前特级 100g", "茶饮"),
                           ("手工黑芝麻糖", "零食")]:
        make_product(name=name, category=category)
    page = new_page()
    page.goto(live_shop)

    page.get_by_label("搜索商品").fill("普洱茶")
    page.get_by_label("搜索商品").press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    assert page.locator(".product-card-name").all_inner_texts() == ["云南普洱熟茶饼 357g"]

    page.get_by_label("搜索商品").fill("茶")
    page.get_by_role("button", name="搜索", exact=True).click()
    page.wait_for_url(re.compile(r"q=%E8%8C%B6$"))
    assert sorted(page.locator(".product-card-name").all_inner_texts()) == ["云南普洱熟茶饼 357g",
                                                                          "西湖龙井 明前特级 100g"]
