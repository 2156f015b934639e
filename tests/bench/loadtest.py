"""`make loadtest`: python -m tests.bench.loadtest [--seconds N].

The production topology on 127.0.0.1 (gunicorn under gunicorn.conf.py with SHOP_ENV=staging, the jobs process,
the sandbox), the sandbox misbehaving (20 % of notifications lost, 20 % sent three times, some of them at once,
some late; 5 % of the API calls answered 500 or 429 or too late), 200 pay pages polling, a stream of customers
who pay, cancel or let their order expire, the owner refunding, and one web worker killed mid-run. When the
traffic stops, the faults are cleared and the run waits (bounded) until the shop has settled every order and
refund; then the shop's books are held against the sandbox's and every message against the final state.
Exit status 1 on any mismatch. Every process it started is stopped, however it ends.
"""
import argparse
import random
import secrets
import sys
import tempfile
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from tests.bench import invariants, report, servers
from tests.bench import shop as bench_shop
from tests.bench.traffic import Customers, Owner, Pollers, Product, Revisits, Traffic, kill_mid_run

OWNER = ("shopkeeper", "Xiaoman-load-2026!")
API_FAULTS = (("system_error", 0.02), ("frequency_limited", 0.015), ("hang", 0.015))
NOTIFY_FAULTS = ({"mode": "drop", "rate": 0.2}, {"mode": "duplicate", "rate": 0.1, "times": 3},
                 {"mode": "concurrent", "rate": 0.1, "times": 3}, {"mode": "delay", "rate": 0.2, "seconds": 3})
READ_TIMEOUT = 3  # seconds the shop waits for WeChat Pay; a hang answers later than that


@dataclass
class Plan:
    """How big a run is: the short one (CI) and the full one (`make loadtest`) differ only in these."""

    seconds: float = 60
    pollers: int = 200
    customers: int = 8
    pay_minutes: float = 0.25  # ORDER_PAY_TIMEOUT: 15 s, so that orders expire within the run
    web_workers: int = 3
    refund_share: float = 0.4
    settle_seconds: float = 120
    minimums: dict = field(default_factory=dict)

    @classmethod
    def for_seconds(cls, seconds: float) -> "Plan":
        short = seconds < 30
        return cls(seconds=seconds, customers=6 if short else 8, pay_minutes=0.15 if short else 0.25,
                   minimums={"orders placed": 5 if short else 20, "paid on the phone": 1 if short else 8,
                             "cancelled": 1, "left to expire": 1, "refunds asked": 1})


@dataclass
class Result:
    checks: list
    traffic: Traffic
    seconds: float
    faults: list  # (fault, how often it fired)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


def control(sandbox_url: str, method: str, path: str, **json) -> dict:
    with requests.Session() as http:
        http.trust_env = False
        answer = http.request(method, f"{sandbox_url}/sandbox/api{path}", json=json or None, timeout=30)
        answer.raise_for_status()
        return answer.json()


def arm_faults(sandbox_url: str) -> None:
    for mode, rate in API_FAULTS:
        control(sandbox_url, "POST", "/faults", target="api", mode=mode, rate=rate,
                **({"seconds": READ_TIMEOUT + 1} if mode == "hang" else {}))
    for spec in NOTIFY_FAULTS:
        control(sandbox_url, "POST", "/faults", target="notify", **spec)


def products_on_sale(database_url: str) -> list[Product]:
    from models import Product as ProductRow

    engine = invariants.engine_for(database_url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(ProductRow.id, ProductRow.slug, ProductRow.stock)
                                   .where(ProductRow.on_sale).order_by(ProductRow.id)).all()
    finally:
        engine.dispose()
    return [Product(*row) for row in rows]


def unsettled(database_url: str, sandbox_url: str) -> str:
    """What the shop or the sandbox has still to do: orders waiting for payment, refunds processing,
    notifications waiting to be sent; "" once there is none."""
    from core.vocabulary import OrderStatus, RefundStatus
    from models import Order, Refund

    engine = invariants.engine_for(database_url)
    try:
        with Session(engine) as session:
            pending = session.scalars(select(Order.out_trade_no).where(Order.status == OrderStatus.PENDING)).all()
            processing = session.scalars(select(Refund.out_refund_no)
                                         .where(Refund.status == RefundStatus.PROCESSING)).all()
    finally:
        engine.dispose()
    waiting = control(sandbox_url, "GET", "/deliveries?status=pending")["deliveries"]
    return "; ".join(f"{what}: {', '.join(items[:5])}" for what, items in (
        ("orders pending", pending), ("refunds processing", processing),
        ("notifications waiting", [delivery["id"] for delivery in waiting])) if items)


