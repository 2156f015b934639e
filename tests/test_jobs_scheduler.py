"""The scheduler around the jobs: embedded by `make run`, `flask jobs run` as its own process, never in web workers.

These run in real time (no freezegun) with short intervals and back-off, against the sandbox.
"""
import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from core.clock import utcnow
from extensions import db
from jobs import scheduler as jobs_scheduler
from jobs.scheduler import JOBS, start_background_scheduler, stop_background_scheduler
from models import Order, PaymentEvent, Product
from tests.helpers import pay_on_phone, wait_for

REPO = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.wechatpay


@pytest.fixture
def app_config(app_config):
    # Every job every 0.2 s; an order is first queried 0.3 s after creation, then every 0.3 s.
    return {**app_config, "JOBS_INTERVAL_SECONDS": 0.2, "RECONCILE_BACKOFF_MINUTES": [0.005]}


@pytest.fixture
def embedded(app):
    """Start the embedded scheduler as `make run` does; always stop it before the database goes."""
    yield lambda **kwargs: start_background_scheduler(app, **kwargs)
    stop_background_scheduler()


def status(app, order):
    with app.app_context():
        row = db.session.get(Order, order.id)
        return row.status, db.session.get(Product, order.product_id).stock


def scheduler_threads():
    return [thread for thread in threading.enumerate() if thread.name == "APScheduler"]


def test_the_embedded_scheduler_starts_once_with_every_job(app, embedded):
    first = embedded()
    second = embedded()

    assert isinstance(first, BackgroundScheduler) and first is second and first.running
    assert len(scheduler_threads()) == 1
    jobs = {job.id: job for job in first.get_jobs()}
    assert sorted(jobs) == sorted(f"shop-{name}" for name in JOBS)
    assert {job.trigger.interval for name, job in jobs.items() if name != "shop-certificates"} == {
        timedelta(seconds=0.2)}
    assert jobs["shop-certificates"].trigger.interval == timedelta(hours=12)
    assert {job.max_instances for job in jobs.values()} == {1}

    stop_background_scheduler()
    assert not first.running
    wait_for(lambda: not scheduler_threads(), timeout=5)


def test_under_the_reloader_only_the_served_process_starts_the_scheduler(app, embedded, monkeypatch):
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert embedded(use_reloader=True) is None  # the file-watching parent
    assert not scheduler_threads()
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    assert embedded(use_reloader=True).running  # the child that serves


def test_the_web_app_never_starts_the_scheduler(app, client):
    assert client.get("/").status_code == 200
    assert jobs_scheduler._background is None
    assert not scheduler_threads()


@pytest.mark.slow
def test_with_make_run_a_paid_order_ships_and_an_unpaid_one_closes_on_their_own(
        app, no_notifications, placed, embedded):
    paid = placed(quantity=2, stock=5)
    unpaid = placed(quantity=2, stock=5, pay_minutes=0.05)  # a 3-second deadline
    pay_on_phone(app, no_notifications, paid)

    embedded()

    wait_for(lambda: status(app, paid) == ("shipped", 3), timeout=20)
    wait_for(lambda: status(app, unpaid) == ("closed", 5), timeout=20)
    assert [d["status"] for d in no_notifications.deliveries(paid.out_trade_no)] == ["dropped"]
    # The shop closed it at its deadline; WeChat's own time_expire (at least 1 minute) was still ahead.
    assert no_notifications.order(unpaid.out_trade_no)["close_reason"] == "merchant"
    with app.app_context():
        kinds = [event.kind for event in db.session.scalars(
            db.select(PaymentEvent).filter_by(order_id=paid.id).order_by(PaymentEvent.id))]
    assert kinds[0] == "create" and kinds[-2:] == ["reconcile", "ship"]


def test_jobs_run_once_runs_every_job_in_order(app, runner, no_notifications, placed):
    order = placed(utcnow() - timedelta(minutes=2))
    pay_on_phone(app, no_notifications, order)

    result = runner.invoke(args=["jobs", "run", "--once"])

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "job=reconcile checked=1 paid=1 closed=0 shipped=0 settled=0 errors=0",
        "job=expire checked=0 paid=0 closed=0 shipped=0 settled=0 errors=0",
        "job=refunds checked=0 paid=0 closed=0 shipped=0 settled=0 errors=0",
        "job=ship checked=1 paid=0 closed=0 shipped=1 settled=0 errors=0",
        "job=alerts checked=0 paid=0 closed=0 shipped=0 settled=0 errors=0",  # no alert channel configured
        "job=certificates checked=0 paid=0 closed=0 shipped=0 settled=0 errors=0",  # public-key mode: none
        "job=bills checked=7 paid=0 closed=0 shipped=0 settled=7 errors=0",  # the last 7 days: no trades
    ]
    assert status(app, order)[0] == "shipped"


@pytest.mark.slow
def test_flask_jobs_run_is_its_own_process_and_stops_on_sigterm(app, database_url, no_notifications, placed):
    order = placed(utcnow() - timedelta(minutes=2))  # already due for its first query
    pay_on_phone(app, no_notifications, order)
    env = {
        **os.environ, "FLASK_APP": "app", "SHOP_ENV": "development", "DATABASE_URL": database_url,
        "SANDBOX_KEY_DIR": str(no_notifications.keys.directory), "WECHATPAY_URL": no_notifications.url,
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "jobs", "run", "--interval", "0.3"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for(lambda: status(app, order)[0] == "shipped" or process.poll() is not None, timeout=30)
        assert status(app, order)[0] == "shipped"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, output
    assert "job=reconcile checked=1 paid=1" in output
    assert "job=ship checked=1 paid=0 closed=0 shipped=1" in output
    assert output.rstrip().endswith("jobs stopped")
