"""The catalog page cache (blueprints/page_cache.py): served again while nothing changed, never stale.

Changes are made the way another process would make them: on their own connection, committed, with no
word to this process. The catalog version the database raises by trigger is all the cache goes by.
"""
import pytest
from freezegun import freeze_time
from sqlalchemy import create_engine, update

from blueprints.page_cache import PageCache
from extensions import db
from models import Category, Product
from tests.helpers import add_to_cart, buy, csrf_token_from, statements


@pytest.fixture
def elsewhere(app):
    """Run a change as another process would: its own engine and connection, committed."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])

    def change(statement):
        with engine.begin() as connection:
            connection.execute(statement)

    yield change
    engine.dispose()


def slug_of(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id).slug


def without_token(html):
    """The page without its CSRF token, which is signed with the time and so changes every second."""
    return html.replace(csrf_token_from(html), "")


def page(client, path):
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_page_seen_before_is_served_with_one_query(app, client, make_product):
    path = f"/p/{slug_of(app, make_product(name='明前龙井'))}"
    first = page(client, path)

    with statements(app) as seen:
        again = page(client, path)
        shared = page(client, path + "?from=singlemessage&isappinstalled=0")  # WeChat's shared-link suffix

    assert seen == []  # only the catalog version is read, on a raw pooled connection (below SQLAlchemy's events)
    assert without_token(again) == without_token(first) and "明前龙井" in shared


@pytest.mark.parametrize("change, before, after, paths", [
    (lambda pid: update(Product).where(Product.id == pid).values(price_fen=1288), "¥10.00", "¥12.88",
     ("product", "/")),
    (lambda pid: update(Product).where(Product.id == pid).values(stock=0), "库存 10 件", "已售罄", ("product",)),
    (lambda pid: update(Product).where(Product.id == pid).values(name="雨前龙井"), "明前龙井", "雨前龙井",
     ("product", "/")),
])
def test_a_change_committed_anywhere_shows_on_the_next_request(app, client, make_product, elsewhere, change,
                                                                before, after, paths):
    product_id = make_product(name="明前龙井", price_fen=1000, stock=10)
    paths = [f"/p/{slug_of(app, product_id)}" if path == "product" else path for path in paths]
    assert all(before in page(client, path) for path in paths)

    elsewhere(change(product_id))

    assert all(after in page(client, path) and before not in page(client, path) for path in paths)


def test_a_hidden_category_or_product_leaves_the_pages_at_once(app, client, make_product, elsewhere):
    product_id = make_product(name="桂花糕", category="糕点")
    path = f"/p/{slug_of(app, product_id)}"
    assert "桂花糕" in page(client, "/")

    elsewhere(update(Category).where(Category.name == "糕点").values(visible=False))
    assert "桂花糕" not in page(client, "/")

    elsewhere(update(Product).where(Product.id == product_id).values(active=False))
    assert client.get(path).status_code == 404


def test_stock_taken_by_a_checkout_shows_on_the_cached_page(app, client, make_product):
    product_id = make_product(stock=3)
    path = f"/p/{slug_of(app, product_id)}"
    assert "库存 3 件" in page(client, path)

    buy(app.test_client(), product_id, quantity=2)

    assert "库存 1 件" in page(client, path)


def test_each_visitor_sees_their_own_cart_badge_on_a_cached_page(app, make_product):
    product_id = make_product()
    shopper, newcomer = app.test_client(), app.test_client()
    add_to_cart(shopper, product_id, quantity=2)

    assert 'aria-label="购物车中有 2 件商品">2</span>' in page(shopper, "/")
    assert 'aria-label="购物车中有 0 件商品">0</span>' in page(newcomer, "/")
    assert 'aria-label="购物车中有 2 件商品">2</span>' in page(shopper, "/")


def test_a_cached_product_page_carries_this_visitors_csrf_token(app, make_product):
    product_id = make_product()
    path = f"/p/{slug_of(app, product_id)}"
    first, second = app.test_client(), app.test_client()
    first_token = csrf_token_from(page(first, path))

    second_token = csrf_token_from(page(second, path))
    added = second.post("/cart/add", data={"product_id": product_id, "quantity": 1, "csrf_token": second_token})

    assert second_token != first_token
    assert added.status_code == 303
    assert 'aria-label="购物车中有 1 件商品">1</span>' in page(second, path)


def test_a_visitors_token_is_signed_once_a_minute_and_each_one_is_accepted(app, make_product):
    product_id = make_product()
    path = f"/p/{slug_of(app, product_id)}"
    visitor = app.test_client()
    with freeze_time("2026-12-07 12:00:05") as clock:
        page(visitor, path)  # rendered and stored
        first = csrf_token_from(page(visitor, path))
        clock.tick(50)
        again = csrf_token_from(page(visitor, path))
        clock.tick(10)  # the next minute
        renewed = csrf_token_from(page(visitor, path))
        other = csrf_token_from(page(app.test_client(), path))
        clock.tick(3500)  # 59 minutes after the first token was signed, it is still good
        added = [visitor.post("/cart/add", data={"product_id": product_id, "quantity": 1, "csrf_token": token})
                 for token in (first, renewed)]

    assert again == first and renewed != first and other not in (first, renewed)
    assert [response.status_code for response in added] == [303, 303]


def test_a_flash_is_shown_on_a_cached_page_and_not_stored(app, client, make_product):
    product_id = make_product(name="芝麻糖")
    page(client, "/")  # stored without the flash
    add_to_cart(client, product_id)  # flashes "已将「芝麻糖」× 1 加入购物车。", shown on the next page

    with_flash = page(client, "/")

    assert "已将「芝麻糖」× 1 加入购物车。" in with_flash
    assert "加入购物车。" not in page(client, "/") and "加入购物车。" not in page(app.test_client(), "/")


def test_the_cache_keeps_the_most_recently_used_pages_up_to_its_size():
    cache = PageCache(2)
    cache.put("/a", 1, "a")
    cache.put("/b", 1, "b")
    assert cache.get("/a", 1) == "a"  # /a is now the most recent

    cache.put("/c", 1, "c")

    assert cache.get("/b", 1) is None and cache.get("/a", 1) == "a" and cache.get("/c", 1) == "c"
    assert cache.get("/a", 2) is None  # another catalog version: not this page


def test_a_size_of_zero_turns_the_cache_off(app, client, make_product):
    app.extensions["page_cache"] = PageCache(0)
    path = f"/p/{slug_of(app, make_product())}"
    page(client, path)

    with statements(app) as seen:
        page(client, path)

    assert len(seen) >= 2  # the product and its category, read and rendered again
