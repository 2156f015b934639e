"""Flask extensions, created here once and bound to the app in create_app()."""
import sqlite3

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from models.base import Base

SQLITE_CACHE_KIB = 8192
db = SQLAlchemy(model_class=Base)
# What a request meets when the database cannot be reached (restart, failover, network): answered 503.
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)
csrf = CSRFProtect()
login_manager = LoginManager()
# Counters in Redis when RATELIMIT_STORAGE_URI says so, else in the database (services/rate_limits.py).
limiter = Limiter(get_remote_address)


@event.listens_for(Engine, "connect")
def sqlite_pragmas(dbapi_connection, _record):
    """SQLite: wait for locks instead of failing at once, let readers run beside a writer, keep FKs, and keep
    up to SQLITE_CACHE_KIB of recently read pages per connection (SQLite's default, 2 MiB, is less than the
    owner's search by a common surname reads from 100,000 orders: every page read again was a system call)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.close()
