"""Accessibility and layout on the customer's main pages, at 390x844 and 1280x800: axe-core finds no violation,
no element sticks out of its container on a phone, the focus ring is a solid outline, form errors take the
focus and say 错误 in the title, and a redirect's message is reached first."""
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core.clock import utcnow
from core.vocabulary import OrderStatus
from extensions import db
from models import Order, Product
from tests.conftest import requires
from tests.helpers import SIZES, fill_delivery

pytestmark = pytest.mark.browser
AXE = Path(__file__).resolve().parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

# Every element that is shown and not taken out of the flow must fit horizontally inside its parent, unless an
# ancestor scrolls sideways on purpose or is itself out of the flow (a visually hidden table head); and the page
# itself must not scroll sideways.
OVERFLOW_CHECK = """() => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth) problems.push(`page is ${root.scrollWidth}px wide`);
  const exempt = (el) => { for (let a = el.parentElement; a; a = a.parentElement) {
    const style = getComputedStyle(a);
    if (['auto', 'scroll'].includes(style.overflowX) || ['absolute', 'fixed'].includes(style.position)) return true;
  } return false; };
  for (const el of document.body.querySelectorAll('*')) {
    const style = getComputedStyle(el);
    if (style.display === 'none' || ['absolute', 'fixed'].includes(style.position)) continue;
    if (el.closest('.visually-hidden, .skip-link, script, noscript')) continue;
    const box = el.getBoundingClientRect(), parent = el.parentElement.getBoundingClientRect();
    if (!box.width || !box.height) continue;
    if ((box.left < parent.left - 1 || box.right > parent.right + 1) && !exempt(el))
      problems.push(`${el.tagName.toLowerCase()}.${el.className} ${Math.round(box.left)}..${Math.round(box.right)}`
                    + ` outside ${el.parentElement.tagName.toLowerCase()} ${Math.round(parent.left)}..`
                    + `${Math.round(parent.right)}: ${el.textContent.trim().slice(0, 30)}`);
  }
  return problems;
}"""


@pytest.fixture
def shop(app, make_product):
    """Products with long names, a cart, and a closed order with a long number -> the order's token."""
    long_name = "云南普洱熟茶饼 357g 勐海大叶种晒青毛茶发酵压制 越陈越香 礼盒装 两饼装 ABCDEFGHIJKLMNOP"
    ids = [make_product(name=long_name, price_fen=12_345_600, stock=5, category="茶饮"),
           make_product(name="手工黑芝麻糖", price_fen=2580, stock=0, category="零食")]
    with app.app_context():
        product = db.session.get(Product, ids[0])
        product.image_alt, product.description = "一块圆形的普洱茶饼", "勐海大叶种晒青毛茶发酵压制，醇厚回甘。"
        db.session.commit()
    return ids


@pytest.fixture(params=sorted(SIZES))
def page(request, browser):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", bypass_csp=True,
                                  **SIZES[request.param])
    page = context.new_page()
    page.size = request.param
    yield page
    context.close()


def set_stock(app, product_id, stock):
    with app.app_context():
        db.session.get(Product, product_id).stock = stock
        db.session.commit()


def main_pages(app, page, live_shop, shop):
    """Walk the customer's main pages, yielding each page's name once it is showing."""
    with app.app_context():
        slug, category = db.session.scalar(select(Product.slug).filter_by(id=shop[0])), \
            db.session.get(Product, shop[0]).category.slug
    for name, path in [("首页", "/"), ("分类", f"/c/{category}"), ("商品", f"/p/{slug}"), ("搜索", "/search?q=普洱茶"),
                       ("搜索无结果", "/search?q=咖啡"), ("空购物车", "/cart"), ("配送说明", "/help/shipping"),
                       ("退换货政策", "/help/returns"), ("我的订单（空）", "/orders"), ("查询订单", "/orders/lookup")]:
        page.goto(live_shop + path)
        yield name
    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_label("数量").fill("2")
    set_stock(app, shop[0], 1)  # someone bought the rest meanwhile: the server refuses, the page says why
    page.get_by_role("button", name="加入购物车").click()
    page.wait_for_url(f"{live_shop}/cart/add")
    page.wait_for_load_state()
    assert page.title().startswith("错误：")
    expect(page.locator("#quantity")).to_be_focused()
    yield "商品（数量错误）"
    set_stock(app, shop[0], 5)
    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_label("数量").fill("2")
    page.get_by_role("button", name="加入购物车").click()
    page.wait_for_url(f"{live_shop}/cart")
    page.wait_for_load_state()
    yield "购物车"
    page.goto(f"{live_shop}/cart/clear")
    yield "清空购物车确认"
    page.goto(f"{live_shop}/checkout")
    yield "结算"
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("提交订单")).click()
    page.wait_for_load_state()
    yield "结算（错误）"
    fill_delivery(page)
    page.get_by_role("button", name=re.compile("提交订单")).click()
    page.wait_for_url(re.compile(r"/pay/"))
    with app.app_context():
        order = db.session.scalar(select(Order).order_by(Order.id.desc()))
        order.status, order.closed_at, order.out_trade_no = OrderStatus.CLOSED, utcnow(), "2" * 32
        db.session.commit()
        token = order.token
    page.goto(f"{live_shop}/orders/{token}")
    yield "订单"
    page.goto(f"{live_shop}/orders")
    yield "我的订单"


