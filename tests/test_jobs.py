"""The scheduler's jobs against the running sandbox: back-off, deadline, ship delay, races, crashes.

Every time rule runs under freezegun. The sandbox runs in this process, so the frozen clock is
WeChat Pay's clock too: orders expire, refunds settle and signatures are dated by it.
"""
import threading
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import event, func, select

import jobs.common
import services.payment
from core.clock import utcnow
from core.vocabulary import PaymentChannel
from extensions import db
from jobs.common import next_check
from jobs.expire import expire_orders
from jobs.reconcile import reconcile_orders
from jobs.refunds import follow_up_refunds
from jobs.ship import ship_orders
from models import Order, PaymentEvent, Product, Refund
from payments import PaymentError, get_gateway
from services.attempts import open_attempt
from services.refunds import create_refund
from tests.helpers import GatewaySpy, events, order_row, pay_on_phone

MIN = timedelta(minutes=1)


pytestmark = pytest.mark.wechatpay


@pytest.fixture
def t0():
    """A start time on a whole second, so WeChat's time_expire (sent without fractions) equals ours."""
    return utcnow().replace(microsecond=0)


def run(app, job, at):
    """Run a job as the scheduler does: in a fresh app context, at ``at``."""
    with freeze_time(at), app.app_context():
        return job(at)


def state(app, order):
    with app.app_context():
        row = db.session.get(Order, order.id)
        return {
            "status": row.status, "paid_at": row.paid_at, "shipped_at": row.shipped_at,
            "closed_at": row.closed_at, "next_query_at": row.next_query_at, "query_count": row.query_count,
            "claimed_until": row.claimed_until, "stock": db.session.get(Product, order.product_id).stock,
        }


# -- reconcile -----------------------------------------------------------------------------------

def test_next_check_follows_the_offsets_then_every_last_offset(t0):
    offsets = [MIN, 3 * MIN, 5 * MIN, 10 * MIN]
    assert next_check(t0, t0, offsets) == t0 + MIN
    assert next_check(t0, t0 + MIN, offsets) == t0 + 3 * MIN
    assert next_check(t0, t0 + 4 * MIN, offsets) == t0 + 5 * MIN
    assert next_check(t0, t0 + 5 * MIN, offsets) == t0 + 10 * MIN
    assert next_check(t0, t0 + 10 * MIN, offsets) == t0 + 20 * MIN
    # A scheduler that was down catches up with one query, not one per missed step.
    assert next_check(t0, t0 + 47 * MIN, offsets) == t0 + 50 * MIN


def test_reconcile_queries_each_order_on_its_backoff_schedule(app, wechat, placed, gateway, t0):
    first = placed(t0)
    second = placed(t0 + timedelta(seconds=30))
    checks = {  # minutes after t0 -> the orders that are due
        0.98: [], 1: [first], 1.5: [second], 2: [], 3: [first], 3.5: [second], 4: [], 5: [first],
        5.5: [second], 9: [], 10: [first], 10.5: [second], 19: [], 20: [first], 20.5: [second],
        29: [], 29.9: [],
    }
    for minutes, due in checks.items():
        summary = run(app, reconcile_orders, t0 + minutes * MIN)
        assert (summary.checked, summary.paid, summary.errors) == (len(due), 0, 0), minutes
        assert sorted(gateway.queries) == sorted(order.out_trade_no for order in due), minutes
        gateway.queries.clear()

    row = state(app, first)
    assert row["status"] == "pending"  # NOTPAY changes nothing
    assert row["query_count"] == 5
    assert row["next_query_at"] == t0 + 30 * MIN  # the last check is capped at the deadline...
    assert row["claimed_until"] is None
    assert state(app, second)["next_query_at"] == t0 + 30 * MIN + timedelta(seconds=30)
    assert events(app, first, "reconcile") == [("reconcile", "NOTPAY", "unchanged")] * 5
    # ...where reconcile stops and expire takes over.
    assert run(app, reconcile_orders, t0 + 30 * MIN).checked == 0
    assert run(app, expire_orders, t0 + 30 * MIN).closed == 1


