"""In headless Chromium: the owner logs in, finds the order a customer just paid, and refunds it."""
import pytest
from sqlalchemy import select

from extensions import db
from models import Order, Refund
from tests.helpers import OWNER, PASSWORD, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.wechatpay]


@pytest.fixture
def browser_page(browser):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def paid_by_a_customer(app, wechat, placed):
    """A customer's order placed on WeChat Pay (the sandbox) and paid on the sandbox phone."""
    order = placed(price_fen=4321)
    wechat.pay(order.out_trade_no)

    def is_paid():
        with app.app_context():
            return db.session.get(Order, order.id).status == "paid"

    wait_for(is_paid)
    return order


@pytest.mark.browser
def test_the_owner_logs_in_finds_the_paid_order_and_refunds_it(
        app, live_shop, wechat, make_order, placed, owner, browser_page):
    older = make_order(price_fen=999)  # another order the owner must not confuse with it
    order = paid_by_a_customer(app, wechat, placed)
    page = browser_page

    page.goto(f"{live_shop}/admin/orders")
    assert page.url.startswith(f"{live_shop}/admin/login?next=")
    page.get_by_label("用户名").fill(OWNER)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_shop}/admin/orders")

    page.get_by_label("状态").select_option("paid")
    page.get_by_label("搜索").fill("13800138000")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**/admin/orders?*status=paid*")
    rows = page.locator("tr.order-row")
    assert rows.count() == 1
    assert page.locator(f'tr[data-out-trade-no="{older.out_trade_no}"]').count() == 0
    assert "¥43.21" in rows.first.inner_text()
    rows.first.get_by_role("link", name=order.out_trade_no).click()
    page.wait_for_url(f"{live_shop}/admin/orders/{order.id}")
    assert "已支付" in page.locator("#order-status").inner_text()
    timeline = page.locator(".timeline").inner_text()
    assert "微信支付通知：支付成功 → 订单已支付" in timeline and "TRANSACTION" not in timeline

    amount = page.get_by_label("退款金额（元）")
    assert amount.input_value() == ""  # never pre-filled with the whole amount
    amount.fill("43.21")
    page.get_by_label("退款原因").fill("顾客申请退款")
    page.get_by_role("button", name="退款…", exact=True).click()
    # The form asks first, showing the amount; nothing is refunded yet.
    assert page.locator("[data-confirm-amount]").inner_text() == "¥43.21"
    with app.app_context():
        assert db.session.scalar(select(Refund.id).filter_by(order_id=order.id)) is None
    page.get_by_role("button", name="确认退款 ¥43.21").click()
    page.wait_for_url(f"{live_shop}/admin/orders/{order.id}")
    assert "已向微信支付申请退款 ¥43.21" in page.locator(".flashes").inner_text()

    def refund_settled():
        with app.app_context():
            return db.session.scalar(select(Refund.status).filter_by(order_id=order.id)) == "SUCCESS"

    wait_for(refund_settled)
    page.reload()
    refund_row = page.locator("tr[data-out-refund-no]")
    assert refund_row.count() == 1
    assert "退款成功" in refund_row.inner_text() and "顾客申请退款" in refund_row.inner_text()
    assert "已退款" in page.locator("#order-status").inner_text()
    assert page.locator("#refunded-amount").inner_text() == "¥43.21"
    timeline = page.locator(".timeline").inner_text()
    assert "微信支付通知：退款成功 → 退款成功，已计入订单" in timeline and "REFUND" not in timeline
    assert page.get_by_label("退款金额（元）").count() == 0  # nothing left to refund

    sandbox_order = wechat.order(order.out_trade_no)
    assert sandbox_order["trade_state"] == "REFUND"
    assert [(r["status"], r["amount"]["refund"]) for r in sandbox_order["refunds"]] == [("SUCCESS", 4321)]
