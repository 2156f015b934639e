"""Stock: every change logged with its reason; the owner's changes never overwrite a reservation.

The race tests run threads against the per-test file SQLite database, or PostgreSQL when DATABASE_URL
says so (.ci/run runs the suite on both).
"""
import threading

import pytest
from sqlalchemy import func, select

from core.clock import utcnow
from core.vocabulary import StockReason
from extensions import db
from models import Order, Product, StockLog
from services import products, stock
from services.checkout import CheckoutError, place_order
from services.payment import release_stock, rereserve_stock
from tests.helpers import DELIVERY, csrf_token_from, flashes


def logs(app, product_id):
    with app.app_context():
        return [(log.reason, log.change, log.stock_after, log.order_id, log.by) for log in db.session.scalars(
            select(StockLog).filter_by(product_id=product_id).order_by(StockLog.id))]


def stock_of(app, product_id):
    with app.app_context():
        return db.session.scalar(select(Product.stock).where(Product.id == product_id))


def place(app, product_id, quantity=1):
    with app.app_context():
        return place_order({product_id: quantity}, DELIVERY, utcnow()).id


# -- the shop's own changes ---------------------------------------------------------------------------

def test_a_checkout_logs_the_sale_with_its_order(app, make_product):
    product_id = make_product(stock=5)
    order_id = place(app, product_id, 2)
    assert logs(app, product_id) == [("sale", -2, 3, order_id, None)]


def test_a_close_gives_the_units_back_and_a_payment_after_it_takes_them_again(app, make_product):
    product_id = make_product(stock=3)
    order_id = place(app, product_id, 2)
    with app.app_context():
        release_stock(order_id)
        db.session.commit()
        assert rereserve_stock(order_id) == []
        db.session.commit()
    assert logs(app, product_id) == [("sale", -2, 1, order_id, None), ("release", 2, 3, order_id, None),
                                     ("repaid", -2, 1, order_id, None)]


def test_a_payment_after_close_without_stock_logs_nothing_for_the_short_line(app, make_product):
    product_id = make_product(name="最后一件", stock=1)
    order_id = place(app, product_id, 1)
    with app.app_context():
        release_stock(order_id)
        db.session.commit()
    place(app, product_id, 1)  # someone else bought it meanwhile
    with app.app_context():
        assert rereserve_stock(order_id) == ["最后一件×1"]
        db.session.commit()
    assert [reason for reason, *_ in logs(app, product_id)] == ["sale", "release", "sale"]
    assert stock_of(app, product_id) == 0


def test_a_refund_may_put_back_at_most_what_the_order_sold(app, make_product):
    product_id = make_product(stock=5)
    order_id = place(app, product_id, 3)
    with app.app_context():
        assert stock.returnable_units(order_id) == {product_id: 3}
        assert stock.return_refunded_units(order_id, {product_id: 2}, "owner", utcnow()) == 2
        with pytest.raises(stock.StockRefused, match="还没退回的 1 件"):
            stock.return_refunded_units(order_id, {product_id: 2}, "owner", utcnow())
        assert stock.returnable_units(order_id) == {product_id: 1}
    assert logs(app, product_id)[-1] == ("refund_return", 2, 4, order_id, "owner")


# -- the owner's changes ------------------------------------------------------------------------------

def test_restock_and_write_off_are_relative_changes_with_a_reason(app, make_product):
    product_id = make_product(stock=2)
    with app.app_context():
        assert stock.adjust(product_id, 10, StockReason.RESTOCK, "新到一箱", "owner", utcnow()).stock_after == 12
        assert stock.adjust(product_id, -3, StockReason.WRITE_OFF, "破损", "owner", utcnow()).stock_after == 9
        with pytest.raises(stock.StockRefused, match="库存只有 9 件，不能减少 10 件") as refused:
            stock.adjust(product_id, -10, StockReason.CORRECTION, "", "owner", utcnow())
        assert refused.value.stock == 9
        with pytest.raises(stock.StockRefused, match="补货只能增加"):
            stock.adjust(product_id, -1, StockReason.RESTOCK, "", "owner", utcnow())
        with pytest.raises(stock.StockRefused, match="原因"):
            stock.adjust(product_id, 1, StockReason.SALE, "", "owner", utcnow())
    assert logs(app, product_id) == [("restock", 10, 12, None, "owner"), ("write_off", -3, 9, None, "owner")]


def stock_page(client, product_id):
    return client.get(f"/admin/products/{product_id}").get_data(as_text=True)


