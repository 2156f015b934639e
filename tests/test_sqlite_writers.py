"""SQLite's writers take turns on the writers lock (sqlite_writers.py): held from a transaction's first write to
its end, never by readers, taken back from a transaction that holds it too long; the shop's engine uses it."""
import fcntl
import logging
import os
import sqlite3
import threading

import pytest

import sqlite_writers
from extensions import db
from sqlite_writers import QueuedWriterConnection, lock_path
from tests.helpers import stays, wait_for


@pytest.fixture
def database(tmp_path):
    path = str(tmp_path / "shop.sqlite3")
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode = WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.commit()
    setup.close()
    return path


def connect(database):
    return sqlite3.connect(database, factory=QueuedWriterConnection, check_same_thread=False, timeout=30)


def lock_is_free(database) -> bool:
    """Whether another writer could take the lock now (asked on a descriptor of its own)."""
    fd = os.open(lock_path(database), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_a_write_transaction_holds_the_lock_until_it_ends_and_reads_never_take_it(database, end):
    connection = connect(database)
    assert connection.execute("SELECT count(*) FROM t").fetchone() == (0,)
    assert lock_is_free(database)

    connection.execute("INSERT INTO t VALUES (1)")
    connection.cursor().execute("UPDATE t SET x = 2")  # a second write of the same transaction: no second turn
    assert not lock_is_free(database)

    getattr(connection, end)()
    assert lock_is_free(database)


def test_the_next_writer_goes_in_when_the_holder_commits(database):
    first, second = connect(database), connect(database)
    first.execute("INSERT INTO t VALUES (1)")
    written = threading.Event()

    def write():
        second.execute("INSERT INTO t VALUES (2)")
        written.set()
        second.commit()

    waiting = threading.Thread(target=write)
    waiting.start()
    stays(lambda: not written.is_set(), seconds=0.3)  # its turn has not come
    first.commit()
    waiting.join(timeout=10)
    assert written.is_set() and first.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    assert lock_is_free(database)


def test_a_transaction_holding_the_lock_too_long_loses_it_and_the_others_go_on(database, monkeypatch, caplog):
    monkeypatch.setattr(sqlite_writers, "HOLD_LIMIT", 0.2)
    stuck, other = connect(database), connect(database)
    stuck.execute("INSERT INTO t VALUES (1)")

    with caplog.at_level(logging.WARNING, logger="sqlite_writers"):
        wait_for(lambda: lock_is_free(database), timeout=10)  # the watchdog took it back
    assert "held the SQLite writers lock" in caplog.text

    done = threading.Thread(target=lambda: (other.execute("INSERT INTO t VALUES (2)"), other.commit()))
    done.start()  # takes the lock, then waits for the stuck transaction in SQLite's busy handler
    stuck.execute("INSERT INTO t VALUES (3)")  # the stuck transaction goes on without the lock, not queued again
    stuck.commit()
    done.join(timeout=10)
    assert not done.is_alive()
    assert sorted(stuck.execute("SELECT x FROM t").fetchall()) == [(1,), (2,), (3,)]
    wait_for(lambda: lock_is_free(database))


def test_the_shops_engine_queues_its_writers_on_a_database_file_only(app):
    """On SQLite every connection takes turns; PostgreSQL locks rows, and its writers need no turns."""
    with app.app_context():
        connection = db.engine.raw_connection()
        try:
            queued = isinstance(connection.dbapi_connection, QueuedWriterConnection)
            assert queued == (db.engine.dialect.name == "sqlite")
        finally:
            connection.close()
