"""SQLite's writers wait their turn on a file lock that wakes the next one at once, not in SQLite's busy handler.

SQLite lets one transaction write at a time. A writer that finds the lock taken sleeps in SQLite's busy
handler in growing steps (up to 100 ms each) and looks again, so under a burst (a flash sale's payment
notifications, 16 at once) the lock sits idle while writers sleep, and the unlucky ones wait a second or
more. Here every write transaction first takes an exclusive ``flock`` on ``<database>.writers``, which the
kernel hands to the next waiter as soon as it is released at the commit or rollback: the same one-at-a-time
writing, without the sleeping. Readers never wait (WAL).

The lock is only an order of turns: SQLite's own locking still guards the data, so a writer without it (a
migration's DDL, another program, a transaction past HOLD_LIMIT) is as safe as before and waits in SQLite's
busy handler (busy_timeout) as before. It is taken just before a connection's first INSERT, UPDATE or DELETE,
where Python's sqlite3 begins the transaction, so the transaction's snapshot is always taken after the
previous writer committed. Each connection has its own descriptor, so threads queue as processes do, and a
process that dies holding the lock gives it back with its descriptors.
"""
import fcntl
import logging
import os
import sqlite3
import threading
import time
import weakref

log = logging.getLogger(__name__)
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# A write transaction holding the lock longer than this (seconds) loses it, so a stuck one cannot make the
# others wait for ever; they then meet it in SQLite's busy handler, which gives up after busy_timeout.
HOLD_LIMIT = 5.0

_holders: dict["QueuedWriterConnection", float] = {}  # who holds the lock in this process, since when
_holders_lock = threading.Lock()
_watchdog_started = False  # in this process: a forked child starts its own (os.register_at_fork below)


def lock_path(database: str) -> str:
    return f"{database}.writers"


def _watch() -> None:
    """Take the lock back from a transaction of this process that has held it past HOLD_LIMIT."""
    while True:
        time.sleep(HOLD_LIMIT / 5)
        now = time.monotonic()
        with _holders_lock:
            stale = [connection for connection, since in _holders.items() if now - since > HOLD_LIMIT]
        for connection in stale:
            connection.forfeit()


def _start_watchdog() -> None:
    global _watchdog_started
    with _holders_lock:
        if not _watchdog_started:
            _watchdog_started = True
            threading.Thread(target=_watch, name="sqlite-writers-watchdog", daemon=True).start()


def _forget_parents_watchdog() -> None:
    global _watchdog_started
    _watchdog_started = False  # its thread did not come along with the fork


os.register_at_fork(after_in_child=_forget_parents_watchdog)


class QueuedWriterCursor(sqlite3.Cursor):
    def execute(self, sql, *args):
        self.connection.queue_if_writing(sql)
        return super().execute(sql, *args)

    def executemany(self, sql, *args):
        self.connection.queue_if_writing(sql)
        return super().executemany(sql, *args)


class QueuedWriterConnection(sqlite3.Connection):
    """A sqlite3 connection (``sqlite3.connect(..., factory=)``) whose write transactions take their turn on
    the database's writers lock."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        self._lock_fd = os.open(lock_path(os.fspath(database)), os.O_RDWR | os.O_CREAT, 0o600)
        self._holding = False
        self._forfeited = False  # lost the lock to the watchdog: this transaction goes on without it
        self._closer = weakref.finalize(self, os.close, self._lock_fd)  # a connection never closed, too

    def queue_if_writing(self, sql: str) -> None:
        if self._holding or self._forfeited or not sql.lstrip()[:7].upper().startswith(WRITES):
            return
        if not _watchdog_started:
            _start_watchdog()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)  # blocks, without the GIL, until this writer's turn
        with _holders_lock:
            self._holding = True
            _holders[self] = time.monotonic()

    def _give_back(self) -> None:
        """Release the lock if held (under _holders_lock)."""
        if self._holding:
            _holders.pop(self, None)
            self._holding = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def forfeit(self) -> None:
        with _holders_lock:
            if self._holding:
                self._give_back()
                self._forfeited = True
                log.warning("a write transaction held the SQLite writers lock for over %s s; the other "
                            "writers go on", HOLD_LIMIT)

    def _transaction_ended(self) -> None:
        with _holders_lock:
            if not self._holding and not self._forfeited:
                return
        try:
            ended = not self.in_transaction
        except sqlite3.ProgrammingError:  # closed: close() gave the lock back
            return
        if ended:
            with _holders_lock:
                self._give_back()
                self._forfeited = False

    def cursor(self, factory=QueuedWriterCursor):
        return super().cursor(factory)

    def execute(self, sql, *args):
        self.queue_if_writing(sql)
        return super().execute(sql, *args)

    def executemany(self, sql, *args):
        self.queue_if_writing(sql)
        return super().executemany(sql, *args)

    def commit(self):
        try:
            super().commit()
        finally:
            self._transaction_ended()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._transaction_ended()

    def close(self):
        try:
            super().close()
        finally:
            with _holders_lock:
                self._give_back()
            self._closer()
