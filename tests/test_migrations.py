"""`flask db upgrade` builds the schema from empty, and the migrations agree with the models."""
import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from extensions import db

ROOT = Path(__file__).resolve().parent.parent


def test_upgrade_from_empty_matches_the_models(app, database_url):
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        assert inspect(db.engine).get_table_names() == []

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "SHOP_ENV": "testing", "DATABASE_URL": database_url}, timeout=120,
    )
    assert result.returncode == 0, result.stderr

    try:
        with app.app_context(), db.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {"order", "order_item", "product", "payment_event", "refund", "owner"} <= tables
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
    finally:
        with app.app_context():
            db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.session.commit()


def flask_db(database_url, *args):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", *args], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "SHOP_ENV": "testing", "DATABASE_URL": database_url}, timeout=120,
    )
    assert result.returncode == 0, result.stderr


def test_0007_keeps_existing_orders_readable_and_indexes_existing_products(app, database_url):
    """Orders placed before 省/市/区 keep their one-line address and a zero shipping fee; the products already
    in the shop are found by search straight after the upgrade; and the step back works."""
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
    try:
        flask_db(database_url, "upgrade", "0004")
        with app.app_context():
            for statement in (
                "INSERT INTO category (id, name, slug, position) VALUES (1, '茶饮', 'tea', 0)",
                "INSERT INTO product (id, category_id, name, slug, description, price_fen, stock, active) "
                "VALUES (1, 1, '云南普洱熟茶饼', 'puer', '醇厚回甘', 12800, 5, true)",
                'INSERT INTO "order" (id, token, out_trade_no, status, total_fen, refunded_fen, contact_name, mobile, '
                "address, note, created_at, expires_at, query_count) VALUES (1, 'tok', '20200101000000ABCDEF01', "
                "'closed', 12800, 0, '张三', '13800138000', '上海市浦东新区世纪大道 1 号', '', "
                "'2020-01-01 00:00:00', '2020-01-01 00:30:00', 0)",
            ):
                db.session.execute(text(statement))
            db.session.commit()

        flask_db(database_url, "upgrade")

        with app.app_context():
            from models import Order
            from services.search import search_products

            order = db.session.get(Order, 1)
            assert (order.shipping_fen, order.province, order.address) == (0, "", "上海市浦东新区世纪大道 1 号")
            assert order.delivery.address == "上海市浦东新区世纪大道 1 号"
            assert [p.name for p in db.session.scalars(search_products("普洱茶"))] == ["云南普洱熟茶饼"]
            db.session.remove()
        flask_db(database_url, "downgrade", "0004")
    finally:
        with app.app_context():
            db.session.remove()
            for table in ("product_search_term", "order_item", "payment_event", "refund", "order", "product",
                          "category", "owner", "login_failure", "rate_limit_counter", "alembic_version"):
                db.session.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
            db.session.commit()