def test_order_paid_on_the_phone_with_notifications_dropped_is_paid_then_shipped_by_the_jobs(
        app, no_notifications, placed, t0):
    order = placed(t0, price_fen=1990, quantity=2, stock=5)
    pay_on_phone(app, no_notifications, order, t0 + timedelta(seconds=20))
    deliveries = no_notifications.deliveries(order.out_trade_no)
    assert [d["status"] for d in deliveries] == ["dropped"]

    assert run(app, reconcile_orders, t0 + timedelta(seconds=50)).checked == 0  # not due yet
    assert state(app, order)["status"] == "pending"

    summary = run(app, reconcile_orders, t0 + MIN)
    assert (summary.checked, summary.paid) == (1, 1)
    row = state(app, order)
    assert (row["status"], row["paid_at"], row["next_query_at"]) == ("paid", t0 + timedelta(seconds=20), None)
    assert row["stock"] == 3  # paid keeps the reservation

    summary = run(app, ship_orders, t0 + MIN)
    assert (summary.checked, summary.shipped) == (1, 1)
    assert state(app, order)["shipped_at"] == t0 + MIN
    assert run(app, ship_orders, t0 + 2 * MIN).shipped == 0
    assert run(app, reconcile_orders, t0 + 3 * MIN).checked == 0  # paid orders are not queried again
    assert events(app, order) == [
        ("create", None, "code_url"), ("reconcile", "SUCCESS", "paid"), ("ship", None, "shipped"),
    ]


# -- ship ------------------------------------------------------------------------------------------

def test_ship_waits_for_the_configured_delay_and_ships_only_paid_orders_once(
        app, no_notifications, placed, t0):
    app.config["SHIP_DELAY_MINUTES"] = 10
    paid = placed(t0)
    pending = placed(t0)
    closed = placed(t0, pay_minutes=5)
    pay_on_phone(app, no_notifications, paid, t0 + 30 * timedelta(seconds=1))
    assert run(app, reconcile_orders, t0 + MIN).paid == 1
    assert run(app, expire_orders, t0 + 5 * MIN).closed == 1

    assert run(app, ship_orders, t0 + 10 * MIN + timedelta(seconds=29)).shipped == 0
    summary = run(app, ship_orders, t0 + 10 * MIN + timedelta(seconds=30))
    assert (summary.checked, summary.shipped) == (1, 1)
    assert run(app, ship_orders, t0 + 11 * MIN).checked == 0
    assert state(app, paid)["status"] == "shipped"
    assert state(app, pending)["status"] == "pending"
    assert state(app, closed)["status"] == "closed"
    assert events(app, paid, "ship") == [("ship", None, "shipped")]


def test_ship_leaves_orders_waiting_for_the_owner(app, no_notifications, placed, t0):
    order = placed(t0)
    pay_on_phone(app, no_notifications, order, t0)
    run(app, reconcile_orders, t0 + MIN)
    with app.app_context():
        db.session.get(Order, order.id).attention = "关闭后收到付款，库存不足"
        db.session.commit()
    assert run(app, ship_orders, t0 + MIN).checked == 0
    assert state(app, order)["status"] == "paid"


# -- expire ----------------------------------------------------------------------------------------

def test_unpaid_order_past_its_deadline_is_closed_and_gives_its_stock_back(app, wechat, placed, gateway, t0):
    order = placed(t0, quantity=2, stock=5)  # WeChat's time_expire is our deadline
    assert state(app, order)["stock"] == 3
    assert run(app, expire_orders, t0 + 30 * MIN - timedelta(seconds=1)).checked == 0

    summary = run(app, expire_orders, t0 + 30 * MIN)
    assert (summary.checked, summary.closed, summary.paid) == (1, 1, 0)
    row = state(app, order)
    assert (row["status"], row["closed_at"], row["stock"]) == ("closed", t0 + 30 * MIN, 5)
    assert wechat.order(order.out_trade_no)["trade_state"] == "CLOSED"
    assert run(app, expire_orders, t0 + 31 * MIN).checked == 0
    assert state(app, order)["stock"] == 5


def test_a_qr_code_past_its_two_hours_is_renewed_while_the_order_may_still_be_paid(app, wechat, placed, t0):
    order = placed(t0, quantity=2, stock=5, pay_minutes=180)  # the code_url lives 2 h, the order 3 h
    later = t0 + 121 * MIN
    with freeze_time(later), app.app_context():
        attempt = open_attempt(db.session.get(Order, order.id), PaymentChannel.NATIVE, later)
        renewed = (attempt.out_trade_no, attempt.prompt_expires_at, attempt.prompt)
    assert renewed[:2] == (order.out_trade_no, later + 120 * MIN)  # the same number, placed again
    assert renewed[2].startswith("weixin://wxpay/bizpayurl?pr=")
    assert run(app, expire_orders, t0 + 179 * MIN).checked == 0

    summary = run(app, expire_orders, t0 + 180 * MIN)
    assert (summary.checked, summary.closed) == (1, 1)
    sandbox_order = wechat.order(order.out_trade_no)
    assert (sandbox_order["trade_state"], sandbox_order["close_reason"]) == ("CLOSED", "merchant")
    assert (state(app, order)["status"], state(app, order)["stock"]) == ("closed", 5)
    assert events(app, order, "expire") == [("expire", "CLOSED", "closed")]


