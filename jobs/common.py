"""What every job shares: its settings, its summary line and the claim-and-handle batch loop."""
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app

from extensions import db
from jobs.claims import claim, release_all
from payments import PaymentError

log = logging.getLogger("shop.jobs")
# Rows one claim takes (fewer when the batch size leaves fewer to do).
CLAIM_CHUNK = 20

def setting(name: str):
    """A job setting from config.py (documented in the README's "Background jobs" section)."""
    return current_app.config[name]


def batch_size() -> int:
    size = int(setting("JOBS_BATCH_SIZE"))
    if size < 1:
        raise ValueError("JOBS_BATCH_SIZE must be at least 1")
    return size


def claim_lease() -> timedelta:
    return timedelta(seconds=float(setting("JOBS_CLAIM_SECONDS")))


def retry_delay() -> timedelta:
    return timedelta(seconds=float(setting("JOBS_RETRY_SECONDS")))


def ship_delay() -> timedelta:
    return timedelta(minutes=float(setting("SHIP_DELAY_MINUTES")))


def backoff() -> list[timedelta]:
    """RECONCILE_BACKOFF_MINUTES as offsets from creation: a list of numbers, or "1,3,5,10"."""
    value = setting("RECONCILE_BACKOFF_MINUTES")
    if isinstance(value, str):
        value = [part for part in value.replace(" ", "").split(",") if part]
    offsets = [timedelta(minutes=float(minutes)) for minutes in value]
    if not offsets or offsets[0] <= timedelta(0) or any(b <= a for a, b in zip(offsets, offsets[1:])):
        raise ValueError("RECONCILE_BACKOFF_MINUTES must be increasing positive minutes, e.g. [1, 3, 5, 10]")
    return offsets


def next_check(created_at: datetime, now: datetime, offsets: list[timedelta]) -> datetime:
    """The first point of the schedule after ``now``: creation + each offset, then every last offset."""
    for offset in offsets:
        if created_at + offset > now:
            return created_at + offset
    last = created_at + offsets[-1]
    return last + ((now - last) // offsets[-1] + 1) * offsets[-1]


@dataclass
class JobSummary:
    job: str
    checked: int = 0
    paid: int = 0
    closed: int = 0
    shipped: int = 0
    settled: int = 0
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str) -> None:
        """Count one more ``name`` (paid, closed, ...): safe from the threads of a concurrent run."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def line(self) -> str:
        return (f"job={self.job} checked={self.checked} paid={self.paid} closed={self.closed} "
                f"shipped={self.shipped} settled={self.settled} errors={self.errors}")

    def log(self) -> "JobSummary":
        """Log the run's one summary line: INFO when it did something, DEBUG when idle."""
        log.log(logging.INFO if self.checked or self.errors else logging.DEBUG, "%s", self.line())
        return self


def run_claimed(summary: JobSummary, model, criteria, order_by, now: datetime,
                handle: Callable[[int, datetime], None], on_error: Callable[[int, datetime, Exception], None],
                workers: int = 1):
    """Claim due rows CLAIM_CHUNK at a time, up to the batch size, and handle each (``workers`` at once).

    One claim (a SELECT and an UPDATE) serves up to CLAIM_CHUNK rows, not one each: a sweep of 1,000 due
    orders makes 50 claims, not 1,000. A row is handled only while at least half of its lease is left, so
    each lease still covers one row's WeChat calls however long the batch runs; the rest of a chunk is
    released, unhandled, and claimed again. The claim time is ``now`` plus the real time spent so far. An
    exception from ``handle`` is logged and counted, the session rolled back and ``on_error`` run (it
    reschedules and releases); the batch goes on. A row handled in this run is never claimed again by it.

    With ``workers`` > 1 the rows are handled by that many threads, each in its own app context (its own
    session and transaction): a job that waits on WeChat Pay for every row then waits for several at once.
    The next chunk is claimed while the last rows of one are still running, so no thread waits for a chunk's
    slowest row. ``handle`` must count through ``summary.add``.
    """
    started = time.monotonic()
    limit, lease = batch_size(), claim_lease()
    seen: list[int] = []
    app = current_app._get_current_object()

    def elapsed() -> timedelta:
        return timedelta(seconds=time.monotonic() - started)

    def handle_one(row_id: int, until: datetime) -> None:
        try:
            handle(row_id, until)
        except Exception as error:
            db.session.rollback()
            summary.add("errors")
            if isinstance(error, PaymentError):
                log.warning("job=%s %s %s: WeChat Pay error %s (retryable=%s); will retry",
                            summary.job, model.__tablename__, row_id, error.code, error.retryable)
            else:
                log.exception("job=%s %s %s failed; will retry", summary.job, model.__tablename__, row_id)
            on_error(row_id, until, error)
            db.session.commit()

    def in_own_context(row_id: int, until: datetime) -> None:
        with app.app_context():
            handle_one(row_id, until)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"job-{summary.job}") if workers > 1 else None
    free_workers = threading.Semaphore(workers)
    running = []

    def check_finished() -> None:
        """Raise the error of any finished row's on_error: it ends the run, as it would one at a time."""
        nonlocal running
        finished = [future for future in running if future.done()]
        running = [future for future in running if future not in finished]
        for future in finished:
            future.result()

    try:
        while len(seen) < limit:
            not_seen = [model.id.not_in(seen)] if seen else []
            claimed = claim(model, [*criteria, *not_seen], at=now + elapsed(), lease=lease,
                            limit=min(CLAIM_CHUNK, limit - len(seen)), order_by=order_by)
            if not claimed.ids:
                break
            begun = 0
            for row_id in claimed.ids:
                if pool is not None:
                    free_workers.acquire()  # the lease is checked when the row really starts
                if claimed.until - (now + elapsed()) < lease / 2:
                    if pool is not None:
                        free_workers.release()
                    break
                seen.append(row_id)
                summary.add("checked")
                begun += 1
                if pool is None:
                    handle_one(row_id, claimed.until)
                else:
                    running.append(pool.submit(in_own_context, row_id, claimed.until))
                    running[-1].add_done_callback(lambda _: free_workers.release())
            check_finished()
            if begun < len(claimed.ids):
                release_all(model, claimed.ids[begun:], claimed.until)
                db.session.commit()
        for future in running:
            future.result()
    finally:
        if pool is not None:
            pool.shutdown()
    return summary
