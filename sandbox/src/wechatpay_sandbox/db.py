"""The sandbox's own SQLite database (plain SQLAlchemy; nothing shared with the shop's models).

Write transactions start with BEGIN IMMEDIATE so concurrent writers (request threads, the delivery
worker, a second sandbox process) queue on SQLite's lock instead of failing with "database is locked"
when a read transaction tries to upgrade. No transaction is ever held across network I/O.

The schema has a version (SQLite's user_version). A database from an older sandbox is copied aside
(`<file>.schema-<old version>`) and started afresh: it holds test data, not history worth migrating.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from contextlib import closing, contextmanager
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)
SCHEMA_VERSION = 4  # 2: JSAPI and H5 orders, WeChat users, OAuth codes; 3: bills, silent payments; 4: fault rates


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class UTCDateTime(TypeDecorator):
    """Store naive UTC in SQLite, hand back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use wechatpay_sandbox.clock.now()")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return datetime(value.year, value.month, value.day, value.hour, value.minute,
                        value.second, value.microsecond, tzinfo=timezone.utc)


def _engine(url: str, immediate: bool) -> Engine:
    memory = url in ("sqlite://", "sqlite:///:memory:")
    kwargs = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """Two engines on one file: `write()` sessions lock at BEGIN, `read()` sessions do not."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _engine(url, immediate=True)
        # An in-memory database exists once per connection: reads must share the writer's.
        self.read_engine = self.engine if self.engine.pool.__class__ is StaticPool else _engine(url, False)
        self._create_schema()
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self.read_engine, expire_on_commit=False)

    def _version_and_tables(self, connection) -> tuple[int, list[str]]:
        version = connection.exec_driver_sql("PRAGMA user_version").scalar()
        tables = [row[0] for row in connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return version, tables

    def _create_schema(self) -> None:
        """Create the tables, or replace an older schema's (keeping a copy); safe for racing processes."""
        self._copy_older_schema()
        with self.engine.begin() as connection:  # BEGIN IMMEDIATE: one process at a time decides
            version, tables = self._version_and_tables(connection)
            if tables and version != SCHEMA_VERSION:
                connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")  # the drop order is free
                for table in tables:
                    connection.exec_driver_sql(f'DROP TABLE "{table}"')
                tables = []
            if not tables:
                Base.metadata.create_all(connection)
                connection.execute(text(f"PRAGMA user_version = {SCHEMA_VERSION}"))

    def _copy_older_schema(self) -> None:
        """VACUUM INTO `<file>.schema-<version>` (it cannot run inside a transaction: a plain connection)."""
        database = self.engine.url.database
        if database in (None, "", ":memory:") or not os.path.exists(database):
            return
        with closing(sqlite3.connect(database, timeout=30, isolation_level=None)) as raw:
            version = raw.execute("PRAGMA user_version").fetchone()[0]
            tables = raw.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            if not tables or version == SCHEMA_VERSION:
                return
            backup = f"{database}.schema-{version}"
            try:
                raw.execute("VACUUM INTO ?", (backup,))
            except sqlite3.OperationalError:
                if not os.path.exists(backup):  # else a racing process made it
                    raise
        log.warning("sandbox database had schema %s; copied to %s and started afresh", version, backup)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """Yield a session in one write transaction; commit on success, roll back on error.

        Callables appended to `session.info["after_commit"]` run once the commit has succeeded
        (e.g. waking the delivery worker, which must not look before the row is visible).
        """
        with self._write() as session:
            with session.begin():
                yield session
            for callback in session.info.pop("after_commit", []):
                callback()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """Yield a session for reading only."""
        with self._read() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
