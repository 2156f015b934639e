"""Active queries: while a customer waits on the pay page, its status polls may ask WeChat Pay in the
background, so a lost notification is found within seconds.

Bounded in every direction, so polls can never pile work onto WeChat Pay: a few threads and a short
queue per process (a poll finding them full simply does not query), one query in flight per order,
ACTIVE_QUERIES_PER_SECOND across all processes (the shared rate-limit store), and a pause after a
failure, so an outage of WeChat Pay is asked about now and then, not by every poll.
"""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from core.clock import utcnow
from core.vocabulary import EventKind, OrderStatus
from extensions import db, limiter
from models import Order
from payments import PaymentError
from services.payment import refresh_order
from services.rate_limits import within_rate

log = logging.getLogger("shop.payments")
WORKERS = 4
QUEUE = 16
# After WeChat Pay failed to answer, no new active query from this process for this long (seconds).
PAUSE_AFTER_FAILURE = 15.0


class ActiveQueries:
    def __init__(self, workers: int = WORKERS, queue: int = QUEUE):
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="active-query")
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()
        self._paused_until = 0.0

    def submit(self, order_id: int) -> bool:
        """Start a query of this order in the background, unless one is in flight or there is no room."""
        if time.monotonic() < self._paused_until:
            return False
        with self._lock:
            if order_id in self._in_flight or not self._slots.acquire(blocking=False):
                return False
            self._in_flight.add(order_id)
        if not within_rate(limiter, "active-queries", f"{current_app.config['ACTIVE_QUERIES_PER_SECOND']} per second"):
            self._done(order_id)
            return False
        self._executor.submit(self._run, current_app._get_current_object(), order_id)
        return True

    def _done(self, order_id: int) -> None:
        with self._lock:
            self._in_flight.discard(order_id)
        self._slots.release()

    def _run(self, app, order_id: int) -> None:
        with app.app_context():
            try:
                order = db.session.get(Order, order_id)
                if order is not None and order.status == OrderStatus.PENDING:
                    refresh_order(order, utcnow(), source=EventKind.POLL_QUERY)
            except PaymentError as error:
                if error.retryable:
                    self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
                log.warning("active query for order %s: WeChat Pay error %s", order_id, error.code)
            except Exception:  # logged, never raised: the next poll or the scheduler tries again
                log.exception("active query for order %s failed", order_id)
            finally:
                db.session.remove()
                self._done(order_id)

    def idle(self) -> bool:
        with self._lock:
            return not self._in_flight


active_queries = ActiveQueries()
