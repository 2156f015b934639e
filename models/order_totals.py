"""The orders' totals per Beijing-time day and status, kept by the database itself: triggers add in every
order's insert, change of status or amounts, and delete, whoever makes it (a web worker, the jobs process, a
migration, a console). The owner's order list, filtered by nothing but status and dates, sums these few rows
(a handful a day) instead of every order (blueprints/admin/queries.py); the rows always equal a live sum
over the orders (tests/test_order_totals.py). On PostgreSQL they change at commit, so a transaction that
changed orders does not see its own changes in them (nothing reads them there).
"""
from datetime import date

from sqlalchemy import BigInteger, String, event, text
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import CHINA_TZ
from models.base import Base

UTC_OFFSET_HOURS = int(CHINA_TZ.utcoffset(None).total_seconds() // 3600)  # China has kept +8 all year since 1991


class OrderDayTotals(Base):
    __tablename__ = "order_day_totals"

    day: Mapped[date] = mapped_column(primary_key=True)  # the Beijing-time day the order was placed
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    order_count: Mapped[int] = mapped_column(default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)


def day_of(row: str, dialect: str) -> str:
    """SQL for the Beijing-time day of ``row``'s created_at (naive UTC)."""
    if dialect == "postgresql":
        return f"({row}.created_at + interval '{UTC_OFFSET_HOURS} hours')::date"
    return f"date({row}.created_at, '+{UTC_OFFSET_HOURS} hours')"


def add(row: str, dialect: str) -> str:
    return (
        "INSERT INTO order_day_totals (day, status, order_count, total_fen, refunded_fen) "
        f"VALUES ({day_of(row, dialect)}, {row}.status, 1, {row}.total_fen, {row}.refunded_fen) "
        "ON CONFLICT (day, status) DO UPDATE SET order_count = order_day_totals.order_count + 1, "
        "total_fen = order_day_totals.total_fen + excluded.total_fen, "
        "refunded_fen = order_day_totals.refunded_fen + excluded.refunded_fen"
    )


def subtract(row: str, dialect: str) -> str:
    return (
        f"UPDATE order_day_totals SET order_count = order_count - 1, total_fen = total_fen - {row}.total_fen, "
        f"refunded_fen = refunded_fen - {row}.refunded_fen "
        f"WHERE day = {day_of(row, dialect)} AND status = {row}.status"
    )


COUNTED = ("status", "total_fen", "refunded_fen", "created_at")


def trigger_statements(dialect: str) -> list[str]:
    """CREATE statements of the triggers.

    PostgreSQL: deferred row triggers, applied at commit like the catalog version's (models/catalog_version.py):
    a total's row locked at the order's INSERT would be held while the checkout goes on to lock its products,
    and another transaction locking them the other way round would deadlock. An order's change takes its two
    rows in one fixed order (by day, then status), so two commits never wait on each other in a circle.
    SQLite has one writer at a time: plain row triggers.
    """
    if dialect == "postgresql":
        unchanged = " AND ".join(f"OLD.{column} IS NOT DISTINCT FROM NEW.{column}" for column in COUNTED)
        return [
            "CREATE OR REPLACE FUNCTION order_day_totals_apply() RETURNS trigger AS $$ BEGIN "
            f"IF TG_OP = 'INSERT' THEN {add('NEW', dialect)}; "
            f"ELSIF TG_OP = 'DELETE' THEN {subtract('OLD', dialect)}; "
            f"ELSIF {unchanged} THEN NULL; "
            f"ELSIF ({day_of('OLD', dialect)}, OLD.status) < ({day_of('NEW', dialect)}, NEW.status) THEN "
            f"{subtract('OLD', dialect)}; {add('NEW', dialect)}; "
            f"ELSE {add('NEW', dialect)}; {subtract('OLD', dialect)}; "
            "END IF; RETURN NULL; END $$ LANGUAGE plpgsql",
            "CREATE CONSTRAINT TRIGGER order_changes_day_totals "
            f"AFTER INSERT OR UPDATE OF {', '.join(COUNTED)} OR DELETE ON \"order\" "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION order_day_totals_apply()",
        ]
    changed = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in COUNTED)
    return [
        f"CREATE TRIGGER order_insert_day_totals AFTER INSERT ON \"order\" BEGIN {add('NEW', dialect)}; END",
        f"CREATE TRIGGER order_update_day_totals AFTER UPDATE OF {', '.join(COUNTED)} ON \"order\" "
        f"WHEN {changed} BEGIN {subtract('OLD', dialect)}; {add('NEW', dialect)}; END",
        f"CREATE TRIGGER order_delete_day_totals AFTER DELETE ON \"order\" BEGIN {subtract('OLD', dialect)}; END",
    ]


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return ['DROP TRIGGER IF EXISTS order_changes_day_totals ON "order"',
                "DROP FUNCTION IF EXISTS order_day_totals_apply()"]
    return [f"DROP TRIGGER IF EXISTS order_{change}_day_totals" for change in ("insert", "update", "delete")]


def install(connection) -> None:
    """Create the triggers and sum the orders already there (migration 0012, and create_all below). On
    PostgreSQL the orders are locked against writes meanwhile, so none is counted twice or missed."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text('LOCK TABLE "order" IN SHARE MODE'))
    for statement in trigger_statements(dialect):
        connection.execute(text(statement))
    connection.execute(text(
        "INSERT INTO order_day_totals (day, status, order_count, total_fen, refunded_fen) "
        f"SELECT {day_of('o', dialect)}, o.status, count(*), sum(o.total_fen), sum(o.refunded_fen) "
        f"FROM \"order\" AS o GROUP BY {day_of('o', dialect)}, o.status"
    ))


@event.listens_for(Base.metadata, "after_create")
def install_after_create_all(_metadata, connection, tables=(), **_kw):
    """db.create_all() (the tests, a first start without migrations) gets the triggers the migration makes."""
    if OrderDayTotals.__table__ in tables:
        install(connection)
