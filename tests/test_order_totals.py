"""The per-day order totals the database keeps (models/order_totals.py) always equal a live sum over the orders,
whatever changes the orders: inserts, status and amount changes, a moved day, deletes, rollbacks, concurrent
commits; on SQLite and PostgreSQL, from create_all and from the migration."""
import random
import threading
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, text, update

from core.clock import to_china_time
from core.vocabulary import OrderStatus
from extensions import db
from models import Order, OrderDayTotals
from tests.helpers import flask_db

# 2026-03-01 16:00 UTC is midnight in Beijing: orders on both sides of it fall on different days.
MIDNIGHT = datetime(2026, 3, 1, 16, 0)
STATUSES = list(OrderStatus)


def order_row(n: int, created_at: datetime, status=OrderStatus.PENDING, total_fen=1000, refunded_fen=0) -> dict:
    return {"out_trade_no": f"T{n:020d}", "token": f"tok{n:029d}", "status": status, "total_fen": total_fen,
            "refunded_fen": refunded_fen, "contact_name": "张三", "mobile": "13800138000", "address": "x",
            "created_at": created_at, "expires_at": created_at + timedelta(minutes=30)}


def kept() -> Counter:
    """{(day, status, what): amount} from the kept totals, zero rows left out."""
    totals = Counter()
    for row in db.session.scalars(select(OrderDayTotals)):
        for what in ("order_count", "total_fen", "refunded_fen"):
            totals[(row.day, row.status, what)] += getattr(row, what)
    return +totals


def live() -> Counter:
    """The same, summed over the orders themselves."""
    totals = Counter()
    for created_at, status, total_fen, refunded_fen in db.session.execute(
            select(Order.created_at, Order.status, Order.total_fen, Order.refunded_fen)):
        day = to_china_time(created_at).date()
        totals[(day, status, "order_count")] += 1
        totals[(day, status, "total_fen")] += total_fen
        totals[(day, status, "refunded_fen")] += refunded_fen
    return +totals


def test_the_kept_totals_follow_every_kind_of_change(app):
    rng = random.Random(16)
    with app.app_context():
        ids = []
        for n in range(300):
            step = rng.randrange(8)
            if step < 3 or not ids:  # a new order, either side of Beijing's midnight
                created_at = MIDNIGHT + timedelta(seconds=rng.choice((-1, 0, 1)) * rng.randrange(1, 90_000))
                total = rng.randrange(1, 50_000)
                ids.append(db.session.execute(insert(Order).values(order_row(
                    n, created_at, rng.choice(STATUSES), total, rng.randrange(total + 1)))).inserted_primary_key[0])
            elif step == 3:
                db.session.execute(update(Order).where(Order.id == rng.choice(ids)).values(
                    status=rng.choice(STATUSES)))
            elif step == 4:  # a refund, or a day moved (as a console could)
                order_id = rng.choice(ids)
                created_at = db.session.scalar(select(Order.created_at).where(Order.id == order_id))
                db.session.execute(update(Order).where(Order.id == order_id).values(
                    refunded_fen=Order.total_fen, created_at=created_at + timedelta(hours=rng.randrange(30))))
            elif step == 5:  # what services/stock.py does to lock an order: a write that changes nothing
                db.session.execute(update(Order).where(Order.id == rng.choice(ids)).values(status=Order.status))
            elif step == 6:  # several changes to one order in one transaction, then one rolled back
                order_id = rng.choice(ids)
                for status in (OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.SHIPPED):
                    db.session.execute(update(Order).where(Order.id == order_id).values(status=status))
                db.session.commit()
                db.session.execute(update(Order).where(Order.id == order_id).values(status=OrderStatus.CLOSED))
                db.session.rollback()
                continue
            else:
                order_id = ids.pop(rng.randrange(len(ids)))
                db.session.execute(delete(Order).where(Order.id == order_id))
            db.session.commit()
        assert kept() == live()
        assert len({day for day, _, _ in live()}) > 1


def test_concurrent_commits_keep_the_totals_right(app):
    """Orders of one day paid and shipped from several threads at once: on PostgreSQL every commit updates
    the same few rows, and none may deadlock or be lost."""
    errors = []

    def customer(first: int):
        try:
            with app.app_context():
                for n in range(first, first + 15):
                    order_id = db.session.execute(insert(Order).values(order_row(
                        n, MIDNIGHT + timedelta(minutes=n)))).inserted_primary_key[0]
                    db.session.commit()
                    for status in (OrderStatus.PAID, OrderStatus.SHIPPED):
                        db.session.execute(update(Order).where(Order.id == order_id).values(status=status))
                        db.session.commit()
        except Exception as error:  # reported below, with the thread's own traceback in the message
            errors.append(repr(error))

    threads = [threading.Thread(target=customer, args=(first,)) for first in range(0, 60, 15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(thread.is_alive() for thread in threads)
    with app.app_context():
        assert kept() == live()
        assert kept()[(to_china_time(MIDNIGHT).date(), OrderStatus.SHIPPED, "order_count")] == 60


def test_the_migration_sums_the_orders_already_there_and_its_triggers_keep_them(app, database_url, empty_database):
    flask_db(database_url, "upgrade", "0011")
    with app.app_context():
        for n, (minutes, status) in enumerate([(-1, "paid"), (1, "paid"), (2, "closed"), (3, "shipped")]):
            db.session.execute(insert(Order).values(order_row(n, MIDNIGHT + timedelta(minutes=minutes), status,
                                                              refunded_fen=100 * (n + 1))))
        db.session.commit()

    flask_db(database_url, "upgrade", "0012")
    try:
        with app.app_context():
            assert kept() == live() and len(kept()) == 12  # 4 (day, status) rows x 3 figures
            db.session.execute(insert(Order).values(order_row(9, MIDNIGHT)))
            db.session.execute(update(Order).where(Order.status == "closed").values(status="paid"))
            db.session.commit()
            assert kept() == live()
    finally:
        flask_db(database_url, "downgrade", "0011")
    with app.app_context():  # the triggers went with the table: orders can still be written
        db.session.execute(insert(Order).values(order_row(10, MIDNIGHT)))
        db.session.commit()
        assert "order_day_totals" not in {name for (name,) in db.session.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table'" if db.engine.dialect.name == "sqlite"
            else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))}