def test_the_owners_restock_form_adds_to_the_stock_and_shows_the_log(app, owner_client, make_product):
    product_id = make_product(name="五香牛肉干 200g", stock=0)
    page = stock_page(owner_client, product_id)
    response = owner_client.post(f"/admin/products/{product_id}/stock", data={
        "csrf_token": csrf_token_from(page), "reason": "restock", "quantity": "20", "note": "新到一箱"},
        follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "补货 +20 件，现在库存 20 件。" in flashes(html)
    assert stock_of(app, product_id) == 20
    log_table = html[html.index('class="stock-log"'):]
    assert "补货" in log_table and "+20" in log_table and "新到一箱" in log_table and "owner" in log_table

    refused = owner_client.post(f"/admin/products/{product_id}/stock", data={
        "csrf_token": csrf_token_from(page), "reason": "write_off", "quantity": "25"})
    assert refused.status_code == 409
    assert "库存只有 20 件，不能减少 25 件。" in refused.get_data(as_text=True)
    assert stock_of(app, product_id) == 20


def edit_form(page, **changes):
    """The product edit form as the browser would send it (values scraped from the page)."""
    import re

    def value(name):
        match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or re.search(
            rf'value="([^"]*)"[^>]*name="{name}"', page)
        return match.group(1) if match else ""

    category = re.search(r'<option selected value="(\d+)"|<option value="(\d+)" selected', page)
    data = {"csrf_token": csrf_token_from(page), "name": value("name"), "price": value("price"),
            "stock": value("stock"), "stock_loaded": value("stock_loaded"),
            "category_id": category.group(1) or category.group(2), "description": "", "active": "y"}
    data.update(changes)
    return data


def test_an_absolute_stock_edit_succeeds_only_if_nothing_moved_since_the_form_was_loaded(
        app, owner_client, make_product):
    product_id = make_product(name="茶杯", stock=5)
    page = stock_page(owner_client, product_id)
    order_id = place(app, product_id, 2)  # a customer checks out while the owner types

    response = owner_client.post(f"/admin/products/{product_id}",
                                 data=edit_form(page, stock="8", name="青瓷茶杯"))

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "库存刚刚变化了：打开页面时是 5 件，现在是 3 件" in html
    assert 'name="stock_loaded" type="hidden" value="3"' in html
    with app.app_context():
        product = db.session.get(Product, product_id)
        assert (product.name, product.stock) == ("茶杯", 3)  # nothing saved, the reservation kept
    # Sent again from the page that now shows 3, the owner's number is taken.
    again = owner_client.post(f"/admin/products/{product_id}", data=edit_form(html, stock="8", name="青瓷茶杯"),
                              follow_redirects=True)
    assert "已保存，库存改为 8 件。" in flashes(again.get_data(as_text=True))
    assert logs(app, product_id)[-1] == ("set", 5, 8, None, "owner")
    assert logs(app, product_id)[0][:4] == ("sale", -2, 3, order_id)


def test_an_edit_that_leaves_the_stock_alone_never_touches_it(app, owner_client, make_product):
    product_id = make_product(name="茶杯", price_fen=1000, stock=5)
    page = stock_page(owner_client, product_id)
    place(app, product_id, 1)

    response = owner_client.post(f"/admin/products/{product_id}", data=edit_form(page, price="12.50"),
                                 follow_redirects=True)

    assert "已保存。" in flashes(response.get_data(as_text=True))
    with app.app_context():
        product = db.session.get(Product, product_id)
        assert (product.price_fen, product.stock) == (1250, 4)


# -- races --------------------------------------------------------------------------------------------

def run_threads(targets):
    barrier = threading.Barrier(len(targets))
    errors = []

    def run(target):
        try:
            barrier.wait(timeout=30)
            target()
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_restocks_racing_checkouts_lose_no_unit(app, make_product):
    assert app.config["SQLALCHEMY_DATABASE_URI"] != "sqlite://", "threads need a shared (file) database"
    product_id = make_product(stock=10)
    sold, refused = [], []

    def buy():
        with app.app_context():
            try:
                sold.append(place_order({product_id: 1}, DELIVERY, utcnow()).id)
            except CheckoutError:
                refused.append(1)

    def restock():
        with app.app_context():
            stock.adjust(product_id, 3, StockReason.RESTOCK, "", "owner", utcnow())

    errors = run_threads([buy] * 12 + [restock] * 4)

    assert errors == []
    assert len(sold) + len(refused) == 12
    final = stock_of(app, product_id)
    assert final == 10 + 4 * 3 - len(sold) >= 0
    entries = logs(app, product_id)
    assert sum(change for _, change, *_ in entries) == final - 10
    assert_log_replays(entries, 10)


def assert_log_replays(entries, initial):
    """In log order each row's stock_after is the previous one plus its change: the log is the history."""
    level = initial
    for reason, change, after, *_ in entries:
        level += change
        assert after == level, (reason, change, after, level)


def test_an_absolute_edit_racing_checkouts_either_wins_whole_or_says_so(app, make_product):
    product_id = make_product(name="茶杯", stock=20)
    sold, outcome = [], {}

    def buy():
        with app.app_context():
            sold.append(place_order({product_id: 1}, DELIVERY, utcnow()).id)

    def edit():
        with app.app_context():
            fields = products.ProductFields(name="茶杯", category_id=db.session.get(Product, product_id).category_id,
                                            price_fen=1000, description="", active=True)
            try:
                outcome["change"] = products.update_product(product_id, fields, 20, 50, [], app.config["MEDIA_DIR"],
                                                            "owner", utcnow())
            except stock.StockRefused as refused:
                outcome["refused"] = refused

    errors = run_threads([buy] * 8 + [edit])

    assert errors == [] and len(sold) == 8
    final = stock_of(app, product_id)
    entries = logs(app, product_id)
    sales = sum(1 for reason, *_ in entries if reason == "sale")
    assert sales == 8
    if "change" in outcome:  # the edit met 20 units: it set 50, and the later sales came off the 50
        assert [change for reason, change, *_ in entries if reason == "set"] == [30]
        assert final == 50 - sum(1 for entry in entries[entries.index(next(e for e in entries if e[0] == "set")):]
                                 if entry[0] == "sale")
    else:  # a sale came first: the edit changed nothing and said what the stock is
        assert "refused" in outcome and outcome["refused"].stock is not None
        assert final == 20 - 8 and all(reason == "sale" for reason, *_ in entries)
    assert sum(change for _, change, *_ in entries) == final - 20
    assert_log_replays(entries, 20)
    with app.app_context():
        assert db.session.scalar(select(func.count(Order.id))) == 8
