"""The catalog's version: one number the database itself raises whenever a category, product or product image
changes (price, stock, name, visibility, anything), by triggers, whoever makes the change: a web worker,
the jobs process releasing stock, a migration, a console. The rendered catalog pages are cached under it
(blueprints/page_cache.py), so a page is never served from before a change that was committed.
"""
from sqlalchemy import event, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base
from models.raw_read import raw_rows

# What the catalog pages show comes from these tables.
WATCHED_TABLES = ("category", "product", "product_image")
VERSION_ROW = 1


class CatalogVersion(Base):
    __tablename__ = "catalog_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)


BUMP = f"UPDATE catalog_version SET version = version + 1 WHERE id = {VERSION_ROW}"


def trigger_statements(dialect: str) -> list[str]:
    """CREATE statements of the triggers.

    PostgreSQL: deferred row triggers that raise the version once per transaction, at commit. A trigger
    that took the version row's lock at the first product UPDATE would hold it while the checkout goes on to
    lock its next product, and two carts locking their products in turn would deadlock; at commit a
    transaction holds every lock it will need, so the version row only makes commits wait their turn.
    SQLite has one writer at a time: plain row triggers, one per table and kind of change.
    """
    if dialect == "postgresql":
        statements = [
            "CREATE OR REPLACE FUNCTION bump_catalog_version() RETURNS trigger AS $$ BEGIN "
            "IF coalesce(current_setting('shop.catalog_bumped', true), '') <> 'on' THEN "
            "PERFORM set_config('shop.catalog_bumped', 'on', true); "  # true: until this transaction ends
            f"{BUMP}; END IF; RETURN NULL; END $$ LANGUAGE plpgsql"
        ]
        statements += [
            f"CREATE CONSTRAINT TRIGGER {table}_changes_catalog AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_catalog_version()"
            for table in WATCHED_TABLES
        ]
        return statements
    return [
        f"CREATE TRIGGER {table}_{change.lower()}_catalog AFTER {change} ON {table} BEGIN {BUMP}; END"
        for table in WATCHED_TABLES for change in ("INSERT", "UPDATE", "DELETE")
    ]


def drop_statements(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return [f"DROP TRIGGER IF EXISTS {table}_changes_catalog ON {table}" for table in WATCHED_TABLES] + [
            "DROP FUNCTION IF EXISTS bump_catalog_version()"]
    return [f"DROP TRIGGER IF EXISTS {table}_{change.lower()}_catalog"
            for table in WATCHED_TABLES for change in ("INSERT", "UPDATE", "DELETE")]


def install(connection) -> None:
    """Create the triggers and the version row (migration 0009, and create_all below)."""
    for statement in trigger_statements(connection.dialect.name):
        connection.execute(text(statement))
    connection.execute(text(f"INSERT INTO catalog_version (id, version) VALUES ({VERSION_ROW}, 0)"))


@event.listens_for(Base.metadata, "after_create")
def install_after_create_all(_metadata, connection, tables=(), **_kw):
    """db.create_all() (the tests, a first start without migrations) gets the triggers the migration makes."""
    if CatalogVersion.__table__ in tables:
        install(connection)


READ = f"SELECT version FROM catalog_version WHERE id = {VERSION_ROW}"


def read_version(engine) -> int:
    """The current version: one primary-key lookup, read on every catalog page (models/raw_read.py)."""
    return raw_rows(engine, READ)[0][0]