@contextmanager
def throwaway_database(server_url: str):
    """A fresh PostgreSQL database on the server ``server_url`` points at, dropped afterwards: its URL."""
    url = make_url(server_url)
    if url.drivername in ("postgres", "postgresql"):  # psycopg 3, the driver the shop installs
        url = url.set(drivername="postgresql+psycopg")
    name = f"loadtest_{secrets.token_hex(4)}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def start_threads(target, count: int, name: str) -> list[threading.Thread]:
    threads = [threading.Thread(target=target, name=f"{name}-{n}", daemon=True) for n in range(count)]
    for thread in threads:
        thread.start()
    return threads


def run(seconds: float = 60, workdir: Path | None = None, log=print, postgres: str | None = None) -> Result:
    """One load test; the checks it made. Raises if the topology could not be started or did not settle.

    The shop's database is SQLite in ``workdir``, or with ``postgres`` (a server's URL) a throw-away database
    on that server."""
    plan = Plan.for_seconds(seconds)
    began = time.monotonic()

    def say(text: str) -> None:
        log(f"[{time.monotonic() - began:5.1f} s] {text}")

    with ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadtest-")))
        port = servers.free_port()
        database = {"DATABASE_URL": stack.enter_context(throwaway_database(postgres))} if postgres else {}
        shop = bench_shop.prepare(
            workdir, ORDER_PAY_TIMEOUT=str(plan.pay_minutes), JOBS_INTERVAL_SECONDS="1", JOBS_RETRY_SECONDS="3",
            RECONCILE_BACKOFF_MINUTES="0.05,0.1,0.2", SHIP_DELAY_MINUTES="0.1",
            WECHATPAY_CONNECT_TIMEOUT="2", WECHATPAY_READ_TIMEOUT=str(READ_TIMEOUT),
            WECHATPAY_NOTIFY_URL=f"http://127.0.0.1:{port}/pay/notify", **database)
        servers.flask_command({**shop.env, "SHOP_OWNER_PASSWORD": OWNER[1]}, "create-owner", "--username", OWNER[0])
        context, sandbox_url = servers.sandbox(workdir, log=workdir / "sandbox.log")
        stack.enter_context(context)
        shop.env["WECHATPAY_URL"] = sandbox_url
        context, shop_url = servers.gunicorn("wsgi:app", shop.env, log=workdir / "gunicorn.log",
                                             workers=plan.web_workers, port=port)
        master = stack.enter_context(context)
        stack.enter_context(servers.jobs(shop.env, log=workdir / "jobs.log"))
        say(f"shop {shop_url} ({plan.web_workers} workers), sandbox {sandbox_url}, jobs process; files in {workdir}")

        traffic = Traffic(shop_url, sandbox_url)
        stop, traffic_done = threading.Event(), threading.Event()
        stack.callback(stop.set)  # however the block ends, the visitors stop
        stack.callback(traffic_done.set)
        owner = Owner(traffic, *OWNER, traffic_done, plan.refund_share)  # refunds until the customers are done
        owner.login()
        products = products_on_sale(shop.env["DATABASE_URL"])
        for product in products[1:]:  # the first keeps its few units: customers meet it sold out
            owner.restock(product.id, 500)
        initial, log_start = invariants.stock_now(shop.env["DATABASE_URL"])
        products = products_on_sale(shop.env["DATABASE_URL"])
        arm_faults(sandbox_url)

        say(f"traffic for {plan.seconds:.0f} s: {plan.customers} customers at a time, {plan.pollers} pay pages "
            "polling, the owner refunding; one web worker killed halfway")
        traffic.started = time.monotonic()
        revisits = Revisits(traffic)
        customers = Customers(traffic, products, plan.pay_minutes * 60, stop, revisits)
        shoppers = start_threads(customers.run, plan.customers, "customer")
        pollers = start_threads(Pollers(traffic, stop).run, plan.pollers, "poller")
        others = [threading.Thread(target=owner.run, name="owner", daemon=True),
                  threading.Thread(target=revisits.run, args=(traffic_done,), name="revisits", daemon=True),
                  threading.Thread(target=kill_mid_run, name="kill", daemon=True,
                                   args=(traffic, master.pid, traffic.started + plan.seconds / 2, stop,
                                         servers.kill_a_worker))]
        for thread in others:
            thread.start()
        stop.wait(plan.seconds)
        stop.set()

        # Customers finish what they started (a payment waits for its answer), then the late visitors come back.
        finish_by = time.monotonic() + plan.pay_minutes * 60 + 30
        for thread in shoppers + pollers + others[2:]:
            thread.join(max(0.1, finish_by - time.monotonic()))
        traffic_done.set()  # the owner refunds what was paid last, the late visitors come back
        for thread in others[:2]:
            thread.join(max(0.1, finish_by + 30 - time.monotonic()))
        still = [thread.name for thread in shoppers + pollers + others if thread.is_alive()]
        if still:
            raise RuntimeError(f"visitors still busy after the run: {', '.join(still[:5])}")

        fired = [(f"{fault['target']} {fault['mode']}", fault["fired"])
                 for fault in control(sandbox_url, "GET", "/faults")["faults"]]
        control(sandbox_url, "DELETE", "/faults")
        say(f"traffic stopped at +{time.monotonic() - traffic.started:.0f} s; faults cleared, waiting for the "
            "shop to settle")
        left = [""]

        def settled() -> bool:
            left[0] = unsettled(shop.env["DATABASE_URL"], sandbox_url)
            return not left[0]

        try:
            servers.wait_until(settled, "the shop settling", master, timeout=plan.settle_seconds, interval=0.5)
        except RuntimeError as error:
            raise RuntimeError(f"{error}; left: {left[0]}") from None
        say("settled; checking")
        state = invariants.read_shop(shop.env["DATABASE_URL"], log_start)
        sandbox_books = invariants.read_sandbox(sandbox_url)
        checks = [
            invariants.no_server_errors(traffic),
            invariants.dropped_only_at_the_kill(traffic),
            invariants.client_did_its_part(traffic, plan.minimums),
            invariants.paid_sets(state, sandbox_books),
            invariants.transitions_once(state),
            invariants.stock_conserved(state, initial),
            invariants.refunds_equal(state, sandbox_books),
            invariants.order_totals_kept(state),
            invariants.refunded_marked(state),
            invariants.messages_true(traffic, state, sandbox_books),
        ]
        say("stopping every process")
    return Result(checks, traffic, time.monotonic() - began, fired)


