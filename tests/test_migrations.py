"""`flask db upgrade` builds the schema from empty, and the migrations agree with the models."""
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from extensions import db
from tests.helpers import flask_db

ROOT = Path(__file__).resolve().parent.parent


def insert_order(n: int, name: str, status: str = "closed", refunded_fen: int = 0, day: int = 1) -> None:
    """An order row as the schema of 0012 to 0014 holds it (100 fen, 2020-01-<day>), in the app's session."""
    db.session.execute(text(
        'INSERT INTO "order" (id, token, out_trade_no, status, total_fen, refunded_fen, shipping_fen, '
        "contact_name, mobile, province, city, district, address_detail, address, note, created_at, "
        f"expires_at, query_count) VALUES ({n}, 'tok{n}', '2020010100000000ABCDEF0{n}', '{status}', 100, "
        f"{refunded_fen}, 0, '{name}', '13800138000', '', '', '', '', 'x', '', '2020-01-0{day} 00:00:00', "
        f"'2020-01-0{day} 00:30:00', 0)"))


def test_upgrade_from_empty_matches_the_models(app, database_url):
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        assert inspect(db.engine).get_table_names() == []

    flask_db(database_url, "upgrade")

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


def test_migration_0005_moves_each_orders_payment_into_a_native_attempt(app, database_url, empty_database):
    flask_db(database_url, "upgrade", "0004")
    columns = ("out_trade_no, token, status, total_fen, refunded_fen, contact_name, mobile, address, note, "
               "created_at, expires_at, paid_at, closed_at, transaction_id, code_url, code_url_expires_at, query_count")
    rows = [
        "'20261127080000AAAAAAAAAA', 'tok-pending-0000000000', 'pending', 1000, 0, 'a', '13800138000', 'x', '', "
        "'2026-11-27 08:00:00', '2026-11-27 08:30:00', NULL, NULL, NULL, 'weixin://wxpay/bizpayurl?pr=pending', "
        "'2026-11-27 10:00:00', 0",
        "'20261127080000BBBBBBBBBB', 'tok-paid-0000000000000', 'shipped', 2000, 500, 'b', '13800138000', 'x', '', "
        "'2026-11-27 08:00:00', '2026-11-27 08:30:00', '2026-11-27 08:05:00', NULL, '4200000000000000000000001', "
        "'weixin://wxpay/bizpayurl?pr=paid', '2026-11-27 10:00:00', 0",
        "'20261127080000CCCCCCCCCC', 'tok-closed-00000000000', 'closed', 3000, 0, 'c', '13800138000', 'x', '', "
        "'2026-11-27 08:00:00', '2026-11-27 08:30:00', NULL, '2026-11-27 08:31:00', NULL, NULL, NULL, 0",
    ]
    with app.app_context():
        for row in rows:
            db.session.execute(text(f'INSERT INTO "order" ({columns}) VALUES ({row})'))
        paid_id = db.session.scalar(text("""SELECT id FROM "order" WHERE status = 'shipped'"""))
        db.session.execute(text("INSERT INTO refund (order_id, out_refund_no, amount_fen, reason, status, created_at) "
                                f"VALUES ({paid_id}, 'R1', 500, '', 'SUCCESS', '2026-11-27 09:00:00')"))
        db.session.execute(text("INSERT INTO payment_event (order_id, kind, detail, created_at) "
                                f"VALUES ({paid_id}, 'notification', '{{}}', '2026-11-27 08:05:00')"))
        db.session.commit()

    flask_db(database_url, "upgrade", "0005")

    with app.app_context():
        attempts = db.session.execute(text(
            'SELECT o.status, a.out_trade_no = o.out_trade_no, a.channel, a.status, a.prompt, a.transaction_id '
            'FROM payment_attempt a JOIN "order" o ON o.id = a.order_id ORDER BY o.out_trade_no')).all()
        linked = db.session.execute(text(
            "SELECT (SELECT attempt_id FROM refund), (SELECT attempt_id FROM payment_event), "
            f"(SELECT id FROM payment_attempt WHERE order_id = {paid_id})")).one()
        order_columns = {column["name"] for column in inspect(db.engine).get_columns("order")}
    assert attempts == [
        ("pending", True, "native", "open", "weixin://wxpay/bizpayurl?pr=pending", None),
        ("shipped", True, "native", "paid", "weixin://wxpay/bizpayurl?pr=paid", "4200000000000000000000001"),
        ("closed", True, "native", "closed", None, None),
    ]
    assert linked[0] == linked[1] == linked[2] is not None
    assert "code_url" not in order_columns

    flask_db(database_url, "downgrade", "0004")
    with app.app_context():
        restored = db.session.execute(text('SELECT code_url FROM "order" ORDER BY out_trade_no')).scalars().all()
    assert restored == ["weixin://wxpay/bizpayurl?pr=pending", "weixin://wxpay/bizpayurl?pr=paid", None]