def test_a_payment_landing_during_the_close_ends_paid_never_closed(app, no_notifications, placed, gateway, t0):
    order = placed(t0, quantity=2, stock=5)
    no_notifications.fault(target="api", mode="pay_on_close")

    summary = run(app, expire_orders, t0 + 30 * MIN)

    assert (summary.checked, summary.paid, summary.closed, summary.errors) == (1, 1, 0, 0)
    assert gateway.closes == {order.out_trade_no: 1}
    assert no_notifications.order(order.out_trade_no)["trade_state"] == "SUCCESS"
    row = state(app, order)
    assert (row["status"], row["closed_at"], row["stock"]) == ("paid", None, 3)
    assert run(app, ship_orders, t0 + 30 * MIN).shipped == 1
    assert state(app, order)["status"] == "shipped"


def test_a_close_refused_with_500_is_retried_later(app, wechat, placed, gateway, t0):
    order = placed(t0)
    wechat.fault(target="api", mode="system_error",
                 path_prefix=f"/v3/pay/transactions/out-trade-no/{order.out_trade_no}/close")
    at = t0 + 30 * MIN

    summary = run(app, expire_orders, at)
    assert (summary.checked, summary.closed, summary.errors) == (1, 0, 1)
    row = state(app, order)
    assert (row["status"], row["next_query_at"], row["claimed_until"]) == ("pending", at + MIN, None)
    assert events(app, order, "expire") == [("expire", "SYSTEM_ERROR", "error")]

    assert run(app, expire_orders, at + timedelta(seconds=59)).checked == 0
    assert run(app, expire_orders, at + MIN).closed == 1
    assert gateway.closes == {order.out_trade_no: 2}
    assert state(app, order)["status"] == "closed"


def test_the_reconcile_sweep_asks_wechat_pay_about_several_orders_at_once(app, no_notifications, placed, t0):
    orders = [placed(t0 + timedelta(seconds=n)) for n in range(2)]
    together = threading.Barrier(2, timeout=10)  # opens only when both queries are in flight at once
    met = []

    def meet(*_):
        try:
            together.wait()
            met.append(1)
        except threading.BrokenBarrierError:  # one at a time: the first waited alone
            pass

    with app.app_context():
        spy = GatewaySpy(get_gateway(), before={"query": meet})
    app.extensions["payment_gateway"] = spy
    summary = run(app, reconcile_orders, t0 + 2 * MIN)

    assert summary.checked == 2 and sum(spy.queries.values()) == 2
    assert len(met) == 2
    assert [state(app, order)["status"] for order in orders] == ["pending", "pending"]


def test_a_slow_query_does_not_hold_back_the_next_claim(app, no_notifications, placed, t0, monkeypatch):
    """The threads stay busy across claims: while one order's answer is slow, the next claim's orders go on."""
    monkeypatch.setattr(jobs.common, "CLAIM_CHUNK", 2)
    app.config["RECONCILE_CONCURRENCY"] = 2
    orders = [placed(t0 + timedelta(seconds=n)) for n in range(4)]
    asked, others_asked = [], threading.Semaphore(0)
    waited_for = []

    def slow_first(out_trade_no):
        asked.append(out_trade_no)
        if out_trade_no == orders[0].out_trade_no:  # waits for the second order and one of the next claim
            waited_for.extend(others_asked.acquire(timeout=10) for _ in range(2))
        else:
            others_asked.release()

    with app.app_context():
        spy = GatewaySpy(get_gateway(), before={"query": slow_first})
    app.extensions["payment_gateway"] = spy
    summary = run(app, reconcile_orders, t0 + 2 * MIN)

    assert waited_for == [True, True]
    assert summary.checked == 4 and sorted(asked) == sorted(order.out_trade_no for order in orders)


# -- errors and summaries ----------------------------------------------------------------------------

