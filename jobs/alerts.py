"""Alerts: send the owner's alerts from the outbox, each row once, retried with back-off.

Each row is claimed (jobs/claims.py), sent with no transaction open, and its attempt recorded and the
row marked sent in one commit under the same claim. A crash between the send and that commit leaves the
row pending; after JOBS_CLAIM_SECONDS it is sent again: at worst one message is repeated, never lost.
"""
from datetime import datetime

from sqlalchemy import update

from core.vocabulary import AlertStatus
from extensions import db
from jobs.claims import release
from jobs.common import JobSummary, run_claimed
from models import Outbox
from services import alerts


def send_alerts(now: datetime) -> JobSummary:
    """Send the due alerts; ``settled`` counts those sent, ``errors`` the failed attempts. Needs an app context."""
    summary = JobSummary("alerts")
    criteria = [Outbox.status == AlertStatus.PENDING, Outbox.next_attempt_at <= now]
    order_by = [Outbox.next_attempt_at, Outbox.id]

    def handle(row_id: int, until: datetime) -> None:
        delivery = alerts.deliver(row_id)
        values = alerts.after_attempt(row_id, delivery, now)
        if not release(Outbox, row_id, until, **values):
            # The lease ran out during a slow send: record the result anyway (only while still pending).
            db.session.execute(
                update(Outbox).where(Outbox.id == row_id, Outbox.status == AlertStatus.PENDING).values(**values)
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
        if delivery.ok:
            summary.add("settled")
        else:
            summary.add("errors")

    def on_error(row_id: int, until: datetime, error: Exception) -> None:
        release(Outbox, row_id, until)

    run_claimed(summary, Outbox, criteria, order_by, now, handle, on_error)
    return summary.log()
