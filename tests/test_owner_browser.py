"""In headless Chromium: the owner runs the shop from /admin — a product with its picture, a customer buying the
last unit, a restock while another order is pending (no unit lost), a tracking number the customer then sees;
and every owner page fits a 390 px phone without scrolling sideways."""
import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from core.clock import utcnow
from extensions import db
from models import Order, Product
from services.payment import close_order
from tests.helpers import OWNER, PASSWORD, fill_delivery, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.wechatpay]

PHONE = {"width": 390, "height": 844}
COMPUTER = {"width": 1280, "height": 800}
WECHAT_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) NetType/WIFI Language/zh_CN")


def photo() -> bytes:
    image = Image.new("RGB", (1600, 1200), "#8c3b24")
    for x in range(0, 1600, 100):
        image.paste("#d7805f", (x, 0, x + 50, 1200))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def log_in(page, live_shop):
    page.goto(f"{live_shop}/admin/login")
    page.get_by_label("用户名").fill(OWNER)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_shop}/admin/orders")


def checkout(page, live_shop, slug, name, mobile):
    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_role("button", name="加入购物车").click()
    page.goto(f"{live_shop}/checkout")
    fill_delivery(page, name=name, mobile=mobile)
    page.get_by_role("button", name=re.compile("提交订单")).click()
    page.wait_for_url(re.compile(r"/pay/[^/#]+(#.*)?$"))  # inside WeChat, after its OAuth (which keeps a fragment)
    return page.url.split("#")[0].rsplit("/", 1)[1]


def order_for(app, token):
    with app.app_context():
        return db.session.scalar(select(Order).filter_by(token=token))


def stock_of(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).stock


def test_the_owner_adds_a_product_a_customer_buys_the_last_unit_and_sees_the_tracking_number(
        app, live_shop, wechat, browser, owner):
    app.config["SHIP_MODE"] = "manual"  # the owner ships by hand: the paid order waits in 待发货
    owner_context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport=COMPUTER)
    admin = owner_context.new_page()
    admin.set_default_timeout(10_000)
    log_in(admin, live_shop)

    admin.get_by_role("link", name="分类").click()
    admin.get_by_label("分类名称").fill("零食")
    admin.get_by_role("button", name="添加分类").click()
    assert "分类「零食」已创建" in admin.locator(".flashes").inner_text()

    admin.get_by_role("link", name="商品", exact=True).click()
    admin.get_by_role("link", name="添加商品").click()
    admin.get_by_label("商品名称").fill("五香牛肉干 200g")
    admin.get_by_label("价格（元）").fill("58")
    admin.get_by_label("库存（件）").fill("2")
    admin.get_by_label("商品介绍").fill("内蒙古草原牛肉，五香风味。")
    admin.get_by_label("添加图片").set_input_files(
        [{"name": "IMG_0001.JPG", "mimeType": "image/jpeg", "buffer": photo()}])
    admin.get_by_role("button", name="创建商品").click()
    admin.wait_for_url(re.compile(r"/admin/products/\d+$"))
    assert "商品「五香牛肉干 200g」已创建并上架。" in admin.locator(".flashes").inner_text()
    product_id = int(admin.url.rsplit("/", 1)[1])
    with app.app_context():
        slug = db.session.get(Product, product_id).slug
    assert admin.locator(".image-item img").count() == 1

    # Two customers on their phones: the first leaves an order unpaid, the second buys the last unit and pays.
    customers = [browser.new_context(locale="zh-CN", viewport=PHONE, user_agent=WECHAT_UA, is_mobile=True)
                 for _ in range(2)]
    waiting, buyer = (context.new_page() for context in customers)
    waiting.goto(live_shop)
    card = waiting.locator(".product-card", has_text="五香牛肉干 200g")
    image = card.locator("img")
    assert re.fullmatch(r"/media/products/[0-9a-f]{32}-480\.jpg", image.get_attribute("src"))
    assert waiting.evaluate("(img) => img.naturalWidth", image.element_handle()) == 480  # served, decoded
    pending_token = checkout(waiting, live_shop, slug, "赵六", "13600002222")
    paid_token = checkout(buyer, live_shop, slug, "王五", "13700001111")
    assert stock_of(app, product_id) == 0
    buyer.goto(f"{live_shop}/p/{slug}")
    assert "已售罄" in buyer.content()
    wechat.pay(order_for(app, paid_token).out_trade_no)
    wait_for(lambda: order_for(app, paid_token).status == "paid")

    # The owner restocks while the first order still holds its unit.
    admin.goto(f"{live_shop}/admin/products")
    row = admin.locator(f'tr[data-product-id="{product_id}"]')
    assert row.locator("[data-stock]").inner_text() == "售罄" and row.locator("[data-held]").inner_text() == "1"
    row.get_by_role("link", name="补货").click()
    admin.get_by_label("原因").select_option("restock")
    admin.get_by_label("数量").fill("10")
    admin.get_by_label("备注").fill("新到一箱")
    admin.get_by_role("button", name="确定").click()
    assert "补货 +10 件，现在库存 10 件。" in admin.locator(".flashes").inner_text()
    with app.app_context():  # the unpaid order runs out of time and gives its unit back on top
        close_order(db.session.scalar(select(Order).filter_by(token=pending_token)), utcnow())
    assert stock_of(app, product_id) == 11
    admin.reload()
    log = admin.locator(".stock-log tbody tr")
    assert [log.nth(i).get_attribute("data-reason") for i in range(log.count())] == [
        "release", "restock", "sale", "sale", "initial"]

    # The paid order waits in 待发货; the owner records the courier and number, which ships it.
    admin.get_by_role("link", name="发货", exact=True).click()
    paid = order_for(app, paid_token)
    item = admin.locator(f'li.ship-item[data-out-trade-no="{paid.out_trade_no}"]')
    assert "五香牛肉干 200g ×1" in item.inner_text()
    item.get_by_label(f"订单 {paid.out_trade_no} 的快递公司").select_option("sf")
    item.get_by_label(f"订单 {paid.out_trade_no} 的运单号").fill("SF1234567890123")
    item.get_by_role("button", name="发货").click()
    assert "已发货，快递 顺丰速运 运单号 SF1234567890123 已记录" in admin.locator(".flashes").inner_text()
    assert order_for(app, paid_token).status == "shipped"

    buyer.goto(f"{live_shop}/orders/{paid_token}")
    assert buyer.locator("[data-tracking]").inner_text() == "顺丰速运 SF1234567890123"
    assert "已发货" in buyer.content()
    for context in (owner_context, *customers):
        context.close()


OWNER_PAGES = ["/admin/orders", "/admin/orders/{order}", "/admin/ship", "/admin/ship/tracking",
               "/admin/products", "/admin/products/new", "/admin/products/{product}", "/admin/categories",
               "/admin/alerts", "/admin/ship/print?kind=slips&id={order}", "/admin/ship/print?kind=pick&id={order}"]


def test_every_owner_page_fits_a_phone_without_scrolling_sideways(app, live_shop, browser, owner, paid):
    order = paid(price_fen=5800, quantity=2)
    with app.app_context():
        product = db.session.get(Product, order.product_id)
        product.name = "很长很长的商品名称用来测试窄屏幕上的换行效果 200g 装"
        db.session.commit()
    context = browser.new_context(locale="zh-CN", viewport=PHONE, user_agent=WECHAT_UA, is_mobile=True)
    page = context.new_page()
    log_in(page, live_shop)
    for path in OWNER_PAGES:
        page.goto(live_shop + path.format(order=order.id, product=order.product_id))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide"
    context.close()