@pytest.mark.parametrize("fault", [
    {"mode": "system_error"},
    {"mode": "frequency_limited"},
    {"mode": "hang", "seconds": 3},  # past the read timeout set below
], ids=["500", "429", "timeout"])
def test_a_wechat_error_on_one_order_is_logged_and_retried_without_stopping_the_batch(
        app, no_notifications, placed, t0, caplog, fault):
    orders = [placed(t0 + timedelta(seconds=n)) for n in range(3)]
    app.config["WECHATPAY_TIMEOUT"] = (2, 1)  # a hang outlasts it sooner; the gateway is built again with it
    app.extensions.pop("payment_gateway")
    for order in orders:
        pay_on_phone(app, no_notifications, order, t0 + timedelta(seconds=10))
    no_notifications.fault(target="api", **fault)  # the next call: one order's query (they run at once)
    at = t0 + 2 * MIN

    with caplog.at_level("INFO", logger="shop.jobs"):
        summary = run(app, reconcile_orders, at)

    assert (summary.checked, summary.paid, summary.errors) == (3, 2, 1)
    assert sorted(state(app, order)["status"] for order in orders) == ["paid", "paid", "pending"]
    lines = [record.getMessage() for record in caplog.records if "checked=" in record.getMessage()]
    assert lines == ["job=reconcile checked=3 paid=2 closed=0 shipped=0 settled=0 errors=1"]
    assert any("WeChat Pay error" in record.getMessage() and record.levelname == "WARNING"
               for record in caplog.records)
    failed = next(order for order in orders if state(app, order)["status"] == "pending")
    row = state(app, failed)
    assert (row["next_query_at"], row["claimed_until"]) == (at + MIN, None)

    assert run(app, reconcile_orders, at + timedelta(seconds=30)).checked == 0
    assert run(app, reconcile_orders, at + MIN).paid == 1
    assert state(app, failed)["status"] == "paid"


def test_batches_are_bounded(app, wechat, placed, t0):
    app.config["JOBS_BATCH_SIZE"] = 2
    for n in range(5):
        placed(t0)
    assert [run(app, reconcile_orders, t0 + MIN).checked for _ in range(4)] == [2, 2, 1, 0]
    assert [run(app, expire_orders, t0 + 30 * MIN).closed for _ in range(4)] == [2, 2, 1, 0]


# -- two schedulers at once --------------------------------------------------------------------------

