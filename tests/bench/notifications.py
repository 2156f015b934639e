"""Payment notifications per second: WeChat Pay's signed, encrypted TRANSACTION.SUCCESS posts, each verified,
decrypted, checked and applied by the shop under gunicorn on SQLite (issue 16: >= 200/s, p99 < 100 ms).

Every notification is for its own pending order, so each one is a real state transition (the order paid,
its events written). wrk (tests/bench/notify.lua) posts them, each once, over 16 connections for SECONDS, as
WeChat Pay's servers would: a load generator in C, so what is measured is the shop and not a Python client's
own wait for its GIL (16 threads of `requests` added about 25 ms to the median). Afterwards every order
answered must be paid, and none paid twice.
"""
import threading
from pathlib import Path

import requests
from sqlalchemy import func, select

from services.payment import order_attach
from tests.bench import report, servers, shop, wrk
from tests.wechat import signed_notification, transaction_resource

WARM_UP = 50  # posted first, unmeasured: every worker loads its code and keys
SECONDS = 5
POOL = 4000  # notifications ready for wrk: enough for 800 per second; a pool that runs out is reported
SCRIPT = Path(__file__).with_name("notify.lua")


def post_all(url: str, notifications: list, concurrency: int = wrk.CONNECTIONS) -> None:
    """POST every notification from ``concurrency`` threads; all must answer 2xx."""
    failures, lock = [], threading.Lock()
    queue = iter(notifications)

    def client():
        with requests.Session() as session:
            while True:
                with lock:
                    item = next(queue, None)
                if item is None:
                    return
                headers, body = item
                response = session.post(url, data=body, headers=headers, timeout=30)
                if response.status_code >= 300:
                    with lock:
                        failures.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} notifications refused: {sorted(set(failures))}")


def lua_string(text: str) -> str:
    """A Lua long-bracket string literal holding ``text`` as it is."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def write_pool(path: Path, notifications: list) -> None:
    """The notifications as a Lua table for notify.lua: {headers = {...}, body = ...} each."""
    entries = []
    for headers, body in notifications:
        fields = ", ".join(f"[ {lua_string(name)} ] = {lua_string(value)}" for name, value in headers.items())
        entries.append(f"{{headers = {{{fields}}}, body = {lua_string(body.decode())}}},")
    path.write_text("return {\n" + "\n".join(entries) + "\n}\n", encoding="utf-8")


def paid_counts(app) -> tuple[int, int]:
    """(orders paid, orders paid more than once by the state machine)."""
    from core.vocabulary import Outcome
    from extensions import db
    from models import Order, PaymentEvent

    with app.app_context():
        paid = db.session.scalar(select(func.count()).select_from(Order).where(Order.paid_at.is_not(None)))
        twice = db.session.scalar(select(func.count()).select_from(
            select(PaymentEvent.order_id).where(PaymentEvent.outcome == Outcome.PAID)
            .group_by(PaymentEvent.order_id).having(func.count() > 1).subquery()))
    return paid, twice


def run(workdir: Path) -> None:
    report.heading(f"Payment notifications (signed and encrypted, wrk {wrk.CONNECTIONS} connections, {SECONDS} s, "
                   "SQLite, gunicorn)")
    if not wrk.available():
        report.line("skipped", "wrk is not installed (Debian: apt-get install wrk)")
        return
    folder = workdir / "notifications"
    bench = shop.prepare(folder)
    app = bench.app()
    orders = shop.pending_orders(app, WARM_UP + POOL)
    secret = bench.env["SECRET_KEY"]
    # Signed now, so all are inside the five-minute replay window when sent.
    notifications = [signed_notification(bench.keys, transaction_resource(
        order, bench.keys, attach=order_attach(order.token, secret))) for order in orders]
    pool = folder / "pool.lua"
    write_pool(pool, notifications[WARM_UP:])
    server, url = servers.gunicorn("wsgi:app", bench.env, log=folder / "gunicorn.log")
    with server as process:
        post_all(url + "/pay/notify", notifications[:WARM_UP])
        cpu_before = servers.process_tree_cpu_seconds(process.pid)
        figures = wrk.run(url + "/pay/notify", SECONDS, script=SCRIPT, script_args=(pool, wrk.THREADS))
        cpu = (servers.process_tree_cpu_seconds(process.pid) - cpu_before) * 1000 / max(1, figures.requests)
        memory = servers.process_tree_rss(process.pid)
    if "POOL EXHAUSTED" in figures.output:
        raise RuntimeError(f"the shop answered more than {POOL} notifications in {SECONDS} s: raise POOL")
    paid, twice = paid_counts(app)
    answered = WARM_UP + figures.requests
    # Up to one notification per connection was still being applied when wrk stopped counting.
    all_applied = answered <= paid <= answered + wrk.CONNECTIONS and not twice and not figures.errors
    verdict = "ok" if figures.requests_per_second >= 200 and figures.p99_ms < 100 and all_applied else "BELOW TARGET"
    report.line(f"{figures.requests} notifications", f"{figures.requests_per_second:6.0f} /s  p50 "
                f"{figures.p50_ms:6.1f} ms  p99 {figures.p99_ms:6.1f} ms", f"CPU/notification {cpu:.2f} ms",
                f"orders paid {paid} of {answered} answered, {twice} twice, {figures.errors} errors",
                f"(target >= 200/s, p99 < 100 ms) {verdict}")
    report.memory(memory)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder))
