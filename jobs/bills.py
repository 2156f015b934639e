"""Bills: compare each past day with WeChat Pay's trade bill, once the bill is ready (Beijing time).

WeChat Pay makes a day's bill from 09:00 the next day; the job asks after BILL_RECONCILE_TIME for
yesterday, and for any of the last BILL_LOOKBACK_DAYS days not yet final (the jobs were down, or the
bill was not ready: asked again every 30 minutes). Each day is a claimed row, so two scheduler
processes compare a day once.
"""
from datetime import datetime, time, timedelta

from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError

from core.clock import to_china_time
from core.vocabulary import FINAL_BILL_RUN_STATUSES, BillRunStatus
from extensions import db
from jobs.claims import release
from jobs.common import JobSummary, run_claimed, setting
from models import BillRun
from services.reconciliation import reconcile_day


def bill_time() -> time:
    hours, minutes = (int(part) for part in str(setting("BILL_RECONCILE_TIME")).split(":"))
    return time(hours, minutes)


def due_days(now: datetime) -> list:
    """The Beijing-time days whose bills should exist by now, newest first."""
    local = to_china_time(now)
    latest = local.date() - timedelta(days=1 if local.time() >= bill_time() else 2)
    return [latest - timedelta(days=n) for n in range(int(setting("BILL_LOOKBACK_DAYS")))]


def reconcile_bills(now: datetime) -> JobSummary:
    """Compare every due day that is not final yet with its bill. Needs an app context."""
    summary = JobSummary("bills")
    days = due_days(now)
    for day in days:  # a row per day, so that the runs can be claimed
        if db.session.query(BillRun.id).filter_by(bill_date=day).first() is None:
            try:
                db.session.add(BillRun(bill_date=day, status=BillRunStatus.NOT_READY, created_at=now))
                db.session.commit()
            except IntegrityError:  # another scheduler made it first
                db.session.rollback()
    criteria = [BillRun.bill_date.in_(days), BillRun.status.not_in(FINAL_BILL_RUN_STATUSES),
                or_(BillRun.next_try_at.is_(None), BillRun.next_try_at <= now)]

    def handle(run_id: int, until: datetime) -> None:
        run = reconcile_day(db.session.get(BillRun, run_id).bill_date, now)
        if run.status in FINAL_BILL_RUN_STATUSES:
            summary.add("settled")
        release(BillRun, run_id, until)
        db.session.commit()

    def on_error(run_id: int, until: datetime, error: Exception) -> None:
        release(BillRun, run_id, until, next_try_at=now + timedelta(minutes=30))

    run_claimed(summary, BillRun, criteria, [BillRun.bill_date.desc()], now, handle, on_error)
    return summary.log()