def run_together(app, jobs, at, copies=2):
    """Run the jobs in ``copies`` threads started together, as two scheduler processes would."""
    barrier = threading.Barrier(copies)
    results, failures = [], []

    def work():
        try:
            for job in jobs:
                barrier.wait()  # each job starts in both threads at once
                with app.app_context():
                    results.append(job(at))
        except BaseException as error:  # surfaced below
            failures.append(error)

    with freeze_time(at):
        threads = [threading.Thread(target=work) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert not failures, failures
    return results


def test_two_runs_at_once_ship_each_order_once_and_close_each_order_once(
        app, no_notifications, placed, gateway, t0):
    paid = [placed(t0, stock=4) for _ in range(8)]
    unpaid = [placed(t0, quantity=2, stock=4) for _ in range(8)]
    for order in paid:
        pay_on_phone(app, no_notifications, order, t0 + timedelta(seconds=5))

    results = run_together(app, [reconcile_orders, ship_orders], t0 + MIN)

    assert sum(r.paid for r in results) == 8 and sum(r.shipped for r in results) == 8
    assert sum(r.errors for r in results) == 0
    assert sum(r.checked for r in results if r.job == "reconcile") == 16  # each order queried once
    for order in paid:
        assert state(app, order)["status"] == "shipped"
        assert events(app, order, "ship") == [("ship", None, "shipped")]
        assert events(app, order, "reconcile") == [("reconcile", "SUCCESS", "paid")]
    for order in unpaid:
        assert gateway.queries[order.out_trade_no] == 1

    results = run_together(app, [expire_orders], t0 + 30 * MIN)

    assert sum(r.closed for r in results) == 8 and sum(r.errors for r in results) == 0
    assert gateway.closes == {order.out_trade_no: 1 for order in unpaid}
    for order in unpaid:
        assert (state(app, order)["status"], state(app, order)["stock"]) == ("closed", 4)
        assert events(app, order, "expire") == [("expire", "CLOSED", "closed")]
    assert all(state(app, order)["stock"] == 3 for order in paid)


def test_a_run_that_read_its_rows_before_another_run_handled_them_does_nothing_twice(
        app, no_notifications, placed, gateway, t0):
    """Run A reads its candidates, then waits at its first write until run B has finished the job."""
    paid = [placed(t0) for _ in range(3)]
    unpaid = [placed(t0, quantity=2, stock=4) for _ in range(3)]
    for order in paid:
        pay_on_phone(app, no_notifications, order, t0)
    assert run(app, reconcile_orders, t0 + MIN).paid == 3
    at = t0 + 30 * MIN
    runner_a = {}
    b_done = threading.Event()

    def hold_a_before_its_first_write(conn, cursor, statement, parameters, context, executemany):
        if threading.current_thread() is runner_a.get("thread") and statement.lstrip().upper().startswith("UPDATE"):
            if not runner_a.get("held"):
                runner_a["held"] = True
                assert b_done.wait(30), "run B did not finish"

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", hold_a_before_its_first_write)
    try:
        for job in (ship_orders, expire_orders):
            runner_a.clear()
            b_done.clear()
            results = {}

            def run_a(job=job):
                with app.app_context():
                    results["a"] = job(at)

            with freeze_time(at):
                runner_a["thread"] = threading.Thread(target=run_a)
                runner_a["thread"].start()
                while not runner_a.get("held") and runner_a["thread"].is_alive():
                    runner_a["thread"].join(0.01)
                with app.app_context():
                    results["b"] = job(at)
                b_done.set()
                runner_a["thread"].join(30)
            assert runner_a.get("held") and set(results) == {"a", "b"}, job
            a, b = results["a"], results["b"]
            assert (a.errors, b.errors) == (0, 0)
            if job is expire_orders:
                assert a.checked + b.checked == 3  # each order claimed by one run
            assert a.shipped + b.shipped == (3 if job is ship_orders else 0)
            assert a.closed + b.closed == (3 if job is expire_orders else 0)
    finally:
        event.remove(engine, "before_cursor_execute", hold_a_before_its_first_write)

    for order in paid:
        assert events(app, order, "ship") == [("ship", None, "shipped")]
    assert gateway.closes == {order.out_trade_no: 1 for order in unpaid}
    for order in unpaid:
        assert (state(app, order)["status"], state(app, order)["stock"]) == ("closed", 4)
        assert events(app, order, "expire") == [("expire", "CLOSED", "closed")]


# -- crashes -----------------------------------------------------------------------------------------

def fail_once(monkeypatch, exception):
    """Make the state machine raise once: after WeChat closed the order, before the local update."""
    real = services.payment.apply_transaction
    calls = []

    def apply_transaction(order, txn, now):
        calls.append(txn.trade_state)
        if len(calls) == 1:
            raise exception
        return real(order, txn, now)

    monkeypatch.setattr(services.payment, "apply_transaction", apply_transaction)
    return calls


def test_an_error_between_the_close_call_and_the_local_update_is_finished_by_the_next_run(
        app, wechat, placed, gateway, monkeypatch, t0):
    order = placed(t0, quantity=2, stock=5)
    calls = fail_once(monkeypatch, RuntimeError("database went away"))
    at = t0 + 30 * MIN

    summary = run(app, expire_orders, at)

    assert (summary.checked, summary.closed, summary.errors) == (1, 0, 1)
    assert wechat.order(order.out_trade_no)["trade_state"] == "CLOSED"
    assert (state(app, order)["status"], state(app, order)["stock"]) == ("pending", 3)

    summary = run(app, expire_orders, at + MIN)

    assert (summary.closed, summary.errors) == (1, 0)
    assert calls == ["CLOSED", "CLOSED"]
    assert gateway.closes == {order.out_trade_no: 1}  # the second run found it closed already
    assert (state(app, order)["status"], state(app, order)["stock"]) == ("closed", 5)
    assert run(app, expire_orders, at + 2 * MIN).checked == 0
    assert state(app, order)["stock"] == 5


class ProcessKilled(BaseException):
    """Stands for the process dying: nothing in the job catches it, no cleanup runs."""


def test_a_crash_between_the_close_call_and_the_local_update_is_finished_after_the_claim_runs_out(
        app, wechat, placed, gateway, monkeypatch, t0):
    order = placed(t0, quantity=2, stock=5)
    fail_once(monkeypatch, ProcessKilled())
    at = t0 + 30 * MIN

    with pytest.raises(ProcessKilled):
        run(app, expire_orders, at)

    assert wechat.order(order.out_trade_no)["trade_state"] == "CLOSED"
    row = state(app, order)
    assert (row["status"], row["stock"], row["claimed_until"]) == ("pending", 3, at + 2 * MIN)
    assert run(app, expire_orders, at + MIN).checked == 0  # still claimed by the dead run

    summary = run(app, expire_orders, at + 2 * MIN)

    assert (summary.checked, summary.closed, summary.errors) == (1, 1, 0)
    assert gateway.closes == {order.out_trade_no: 1}
    row = state(app, order)
    assert (row["status"], row["stock"], row["claimed_until"]) == ("closed", 5, None)


# -- refunds -----------------------------------------------------------------------------------------

def test_a_refund_wechat_never_received_is_followed_until_final(app, no_notifications, placed, t0):
    order = placed(t0, price_fen=5000)
    pay_on_phone(app, no_notifications, order, t0)
    run(app, reconcile_orders, t0 + MIN)
    asked = t0 + 2 * MIN
    no_notifications.fault(target="api", mode="system_error", path_prefix="/v3/refund/domestic/refunds")
    with freeze_time(asked), app.app_context():
        with pytest.raises(PaymentError):
            create_refund(db.session.get(Order, order.id), 2000, "缺货", asked)
        refund_id = db.session.scalar(select(Refund.id).filter_by(order_id=order.id))

    def refund_state():
        with app.app_context():
            refund = db.session.get(Refund, refund_id)
            return refund.status, refund.next_query_at, db.session.get(Order, order.id).refunded_fen

    assert refund_state() == ("PROCESSING", None, 0)  # first due at creation + the back-off's first offset
    assert run(app, follow_up_refunds, asked + timedelta(seconds=59)).checked == 0

    # The query finds no refund, so the follow-up sends it again (same out_refund_no): PROCESSING.
    summary = run(app, follow_up_refunds, asked + MIN)
    assert (summary.checked, summary.settled, summary.errors) == (1, 0, 0)
    assert refund_state() == ("PROCESSING", asked + 3 * MIN, 0)

    no_notifications.fault(target="api", mode="frequency_limited")
    summary = run(app, follow_up_refunds, asked + 3 * MIN)
    assert (summary.checked, summary.errors) == (1, 1)
    assert refund_state() == ("PROCESSING", asked + 4 * MIN, 0)

    summary = run(app, follow_up_refunds, asked + 4 * MIN)
    assert (summary.checked, summary.settled) == (1, 1)
    assert refund_state() == ("SUCCESS", None, 2000)
    assert run(app, follow_up_refunds, asked + 10 * MIN).checked == 0
    with app.app_context():
        kinds = db.session.scalars(select(PaymentEvent.outcome).filter_by(kind="refund_query")).all()
    assert kinds == ["processing", "error", "refunded"]


def test_the_first_refund_check_follows_the_reconcile_back_off(app, no_notifications, placed, t0):
    """A refund whose REFUND.SUCCESS never comes is first asked about RECONCILE_BACKOFF_MINUTES[0] after it was
    made, as an order is, not after a fixed minute."""
    app.config["RECONCILE_BACKOFF_MINUTES"] = [0.25, 0.5]
    order = placed(t0, price_fen=3000)
    pay_on_phone(app, no_notifications, order, t0)
    run(app, reconcile_orders, t0 + MIN)
    asked = t0 + 2 * MIN
    with freeze_time(asked), app.app_context():
        refund = create_refund(db.session.get(Order, order.id), 1000, "缺货", asked)
        assert (refund.status, refund.next_query_at) == ("PROCESSING", None)
    assert run(app, follow_up_refunds, asked + timedelta(seconds=14)).checked == 0
    summary = run(app, follow_up_refunds, asked + timedelta(seconds=15))
    assert (summary.checked, summary.settled) == (1, 1)
    assert order_row(app, order.id).refunded_fen == 1000


def test_jobs_touch_nothing_when_nothing_is_due(app, wechat, placed, gateway, t0):
    order = placed(t0)
    before = state(app, order)
    for job in (reconcile_orders, expire_orders, ship_orders, follow_up_refunds):
        summary = run(app, job, t0 + timedelta(seconds=30))
        assert (summary.checked, summary.errors) == (0, 0)
    assert state(app, order) == before
    assert not gateway.queries and not gateway.closes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 1  # the create
