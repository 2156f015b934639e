"""Issue 16 at scale, by SQL statement counts (never by time): the reconcile sweep, the owner's order list and
CSV export, and the home page make as many statements for many rows as for few (or a fixed number per row)."""
import csv
import io
from contextlib import contextmanager
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import delete, event, func, select

from core.clock import utcnow
from extensions import db
from jobs.reconcile import reconcile_orders
from models import Order, OrderItem, PaymentAttempt, PaymentEvent
from tests.bench.sweep import pending_orders


def clear_orders(app):
    """Remove every order and what refers to it (the bench helper numbers its orders from 1)."""
    with app.app_context():
        for model in (PaymentEvent, PaymentAttempt, OrderItem, Order):
            db.session.execute(delete(model))
        db.session.commit()


@contextmanager
def counted(app):
    """A list that gets one entry per SQL statement the app runs inside the block."""
    statements = []
    with app.app_context():
        engine = db.engine

    def count(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def sweep(app, gateway, due: int, pending: int):
    """Fresh pending orders (``due`` of them due), one reconcile run: (summary, statements, due numbers)."""
    now = utcnow().replace(microsecond=0)
    clear_orders(app)
    pending_orders(app, now, pending, due)
    with app.app_context():
        numbers = set(db.session.scalars(select(Order.out_trade_no).where(Order.next_query_at <= now)))
    gateway.queries.clear()
    with counted(app) as statements, freeze_time(now), app.app_context():
        summary = reconcile_orders(now)
    return summary, len(statements), numbers


@pytest.mark.wechatpay
def test_the_sweep_queries_exactly_the_due_orders_with_statements_per_order_not_per_pending_order(
        app, make_product, gateway, caplog):
    make_product()
    caplog.set_level("ERROR")  # the orders were never placed on WeChat Pay: each query answers 404
    results = {}
    for due in (10, 40):
        summary, statements, numbers = sweep(app, gateway, due, pending=due * 4)
        assert len(numbers) == due and summary.checked == due and summary.errors == 0
        assert set(gateway.queries) == numbers and sum(gateway.queries.values()) == due  # once each, no other
        results[due] = statements
    # Claims serve 20 orders each: what grows with the due orders is a fixed handful per order, and nothing
    # grows with the pending orders that are not due.
    per_order = (results[40] - results[10]) / 30
    assert per_order <= 6.5
    assert results[10] <= per_order * 10 + 6


@pytest.fixture
def orders(app, make_product):
    """Factory: ``count`` more orders in the shop (pending, with a line and an attempt each)."""
    make_product(name="青花瓷杯")
    made = [0]

    def add(count: int):
        clear_orders(app)
        pending_orders(app, utcnow() - timedelta(minutes=1), count, 0)
        made[0] = count

    return add


def statements_for(app, client, path):
    client.get(path)  # warm: the owner's session, the page cache
    with counted(app) as statements:
        response = client.get(path)
        streamed = response.is_streamed  # before reading: read, the body is a list
        body = response.get_data()
    assert response.status_code == 200, path
    return len(statements), streamed, body


@pytest.mark.parametrize("path", ["/admin/orders", "/admin/orders?page=2", "/admin/orders?status=pending",
                                  "/admin/orders?q=13800", "/admin/orders?status=refunded"])
def test_the_order_list_makes_as_many_statements_for_many_orders_as_for_few(app, owner_client, orders, path):
    counts = []
    for count in (25, 120):
        orders(count)
        counts.append(statements_for(app, owner_client, path)[0])
    assert counts[0] == counts[1] <= 5


def test_the_csv_export_streams_every_order_reading_them_in_batches(app, owner_client, orders):
    from blueprints.admin.csv_export import YIELD_PER

    counts = []
    for count in (3, YIELD_PER - 1):
        orders(count)
        statements, streamed, body = statements_for(app, owner_client, "/admin/orders/export.csv")
        assert streamed
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert len(rows) == count + 1 and rows[1][9] == "青花瓷杯×1"
        counts.append(statements)
    assert counts[0] == counts[1]  # one batch: its orders and their lines, however many


def test_the_home_page_makes_as_many_statements_for_many_categories_as_for_few(app, client, make_product):
    from blueprints.catalog.routes import HOME_SHELVES
    from blueprints.page_cache import PageCache

    app.extensions["page_cache"] = PageCache(0)  # the render itself, as PAGE_CACHE_SIZE=0
    counts = []
    for categories in (2, HOME_SHELVES + 4):
        for n in range(categories - len(counts) * 2):
            make_product(name=f"商品{categories}-{n}", category=f"分类{categories}-{n}")
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(db.metadata.tables["category"])) == categories
        counts.append(statements_for(app, client, "/")[0])
    assert counts[0] == counts[1] <= 5
    page = client.get("/").get_data(as_text=True)
    assert page.count('class="shelf"') == HOME_SHELVES  # the first categories shelved
    assert page.count('<span class="count">') == HOME_SHELVES + 4  # every category listed
