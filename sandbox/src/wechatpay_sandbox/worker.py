"""The background delivery worker: settles refunds and sends due notifications."""

from __future__ import annotations

import logging
import threading
import time

from . import clock, notify, orders

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 8  # deliveries being sent at once
MAX_SLEEP = 1.0  # also picks up work queued by another process


def run_due(rt) -> list[str]:
    """Do all due work now, synchronously (the control API's /deliveries/run); return delivery ids."""
    now = clock.now()
    with rt.db.write() as session:
        orders.settle_due_refunds(session, rt, now)
    claims = notify.claim_due(rt, now)
    for claim in claims:
        notify.deliver(rt, claim)
    return [claim.id for claim in claims]


class Worker:
    def __init__(self, rt):
        self.rt = rt
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: set[threading.Thread] = set()
        self._thread = threading.Thread(target=self._loop, name="sandbox-delivery", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop promptly; give in-flight sends a moment to record their result."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            threads = list(self._in_flight)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                saturated = self._tick()
                pause = MAX_SLEEP if saturated else self._pause()  # a finishing send wakes us
            except Exception:  # the worker must outlive a bad row or a locked database
                log.exception("sandbox delivery worker tick failed")
                pause = MAX_SLEEP
            self._wake.wait(pause)
            self._wake.clear()

    def _tick(self) -> bool:
        """Start the due sends; return True if every sending slot is busy."""
        now = clock.now()
        with self.rt.db.write() as session:
            orders.settle_due_refunds(session, self.rt, now)
        with self._lock:
            free = MAX_IN_FLIGHT - len(self._in_flight)
        if free <= 0:
            return True
        claims = notify.claim_due(self.rt, now, limit=free)
        for claim in claims:
            thread = threading.Thread(target=self._deliver, args=(claim,), daemon=True,
                                      name=f"sandbox-notify-{claim.id[:8]}")
            with self._lock:
                self._in_flight.add(thread)
            thread.start()
        return len(claims) >= free

    def _deliver(self, claim) -> None:
        try:
            notify.deliver(self.rt, claim)
        except Exception:
            if not self._stop.is_set():
                log.exception("sandbox delivery %s failed", claim.id)
        finally:
            with self._lock:
                self._in_flight.discard(threading.current_thread())
            self._wake.set()  # its retry may be due very soon

    def _pause(self) -> float:
        now = clock.now()
        times = [notify.next_due(self.rt, now)]
        with self.rt.db.read() as session:
            times.append(orders.next_settlement(session))
        due = [moment for moment in times if moment is not None]
        if not due:
            return MAX_SLEEP
        return min(MAX_SLEEP, max(0.005, (min(due) - now).total_seconds()))
