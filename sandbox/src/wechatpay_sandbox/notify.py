"""Notifications: build the signed, encrypted envelope; deliver it; retry on the official schedule.

A delivery is a row, so a restarted sandbox resumes where it stopped. Sending happens outside any
database transaction: claim (short write) -> POST -> record the result (short write). A claim is a
lease (`claimed_until`), so two workers, even in two processes, never send the same attempt twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import clock, crypto, faults
from .models import ACKNOWLEDGED, DROPPED, FAILED, PENDING, Delivery, DeliveryAttempt

log = logging.getLogger(__name__)

# Official retry intervals after a failed attempt: 15 retries over 24 h 4 m.
RETRY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600,
                  10800, 10800, 10800, 21600, 21600)


def compact(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def enqueue(session: Session, rt, *, event_type: str, summary: str, original_type: str,
            resource: dict, notify_url: str, out_trade_no: str, out_refund_no: str | None = None,
            now: datetime) -> Delivery:
    """Create a notification event (encrypted now, so every retry sends the same body)."""
    nonce = crypto.random_nonce(12)
    envelope = {
        "id": str(uuid.uuid4()),
        "create_time": clock.rfc3339(now),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": {
            "original_type": original_type,
            "algorithm": crypto.AEAD_ALGORITHM,
            "ciphertext": crypto.aead_encrypt(rt.keys.apiv3_key, nonce, compact(resource), original_type),
            "associated_data": original_type,
            "nonce": nonce,
        },
    }
    taken = faults.take_notify_faults(session)
    delivery = Delivery(
        id=envelope["id"], event_type=event_type, out_trade_no=out_trade_no,
        out_refund_no=out_refund_no, notify_url=notify_url, body=compact(envelope),
        status=DROPPED if "drop" in taken else PENDING, attempts=0, next_attempt_at=now,
        copies=1, concurrent=False, probe_pending="bad_signature" in taken, created_at=now)
    if "delay" in taken:
        delivery.next_attempt_at = now + timedelta(seconds=taken["delay"].seconds)
    if "concurrent" in taken:
        delivery.copies, delivery.concurrent = taken["concurrent"].times, True
    elif "duplicate" in taken:
        delivery.copies = taken["duplicate"].times
    if delivery.status == DROPPED:
        delivery.next_attempt_at = None
        delivery.last_error = "dropped by fault injection"
    session.add(delivery)
    session.info.setdefault("after_commit", []).append(rt.wake_worker)
    return delivery


@dataclass(frozen=True)
class Claim:
    id: str
    notify_url: str
    body: str
    attempt: int  # 1 for the first attempt, 2..16 for the retries
    copies: int
    concurrent: bool
    probe: bool


@dataclass
class Result:
    kind: str
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    acknowledged: bool


def _due(now: datetime):
    return (Delivery.status == PENDING, Delivery.next_attempt_at <= now,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now))


def claim_due(rt, now: datetime, limit: int = 50) -> list[Claim]:
    """Lease the due deliveries to this caller."""
    claims = []
    with rt.db.write() as session:
        rows = session.scalars(select(Delivery).where(*_due(now))
                               .order_by(Delivery.next_attempt_at).limit(limit)).all()
        for row in rows:
            posts = row.copies + (1 if row.probe_pending else 0)
            row.claimed_until = now + timedelta(seconds=posts * rt.notify_timeout + 5)
            claims.append(Claim(row.id, row.notify_url, row.body, row.attempts + 1, row.copies,
                                row.concurrent, row.probe_pending))
    return claims


def next_due(rt, now: datetime) -> datetime | None:
    """When the earliest unclaimed pending delivery falls due (in-flight ones wake the worker)."""
    with rt.db.read() as session:
        return session.scalar(select(func.min(Delivery.next_attempt_at)).where(
            Delivery.status == PENDING,
            or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now)))


def signed_headers(rt, body: str, *, probe: bool = False) -> dict[str, str]:
    timestamp = str(int(time.time()))
    nonce = crypto.random_nonce(32)
    signature = (crypto.probe_signature() if probe
                 else crypto.sign(rt.platform_key, crypto.response_message(timestamp, nonce, body)))
    return {
        "Content-Type": "application/json",
        "User-Agent": "Mozilla/4.0",
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": rt.mode_serial(),
        "Wechatpay-Signature-Type": crypto.SIGNATURE_TYPE,
    }


def post(rt, claim: Claim, kind: str) -> Result:
    """POST one copy; acknowledged only by 200/204 within the notify timeout."""
    headers = signed_headers(rt, claim.body, probe=kind == "probe")
    started_at = clock.now()
    began = time.monotonic()
    status = error = None
    try:
        with requests.Session() as http:
            http.trust_env = False  # never route a merchant's notify URL through a proxy
            response = http.post(claim.notify_url, data=claim.body.encode("utf-8"), headers=headers,
                                 timeout=rt.notify_timeout, allow_redirects=False)
            status = response.status_code
    except requests.Timeout:
        error = "timeout"
    except requests.RequestException as exc:
        error = _short_reason(exc)
    elapsed = time.monotonic() - began
    acknowledged = status in (200, 204) and elapsed <= rt.notify_timeout
    if status in (200, 204) and not acknowledged:
        error = "answered after the timeout"
    return Result(kind, started_at, int(elapsed * 1000), status, error, acknowledged)


def _short_reason(exc: requests.RequestException) -> str:
    """A one-line reason for the overview ("ConnectionError: connection refused")."""
    text = str(exc)
    for needle, reason in (("refused", "connection refused"), ("Name or service", "unknown host"),
                           ("resolve", "unknown host"), ("reset", "connection reset"),
                           ("aborted", "connection aborted")):
        if needle in text:
            return f"{type(exc).__name__}: {reason}"
    return f"{type(exc).__name__}: {text[:120]}"


def _send_copies(rt, claim: Claim) -> list[Result]:
    if not claim.concurrent or claim.copies == 1:
        kinds = ["normal"] + ["duplicate"] * (claim.copies - 1)
        return [post(rt, claim, kind) for kind in kinds]
    # All copies leave together so the merchant's handler races itself.
    barrier = threading.Barrier(claim.copies)
    results: list[Result | None] = [None] * claim.copies

    def send(index: int) -> None:
        try:
            barrier.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass
        results[index] = post(rt, claim, "normal" if index == 0 else "duplicate")

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(claim.copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [result for result in results if result is not None]


def deliver(rt, claim: Claim) -> bool:
    """Make one scheduled attempt of a claimed delivery and record it; return True if acknowledged."""
    results = [post(rt, claim, "probe")] if claim.probe else []
    results += _send_copies(rt, claim)
    copies = [result for result in results if result.kind != "probe"]
    acknowledged = any(result.acknowledged for result in copies)
    shown = next((result for result in copies if result.acknowledged), copies[-1])
    with rt.db.write() as session:
        row = session.get(Delivery, claim.id)
        for result in results:
            session.add(DeliveryAttempt(
                delivery_id=claim.id, attempt=claim.attempt, kind=result.kind,
                started_at=result.started_at, duration_ms=result.duration_ms,
                status_code=result.status_code, error=result.error, acknowledged=result.acknowledged))
        now = clock.now()
        row.attempts = claim.attempt
        row.last_status = shown.status_code
        row.last_error = shown.error
        row.probe_pending = False
        row.claimed_until = None
        if acknowledged:
            row.status, row.acknowledged_at, row.next_attempt_at = ACKNOWLEDGED, now, None
        elif claim.attempt > len(RETRY_SCHEDULE):
            row.status, row.next_attempt_at = FAILED, None
        else:
            row.next_attempt_at = now + rt.scaled(RETRY_SCHEDULE[claim.attempt - 1])
    return acknowledged


def as_dict(delivery: Delivery, *, with_log: bool = True) -> dict:
    data = {
        "id": delivery.id,
        "event_type": delivery.event_type,
        "out_trade_no": delivery.out_trade_no,
        "out_refund_no": delivery.out_refund_no,
        "notify_url": delivery.notify_url,
        "status": delivery.status,
        "acknowledged": delivery.status == ACKNOWLEDGED,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status,
        "last_error": delivery.last_error,
        "next_attempt_at": clock.rfc3339(delivery.next_attempt_at),
        "created_at": clock.rfc3339(delivery.created_at),
        "acknowledged_at": clock.rfc3339(delivery.acknowledged_at),
        "copies": delivery.copies,
        "concurrent": delivery.concurrent,
        "probe_pending": delivery.probe_pending,
        "body": delivery.body,
    }
    if with_log:
        data["log"] = [{
            "attempt": entry.attempt, "kind": entry.kind, "at": clock.rfc3339(entry.started_at),
            "status_code": entry.status_code, "error": entry.error,
            "duration_ms": entry.duration_ms, "acknowledged": entry.acknowledged,
        } for entry in delivery.log]
    return data
