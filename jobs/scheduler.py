"""The APScheduler that runs the jobs: `flask jobs run` in production, embedded by `make run` in development.

Web workers never start it. Each job runs in its own app context with ``utcnow()``; several
scheduler processes may run at once, because the jobs claim the rows they work on.
"""
import atexit
import logging
import os
import signal
import threading
from datetime import datetime, timezone

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import undefined
from flask import current_app
from flask.cli import AppGroup

from core.clock import utcnow
from http_policy import configure_logging
from jobs.alerts import send_alerts
from jobs.bills import reconcile_bills
from jobs.certificates import refresh_certificates
from jobs.common import JobSummary
from jobs.expire import expire_orders
from jobs.reconcile import reconcile_orders
from jobs.refunds import follow_up_refunds
from jobs.ship import ship_orders

log = logging.getLogger("shop.jobs")
jobs_cli = AppGroup("jobs", help="Run the background jobs.")

# In the order `--once` runs them: learn results first, then close, then ship what is paid.
JOBS = {
    "reconcile": reconcile_orders,
    "expire": expire_orders,
    "refunds": follow_up_refunds,
    "ship": ship_orders,
    "alerts": send_alerts,
    "certificates": refresh_certificates,
    "bills": reconcile_bills,
}
# Jobs that run on their own interval (a setting, in hours) instead of every JOBS_INTERVAL_SECONDS.
HOURLY_SETTINGS = {"certificates": "CERTIFICATE_REFRESH_HOURS"}

_lock = threading.Lock()
_background: BackgroundScheduler | None = None


def run_job(app, name: str) -> JobSummary | None:
    """Run one job in a fresh app context at ``utcnow()``; log a failure, never raise it."""
    with app.app_context():
        try:
            return JOBS[name](utcnow())
        except Exception:
            log.exception("job=%s failed", name)
            return None


def interval_seconds(app) -> float:
    seconds = float(app.config["JOBS_INTERVAL_SECONDS"])
    if seconds <= 0:
        raise ValueError("JOBS_INTERVAL_SECONDS must be positive")
    return seconds


def build_scheduler(app, scheduler_class, interval: float | None = None):
    """A scheduler (not started) running every job every ``interval`` seconds, one instance at a time."""
    interval = interval or interval_seconds(app)
    # The jobs log one summary line per run; APScheduler's own INFO lines (job added, job ran) are noise.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = scheduler_class(
        timezone=timezone.utc,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, int(interval))},
    )
    for name in JOBS:
        seconds = float(app.config[HOURLY_SETTINGS[name]]) * 3600 if name in HOURLY_SETTINGS else interval
        scheduler.add_job(
            run_job, IntervalTrigger(seconds=seconds, timezone=timezone.utc), args=(app, name),
            id=f"shop-{name}", name=f"shop {name}",
            # The hourly ones also run at start: a new jobs process fetches certificates at once.
            next_run_time=datetime.now(timezone.utc) if name in HOURLY_SETTINGS else undefined,
        )
    return scheduler


def start_background_scheduler(app, *, use_reloader: bool = False):
    """Start the jobs inside this process (development only); a second call returns the running one.

    Under Werkzeug's reloader only the served child process (WERKZEUG_RUN_MAIN=true) starts them,
    not the file-watching parent.
    """
    global _background
    if use_reloader and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return None
    with _lock:
        if _background is None:
            _background = build_scheduler(app, BackgroundScheduler)
            _background.start()
            atexit.register(stop_background_scheduler, wait=False)
            log.info("background jobs started: every %ss", interval_seconds(app))
        return _background


def stop_background_scheduler(wait: bool = True) -> None:
    """Stop the embedded scheduler, if this process started one."""
    global _background
    with _lock:
        scheduler, _background = _background, None
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=wait)


@jobs_cli.command("run")
@click.option("--once", is_flag=True, help="Run every job once now, print their summaries and exit.")
@click.option("--interval", type=click.FloatRange(min=0, min_open=True),
              help="Seconds between runs (default: JOBS_INTERVAL_SECONDS).")
def run(once, interval):
    """Run the scheduler in the foreground (production: its own process)."""
    app = current_app._get_current_object()
    if not logging.getLogger().handlers:  # the command line, not a test runner capturing logs
        configure_logging()
    if once:
        failed = False
        for name in JOBS:
            summary = run_job(app, name)
            failed |= summary is None
            click.echo(summary.line() if summary else f"job={name} failed (see the log)")
        raise SystemExit(1 if failed else 0)

    scheduler = build_scheduler(app, BlockingScheduler, interval)

    def stop(signum, frame):
        if scheduler.running:  # let a running job finish its row (it is bounded by the WeChat Pay timeouts)
            scheduler.shutdown(wait=True)

    # SIGTERM (systemd, docker stop, Procfile runners) stops cleanly; a job running finishes its row
    # before the interpreter exits (its thread is joined), and its claims expire anyway if killed.
    signal.signal(signal.SIGTERM, stop)
    click.echo(f"jobs: {', '.join(JOBS)} every {interval or interval_seconds(app)} s; Ctrl+C to stop")
    try:
        scheduler.start()
    except KeyboardInterrupt:
        pass
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=True)
    click.echo("jobs stopped")