def print_result(result: Result, out=print) -> None:
    traffic = result.traffic
    report.heading(f"make loadtest: {report.machine()}")
    answers = sum(traffic.statuses.values())
    statuses = ", ".join(f"{status}: {n:,}" for status, n in sorted(traffic.statuses.items()))
    out(f"  {answers:,} answers from the shop ({statuses}); run and checks took {result.seconds:.0f} s")
    out("  the sandbox's faults fired: " + ", ".join(f"{fault} {n:,}×" for fault, n in result.faults))
    for label in sorted(traffic.latencies):
        samples = traffic.latencies[label]
        report.line(label, f"{len(samples):>6,} requests", f"p50 {report.percentile(samples, 0.5) * 1000:6.1f} ms",
                    f"p99 {report.percentile(samples, 0.99) * 1000:7.1f} ms")
    report.heading("checks")
    for check in result.checks:
        out(f"  {'ok  ' if check.ok else 'FAIL'} {check.name}: {check.figures}")
        for problem in check.problems[:20]:
            out(f"         {problem}")
        if len(check.problems) > 20:
            out(f"         ... and {len(check.problems) - 20} more")
    out(f"\n{'all checks hold' if result.ok else 'MISMATCH: see FAIL above'}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.loadtest", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="seconds of traffic (default 60)")
    parser.add_argument("--keep", type=Path, help="a folder to keep the databases and logs in")
    parser.add_argument("--postgres", metavar="URL",
                        help="run the shop on a throw-away database on this PostgreSQL server (default: SQLite)")
    args = parser.parse_args(argv)
    random.seed()
    try:
        result = run(args.seconds, args.keep, postgres=args.postgres)
    except KeyboardInterrupt:
        print("interrupted; every process stopped", file=sys.stderr)
        return 130
    print_result(result)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
