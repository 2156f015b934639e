"""Payment notifications per second: WeChat Pay's signed, encrypted TRANSACTION.SUCCESS posts, each verified,
decrypted, checked and applied by the shop under gunicorn on SQLite (issue 16: >= 200/s, p99 < 100 ms).

Every notification is for its own pending order, so each one is a real state transition (the order paid,
its events written), sent by CONCURRENCY clients at once as WeChat Pay's servers would. Afterwards every
order must be paid, once.
"""
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import func, select

from services.payment import order_attach
from tests.bench import report, servers, shop
from tests.wechat import signed_notification, transaction_resource

COUNT = 1500
CONCURRENCY = 16


def post_all(url: str, notifications: list) -> list[float]:
    """POST every notification from CONCURRENCY threads; the latency of each in ms (all must answer 2xx)."""
    latencies, failures, lock = [], [], threading.Lock()
    queue = iter(notifications)

    def client():
        with requests.Session() as session:
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                headers, body = item
                start = time.perf_counter()
                response = session.post(url, data=body, headers=headers, timeout=30)
                took = (time.perf_counter() - start) * 1000
                with lock:
                    latencies.append(took)
                    if response.status_code >= 300:
                        failures.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} notifications refused: {sorted(set(failures))}")
    return latencies


def run(workdir: Path) -> None:
    from extensions import db
    from models import Order

    report.heading(f"Payment notifications (signed and encrypted, {CONCURRENCY} at once, SQLite, gunicorn)")
    bench = shop.prepare(workdir / "notifications")
    app = bench.app()
    orders = shop.pending_orders(app, COUNT)
    secret = bench.env["SECRET_KEY"]
    # Signed now, so all are inside the five-minute replay window when sent.
    notifications = [signed_notification(bench.keys, transaction_resource(
        order, bench.keys, attach=order_attach(order.token, secret))) for order in orders]
    server, url = servers.gunicorn("wsgi:app", bench.env, log=workdir / "notifications" / "gunicorn.log")
    with server as process:
        post_all(url + "/pay/notify", notifications[:50])  # warm up: every worker loads its code and keys
        started = time.perf_counter()
        latencies = post_all(url + "/pay/notify", notifications[50:])
        seconds = time.perf_counter() - started
        memory = servers.process_tree_rss(process.pid)
    with app.app_context():
        paid = db.session.scalar(select(func.count()).select_from(Order).where(Order.paid_at.is_not(None)))
    rate = len(latencies) / seconds
    p99 = report.percentile(latencies, 0.99)
    verdict = "ok" if rate >= 200 and p99 < 100 and paid == COUNT else "BELOW TARGET"
    report.line(f"{len(latencies)} notifications", f"{rate:6.0f} /s  p50 {report.percentile(latencies, 0.5):6.1f} ms"
                f"  p99 {p99:6.1f} ms", f"orders paid {paid}/{COUNT}", f"(target >= 200/s, p99 < 100 ms) {verdict}")
    report.memory(memory)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder))
