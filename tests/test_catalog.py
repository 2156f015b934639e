"""Catalog pages: home, category pagination, product pages, search; only active products, sold-out shown."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import Product


def slug_of(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).slug


def category_slug(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).category.slug


def product_names(html):
    return re.findall(r'<span class="product-card-name">([^<]*)</span>', html)


def test_home_lists_categories_and_active_products(client, make_product):
    make_product(name="龙井", price_fen=16800, category="茶饮")
    make_product(name="芝麻糖", price_fen=2580, category="零食")
    make_product(name="下架的茶", category="茶饮", active=False)

    html = client.get("/").get_data(as_text=True)

    assert "茶饮" in html and "零食" in html
    assert sorted(product_names(html)) == sorted(["龙井", "芝麻糖"])
    assert "¥168.00" in html and "¥25.80" in html
    assert "下架的茶" not in html


def test_home_hides_a_category_whose_products_are_all_inactive(app, client, make_product):
    shown = category_slug(app, make_product(name="龙井", category="茶饮"))
    hidden = category_slug(app, make_product(name="旧杯子", category="杯具", active=False))

    html = client.get("/").get_data(as_text=True)

    assert f'href="/c/{shown}"' in html
    assert f'href="/c/{hidden}"' not in html
    assert "杯具" not in html


def test_home_with_an_empty_catalog_says_so(client):
    response = client.get("/")

    assert response.status_code == 200
    assert "店里还没有商品" in response.get_data(as_text=True)


def test_out_of_stock_product_is_marked_on_cards_and_has_no_add_form(app, client, make_product):
    product_id = make_product(name="牛肉干", stock=0)

    home = client.get("/").get_data(as_text=True)
    page = client.get(f"/p/{slug_of(app, product_id)}").get_data(as_text=True)

    assert "已售罄" in home
    assert "已售罄" in page
    assert 'action="/cart/add"' not in page


def test_product_page_shows_price_stock_and_a_labelled_add_form(app, client, make_product):
    product_id = make_product(name="青瓷杯", price_fen=4500, stock=7)

    response = client.get(f"/p/{slug_of(app, product_id)}")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "<h1>青瓷杯</h1>" in html
    assert "¥45.00" in html
    assert "库存 7 件" in html
    assert 'action="/cart/add" method="post"' in html
    assert 'name="csrf_token"' in html
    assert f'name="product_id" type="hidden" value="{product_id}"' in html
    assert '<label class="field-label" for="quantity">数量</label>' in html
    assert 'max="7"' in html


def test_inactive_or_unknown_product_page_is_404(app, client, make_product):
    product_id = make_product(name="下架商品", active=False)

    inactive = client.get(f"/p/{slug_of(app, product_id)}")
    unknown = client.get("/p/no-such-product")

    assert inactive.status_code == 404
    assert unknown.status_code == 404
    assert "页面不存在" in inactive.get_data(as_text=True)
    assert "下架商品" not in inactive.get_data(as_text=True)


def test_category_pages_paginate_active_products(app, client, make_product):
    app.config["CATALOG_PAGE_SIZE"] = 3
    ids = [make_product(name=f"茶{i}", category="茶饮") for i in range(7)]
    make_product(name="下架茶", category="茶饮", active=False)
    slug = category_slug(app, ids[0])

    pages = [client.get(f"/c/{slug}?page={n}") for n in (1, 2, 3)]

    assert [r.status_code for r in pages] == [200, 200, 200]
    names = [product_names(r.get_data(as_text=True)) for r in pages]
    assert names == [["茶0", "茶1", "茶2"], ["茶3", "茶4", "茶5"], ["茶6"]]
    first = pages[0].get_data(as_text=True)
    assert "共 7 件商品" in first
    assert f'href="/c/{slug}?page=2"' in first
    assert 'aria-current="page">1<' in first
    assert "下架茶" not in "".join(r.get_data(as_text=True) for r in pages)


@pytest.mark.parametrize("page", ["4", "0", "-1", "abc"])
def test_category_page_out_of_range_or_malformed_is_404_not_500(app, client, make_product, page):
    app.config["CATALOG_PAGE_SIZE"] = 3
    slug = category_slug(app, make_product(name="茶", category="茶饮"))

    response = client.get(f"/c/{slug}?page={page}")

    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_unknown_category_is_404(client):
    assert client.get("/c/nothing-here").status_code == 404


def test_search_finds_active_products_by_part_of_the_name(client, make_product):
    make_product(name="西湖龙井")
    make_product(name="龙井茶杯")
    make_product(name="普洱")
    make_product(name="下架龙井", active=False)

    html = client.get("/search?q=龙井").get_data(as_text=True)

    assert sorted(product_names(html)) == ["西湖龙井", "龙井茶杯"]
    assert "找到 2 件商品" in html
    # The header's search box keeps the query.
    assert 'value="龙井"' in html


def test_search_is_case_insensitive_for_latin_letters(client, make_product):
    make_product(name="Earl Grey 红茶")

    html = client.get("/search?q=earl grey").get_data(as_text=True)

    assert product_names(html) == ["Earl Grey 红茶"]


@pytest.mark.parametrize("query, expected", [("%", []), ("_", []), ("\\", []), ("100%", ["100%纯棉桌旗"])])
def test_search_treats_like_wildcards_as_nothing_special(client, make_product, query, expected):
    """Searches match words and characters: punctuation alone finds nothing, and is never a wildcard."""
    make_product(name="普洱")
    make_product(name="100%纯棉桌旗")

    html = client.get("/search", query_string={"q": query}).get_data(as_text=True)

    assert product_names(html) == expected


def test_search_without_results_says_so(client, make_product):
    make_product(name="普洱")

    html = client.get("/search?q=咖啡").get_data(as_text=True)

    assert product_names(html) == []
    assert "没有找到与“咖啡”相关的商品" in html


def test_empty_search_shows_a_prompt(client, make_product):
    make_product(name="普洱")

    response = client.get("/search?q=%20%20")

    assert response.status_code == 200
    assert "搜索商品" in response.get_data(as_text=True)
    assert product_names(response.get_data(as_text=True)) == []


def test_search_query_and_product_names_are_escaped(client, make_product):
    make_product(name="<script>alert(1)</script>茶")

    html = client.get("/search", query_string={"q": "<script>"}).get_data(as_text=True)

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;茶" in html
    assert "搜索“&lt;script&gt;”" in html


def test_overlong_search_query_is_cut_not_rejected(client, make_product):
    make_product(name="普洱")

    response = client.get("/search", query_string={"q": "普" * 500})

    assert response.status_code == 200
    assert "普" * 51 not in response.get_data(as_text=True)


def test_product_names_in_pages_come_from_the_database(app, client, make_product):
    product_id = make_product(name="旧名字")
    with app.app_context():
        db.session.get(Product, product_id).name = "新名字"
        db.session.commit()

    html = client.get("/").get_data(as_text=True)

    assert product_names(html) == ["新名字"]
    with app.app_context():
        assert db.session.scalar(select(Product.name)) == "新名字"
