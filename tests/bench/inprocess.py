"""`make bench`: how fast the hot payment paths are. Prints figures; asserts nothing about time.

- the status poll (`GET /pay/<token>/status`), which every waiting customer calls every 2 s;
- the notification handler (`POST /pay/notify`), which must answer well within WeChat Pay's 5 s;
- peak memory of the process while doing both.
"""
import logging
import resource
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

from wechatpay_sandbox.testing import start_sandbox

from app import create_app
from core.clock import utcnow
from extensions import db
from models import Category, Order, OrderItem, PaymentAttempt, Product, new_out_trade_no
from tests.wechat import signed_notification, transaction_resource

ORDERS = 300
POLLS = 6000
POLL_THREADS = 8
NOTIFICATIONS = 300


def percentiles(samples):
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return (f"p50 {pick(0.50):.2f} ms, p95 {pick(0.95):.2f} ms, p99 {pick(0.99):.2f} ms, "
            f"max {max(ordered) * 1000:.2f} ms")


def make_orders(app):
    now = utcnow()
    with app.app_context():
        db.create_all()
        product = Product(name="压测商品", slug="bench", price_fen=1000, stock=10_000,
                          category=Category(name="压测", slug="bench"))
        db.session.add(product)
        db.session.flush()
        numbers = [new_out_trade_no(now)[:-4] + f"{i:04d}" for i in range(ORDERS)]
        orders = [
            Order(out_trade_no=numbers[i], total_fen=1000, contact_name="压测",
                  mobile="13800138000", address="地址", created_at=now, expires_at=now + timedelta(minutes=30),
                  items=[OrderItem(product_id=product.id, product_name="压测商品", unit_price_fen=1000, quantity=1)],
                  attempts=[PaymentAttempt(out_trade_no=numbers[i], channel="native",
                                           prompt=f"weixin://wxpay/bizpayurl?pr=bench{i}", created_at=now,
                                           prompt_expires_at=now + timedelta(hours=2))])
            for i in range(ORDERS)
        ]
        db.session.add_all(orders)
        db.session.commit()
        return [(o.id, o.token, o.attempts[0].out_trade_no, o.total_fen) for o in orders]


def bench_polls(app, orders):
    latencies, lock = [], threading.Lock()
    per_thread = POLLS // POLL_THREADS

    def worker(offset):
        client = app.test_client()
        mine = []
        for i in range(per_thread):
            token = orders[(offset + i) % len(orders)][1]
            start = time.perf_counter()
            response = client.get(f"/pay/{token}/status")
            mine.append(time.perf_counter() - start)
            assert response.status_code == 200
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n * 37,)) for n in range(POLL_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(f"status poll: {len(latencies)} requests from {POLL_THREADS} threads over {ORDERS} pending orders "
          f"in {elapsed:.2f} s = {len(latencies) / elapsed:.0f} req/s; {percentiles(latencies)}")
    print(f"  (= {len(latencies) / elapsed * 2:.0f} customers polling every 2 s, on one process)")


def bench_notifications(app, orders, keys):
    client = app.test_client()
    latencies = []
    for order_id, token, out_trade_no, total_fen in orders[:NOTIFICATIONS]:
        order = type("O", (), {"out_trade_no": out_trade_no, "token": token, "total_fen": total_fen})
        headers, body = signed_notification(keys, transaction_resource(order, keys))
        start = time.perf_counter()
        response = client.post("/pay/notify", data=body, headers=headers)
        latencies.append(time.perf_counter() - start)
        assert response.status_code == 204, response.get_data(as_text=True)
    print(f"notification: {len(latencies)} verified, decrypted and applied; {percentiles(latencies)}")


def main():
    logging.disable(logging.WARNING)  # the bench orders were never placed, so active queries log 404s
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = start_sandbox(Path(tmp) / "sandbox", SANDBOX_DELIVERY_WORKER=False)
        try:
            app = create_app({
                "ENV": "testing", "SECRET_KEY": "bench", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite3",
                "SANDBOX_KEY_DIR": str(sandbox.keys.directory), "WECHATPAY_URL": sandbox.url,
            })
            orders = make_orders(app)
            bench_polls(app, orders)
            bench_notifications(app, orders, sandbox.keys)
        finally:
            sandbox.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (max RSS): {peak:.0f} MiB")


if __name__ == "__main__":
    main()