def test_axe_finds_no_violations_on_the_main_pages(app, live_shop, page, shop):
    requires(AXE.exists(), f"needs axe-core at {AXE} (make test-shop installs it with npm)")
    found = {}
    for name in main_pages(app, page, live_shop, shop):
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate("""async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
            return result.violations.map(v => `${v.id}: ${v.nodes.map(n => n.target.join(' ')).join(', ')}`);
        }""", AXE_TAGS)
        if violations:
            found[name] = violations
    assert found == {}


def test_no_element_sticks_out_of_its_container(app, live_shop, page, shop):
    found = {}
    for name in main_pages(app, page, live_shop, shop):
        problems = page.evaluate(OVERFLOW_CHECK)
        if problems:
            found[name] = problems
    assert found == {}


def outline_of(page, selector):
    return page.evaluate("""(selector) => {
        const style = getComputedStyle(document.querySelector(selector));
        return [style.outlineStyle, style.outlineWidth, style.outlineColor];
    }""", selector)


def test_the_focus_ring_is_a_solid_outline_round_the_whole_product_card(app, live_shop, page, shop):
    page.goto(live_shop)
    link = page.locator(".product-card-link").first
    page.keyboard.press("Tab")  # skip link
    while not link.evaluate("el => el === document.activeElement"):
        page.keyboard.press("Tab")
    assert outline_of(page, ".product-card:has(.product-card-link:focus-visible)") == [
        "solid", "3px", "rgb(23, 92, 58)"]
    page.get_by_label("搜索商品").focus()
    style, width, _ = outline_of(page, "#q")
    assert (style, width) == ("solid", "3px")
    assert page.evaluate("getComputedStyle(document.documentElement).scrollPaddingTop") != "0px"


def test_a_failed_form_focuses_its_first_invalid_field_and_says_so_in_the_title(app, live_shop, page, shop):
    with app.app_context():
        slug = db.session.scalar(select(Product.slug).filter_by(id=shop[0]))
    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_role("button", name="加入购物车").click()
    page.goto(f"{live_shop}/checkout")
    page.get_by_label("收货人").fill("吴十")
    page.get_by_role("button", name=re.compile("提交订单")).click()

    assert page.title().startswith("错误：结算")
    expect(page.locator("#mobile")).to_be_focused()  # the script moves focus after load: wait for it
    assert page.get_by_label("收货人").input_value() == "吴十"  # what was typed is kept
    page.locator(".error-summary a", has_text="区县").click()
    assert page.evaluate("location.hash") == "#district"

    page.goto(f"{live_shop}/cart")
    page.locator(".input-quantity").fill("8")  # within the field's max, over the stock of 5
    page.get_by_role("button", name=re.compile("更新")).click()
    assert page.title().startswith("错误：购物车")
    expect(page.locator(".input-quantity")).to_be_focused()
    expect(page.locator(".input-quantity")).to_have_value("8")  # not reset to the old quantity


def test_a_redirects_message_is_one_status_container_that_takes_the_focus(app, live_shop, page, shop):
    with app.app_context():
        slug = db.session.scalar(select(Product.slug).filter_by(id=shop[0]))
    page.goto(f"{live_shop}/p/{slug}")
    page.get_by_role("button", name="加入购物车").click()
    page.wait_for_url(f"{live_shop}/cart")
    assert page.locator("[role=status]").count() == 1
    expect(page.locator(".flashes")).to_be_focused()
    expect(page.locator(".flashes")).to_contain_text("加入购物车")


def test_the_product_page_shows_the_owners_alt_text_and_cards_stay_decorative(app, live_shop, page, shop):
    with app.app_context():
        slug = db.session.scalar(select(Product.slug).filter_by(id=shop[0]))
        db.session.get(Product, shop[0]).image = "puer.png"
        db.session.commit()
    page.goto(f"{live_shop}/p/{slug}")
    assert page.locator(".product-image-detail").get_attribute("alt") == "一块圆形的普洱茶饼"
    page.goto(live_shop)
    assert page.locator(".product-card img").first.get_attribute("alt") == ""


def test_axe_itself_is_pinned_and_installed_by_the_makefile():
    assert '"axe-core": "4.14.1"' in (AXE.parent.parent.parent / "package.json").read_text(encoding="utf-8")
    assert "npm ci" in (Path(__file__).resolve().parent.parent / "Makefile").read_text(encoding="utf-8")
    assert os.path.basename(str(AXE)) == "axe.min.js"
