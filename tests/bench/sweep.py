"""The scheduler's reconcile sweep at scale: 10,000 pending orders of which 1,000 are due for an active query,
against the WeChat Pay sandbox in its own process on 127.0.0.1. Prints the sweep's time, the queries that
reached WeChat Pay (counted by wrapping the gateway, as tests/helpers.GatewaySpy does) and its SQL statements.

    python -m tests.bench.sweep [workdir]
"""
import logging
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert
from wechatpay_sandbox.keys import ensure_keys

from tests.bench import servers, shop

PENDING, DUE = 10_000, 1_000


def text_line(label: str, *figures: str) -> str:
    """One line in tests/bench/report.py's format."""
    return f"  {label:<34} " + "  ".join(figures)


def pending_orders(app, now, pending: int, due: int) -> None:
    """``pending`` orders waiting for payment, each with one open Native attempt; the first ``due`` of them
    are due for an active query at ``now``, the others checked a moment ago and due again in 5 minutes."""
    from extensions import db
    from models import Order, OrderItem, PaymentAttempt, Product

    with app.app_context():
        product = db.session.scalar(db.select(Product).where(Product.on_sale).order_by(Product.id))
        orders, items, attempts = [], [], []
        for n in range(pending):
            number = f"{now:%Y%m%d%H%M%S}S{n:06d}"
            created_at = now - timedelta(minutes=7, seconds=n % 60)
            orders.append({
                "id": n + 1, "token": f"sweep{n:08d}", "out_trade_no": number, "status": "pending",
                "total_fen": product.price_fen, "shipping_fen": 0, "refunded_fen": 0, "contact_name": "压测",
                "mobile": "13800138000", "province": "北京市", "city": "北京市", "district": "海淀区",
                "address_detail": "中关村大街 27 号", "address": "北京市海淀区 中关村大街 27 号", "note": "",
                "created_at": created_at, "expires_at": created_at + timedelta(minutes=30), "query_count": 1,
                "last_queried_at": now - timedelta(minutes=2),
                "next_query_at": now - timedelta(seconds=1 + n % 30) if n < due else now + timedelta(minutes=5),
            })
            items.append({"order_id": n + 1, "product_id": product.id, "product_name": product.name,
                          "unit_price_fen": product.price_fen, "quantity": 1})
            attempts.append({"order_id": n + 1, "out_trade_no": number, "channel": "native", "status": "open",
                             "prompt": f"weixin://wxpay/bizpayurl?pr=sweep{n}", "created_at": created_at,
                             "prompt_expires_at": created_at + timedelta(hours=2)})
        db.session.execute(insert(Order), orders)
        db.session.execute(insert(OrderItem), items)
        db.session.execute(insert(PaymentAttempt), attempts)
        db.session.commit()


def sweep(app, now) -> tuple[float, int, int, int]:
    """Run the reconcile job at ``now`` until nothing is due: (seconds, queries, SQL statements, checked)."""
    from extensions import db
    from jobs.reconcile import reconcile_orders
    from payments import get_gateway
    from tests.helpers import GatewaySpy

    statements = []
    with app.app_context():
        spy = GatewaySpy(get_gateway())
        engine = db.engine
    app.extensions["payment_gateway"] = spy
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(1))
    checked = 0
    started = time.perf_counter()
    with app.app_context():
        while summary := reconcile_orders(now):
            checked += summary.checked
            if not summary.checked:
                break
    seconds = time.perf_counter() - started
    return seconds, sum(spy.queries.values()), len(statements), checked


# WeChat Pay from a shop's server answers a query in tens to hundreds of milliseconds; the sandbox on
# loopback in about one. The second sweep has the sandbox hold every answer this long.
LATENCY_SECONDS = 0.1


def run(workdir: Path) -> list[str]:
    """Prepare the shop and the orders in ``workdir``, sweep once as the sandbox answers at once and once as it
    answers in LATENCY_SECONDS; the lines of the report."""
    from app import create_app
    from core.clock import utcnow
    from tests.bench.loadtest import control

    logging.disable(logging.WARNING)  # the bench orders were never placed on WeChat Pay: each query is a 404
    keys = str(ensure_keys(workdir / "sweep" / "keys").directory)  # the sandbox's, shared by both shops
    lines = ["Scheduler sweep (reconcile job, sandbox on 127.0.0.1)"]
    context, url = servers.sandbox(workdir / "sweep", log=workdir / "sweep" / "sandbox.log")
    with context:
        for latency in (0, LATENCY_SECONDS):
            bench = shop.prepare(workdir / f"sweep-{latency}")
            if latency:
                control(url, "POST", "/faults", target="api", mode="hang", seconds=latency, rate=1.0)
            app = create_app({
                "ENV": "testing", "SECRET_KEY": bench.env["SECRET_KEY"], "SQLALCHEMY_DATABASE_URI":
                bench.env["DATABASE_URL"], "SANDBOX_KEY_DIR": keys, "WECHATPAY_URL": url, "JOBS_BATCH_SIZE": PENDING,
            })
            now = utcnow()
            pending_orders(app, now, PENDING, DUE)
            seconds, queries, statements, checked = sweep(app, now)
            verdict = "ok" if seconds < 10 and queries == DUE else "OFF TARGET"
            label = f"{PENDING:,} pending, {DUE:,} due" + (f", {latency * 1000:.0f} ms answers" if latency else "")
            lines.append(text_line(
                label, f"{seconds:.2f} s (target < 10 s)", f"{queries} queries to WeChat Pay (target exactly {DUE})",
                f"{checked} checked", f"{statements} SQL statements ({statements / max(1, checked):.1f} per order)",
                f"{app.config['RECONCILE_CONCURRENCY']} at once", verdict))
    return lines


def main() -> None:
    if len(sys.argv) > 1:
        lines = run(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as folder:
            lines = run(Path(folder))
    for text in lines:
        print(text, flush=True)


if __name__ == "__main__":
    main()
