"""The sandbox's database: an older schema is copied aside and replaced, once, even by racing starts."""

import sqlite3
import threading

from wechatpay_sandbox.db import SCHEMA_VERSION, Database


def tables(path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def version(path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("PRAGMA user_version").fetchone()[0]


def test_an_older_schema_is_copied_aside_and_replaced(tmp_path):
    path = tmp_path / "sandbox.sqlite3"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, code_url TEXT NOT NULL)")
        connection.execute("INSERT INTO orders (code_url) VALUES ('weixin://old')")
    databases = []
    threads = [threading.Thread(target=lambda: databases.append(Database(f"sqlite:///{path}"))) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert version(path) == SCHEMA_VERSION
    assert {"orders", "refunds", "deliveries", "wechat_users", "oauth_codes"} <= tables(path)
    with sqlite3.connect(tmp_path / "sandbox.sqlite3.schema-0") as old:
        assert old.execute("SELECT code_url FROM orders").fetchall() == [("weixin://old",)]
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM orders").fetchone() == (0,)
    for database in databases:
        database.dispose()


def test_the_current_schema_is_kept(tmp_path):
    path = tmp_path / "sandbox.sqlite3"
    Database(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("INSERT INTO faults (target, mode, remaining, times, seconds, created_at) "
                           "VALUES ('api', 'hang', 1, 2, 0, '2026-01-01 00:00:00')")
    Database(f"sqlite:///{path}").dispose()
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT count(*) FROM faults").fetchone() == (1,)
    assert not list(tmp_path.glob("*.schema-*"))