def test_0007_keeps_existing_orders_readable_and_indexes_existing_products(app, database_url, empty_database):
    """Orders placed before 省/市/区 keep their one-line address and a zero shipping fee; the products already
    in the shop are found by search straight after the upgrade; and the step back works."""
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
    flask_db(database_url, "downgrade", "0006")


def test_0013_indexes_the_names_of_the_orders_already_there(app, database_url, empty_database):
    """Orders placed before the name index are found by the owner's search by name straight after the upgrade."""
    flask_db(database_url, "upgrade", "0012")
    with app.app_context():
        for n, name in enumerate(["张三", "欧阳娜娜", "Tom Lee"], start=1):
            insert_order(n, name)
        db.session.commit()

    flask_db(database_url, "upgrade", "0013")
    try:
        with app.app_context():
            from blueprints.admin.queries import name_matches

            found = {q: sorted(db.session.scalars(name_matches(q))) for q in ("三", "阳娜", "tom", "王")}
            assert found == {"三": [1], "阳娜": [2], "tom": [3], "王": []}
            db.session.remove()
    finally:
        flask_db(database_url, "downgrade", "0012")


def test_0014_marks_the_orders_already_refunded(app, database_url, empty_database):
    """Orders refunded before has_refund are in the owner's 有退款 list straight after the upgrade."""
    flask_db(database_url, "upgrade", "0013")
    with app.app_context():
        for n in (1, 2):
            insert_order(n, "张三", "paid", refunded_fen=100 if n == 2 else 0)
        db.session.execute(text(
            "INSERT INTO refund (id, order_id, extra_payment, out_refund_no, amount_fen, reason, status, created_at) "
            "VALUES (1, 2, false, 'R1', 100, '', 'SUCCESS', '2020-01-02 00:00:00')"))
        db.session.commit()

    flask_db(database_url, "upgrade", "0014")
    try:
        with app.app_context():
            from blueprints.admin.forms import REFUNDED_FILTER
            from blueprints.admin.queries import OrderFilter, order_page

            assert order_page(OrderFilter(status=REFUNDED_FILTER), 0, 20) == ([2], (1, 1, 100, 100))
            db.session.remove()
    finally:
        flask_db(database_url, "downgrade", "0013")


def test_0015_gives_the_name_terms_of_the_orders_already_there_their_dates(app, database_url, empty_database):
    """A surname's orders from before 0015 are listed newest first straight after the upgrade."""
    flask_db(database_url, "upgrade", "0012")
    with app.app_context():
        for n, (name, day) in enumerate([("张三", 2), ("张四", 3), ("李四", 1), ("张五", 1)], start=1):
            insert_order(n, name, "paid", day=day)
        db.session.commit()

    flask_db(database_url, "upgrade", "0015")
    try:
        with app.app_context():
            from blueprints.admin.queries import OrderFilter, order_page

            assert order_page(OrderFilter(q="张"), 0, 20) == ([2, 1, 4], (3, 3, 300, 0))
            db.session.remove()
    finally:
        flask_db(database_url, "downgrade", "0014")

