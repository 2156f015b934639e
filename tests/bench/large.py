"""Large data: the catalog pages and the owner's order list at demo size and at 10,000 products and 100,000
orders, in process (Flask test client: median time and SQL statements per request), and the CSV export of
100,000 orders downloaded from a gunicorn worker while its peak memory is read.

    python -m tests.bench.large [workdir]
"""
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import event

from tests.bench import data, servers, shop

REQUESTS = 15
OWNER, PASSWORD = "bench-owner", "a long bench password 16"
ORDER_FILTERS = {
    "orders": "",
    "orders page 3": "?page=3",
    "orders paid": "?status=paid",
    "orders paid p2": "?status=paid&page=2",
    "orders refunded": "?status=refunded",
    "orders one week": "?date_from={week_ago}&date_to={today}",
    "orders search name": "?q=王",
    "orders search number": "?q={number}",
}
RSS_LIMIT_MIB = 100


def text_line(label: str, *figures: str) -> str:
    """One line in tests/bench/report.py's format."""
    return f"  {label:<34} " + "  ".join(figures)


def build(workdir: Path, name: str, **size) -> shop.BenchShop:
    """A migrated shop with the demo catalog plus ``data.generate(**size)``."""
    bench = shop.prepare(workdir / name)
    data.generate(bench.env["DATABASE_URL"], **size)
    from services.owners import create_owner

    app = bench.app()
    with app.app_context():
        create_owner(OWNER, PASSWORD)
    return bench


def paths(bench: shop.BenchShop) -> dict[str, str]:
    """The measured pages: the catalog's and the order list's with its filters."""
    from core.clock import format_local_time, utcnow
    from extensions import db
    from models import Category, Order, Product

    app = bench.app()
    with app.app_context():
        # The fullest category, a product of it, a word of its name to search.
        category = db.session.scalar(db.select(Category).join(Product).group_by(Category.id)
                                     .order_by(db.func.count(Product.id).desc(), Category.id))
        product = db.session.scalar(db.select(Product).where(Product.category_id == category.id, Product.on_sale)
                                    .order_by(Product.id))
        number = db.session.scalar(db.select(Order.out_trade_no).order_by(Order.id.desc()).limit(1))
    now = utcnow()
    found = {"home": "/", "category": f"/c/{category.slug}",
             "product": f"/p/{product.slug}", "search": f"/search?q={category.name[:2]}"}
    values = {"today": format_local_time(now, "%Y-%m-%d"), "number": number,
              "week_ago": format_local_time(now - timedelta(days=6), "%Y-%m-%d")}
    for label, query in ORDER_FILTERS.items():
        found[label] = "/admin/orders" + query.format(**values)
    return found


def client_of(bench: shop.BenchShop, statements: list, **config):
    """A test client of the shop at ``bench``, logged in as the owner; its SQL statements go to ``statements``."""
    from app import create_app
    from extensions import db
    from tests.helpers import login

    app = create_app({"ENV": "testing", "SECRET_KEY": bench.env["SECRET_KEY"],
                      "SQLALCHEMY_DATABASE_URI": bench.env["DATABASE_URL"], **config})
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(1))
    client = app.test_client()
    assert login(client, OWNER, PASSWORD).status_code == 302
    return client


def measure(small: shop.BenchShop, big: shop.BenchShop, **config) -> dict[str, tuple]:
    """{label: (demo median ms, demo statements, large median ms, large statements, rows shown at each)} per
    request, over REQUESTS requests each after one to warm up, the two shops taking turns (both see the same
    machine). Rows are the order list's: a page showing more orders costs more to render at any size."""
    shops = [(small, paths(small), []), (big, paths(big), [])]
    clients = [client_of(bench, statements, **config) for bench, _, statements in shops]
    figures = {}
    for label in shops[0][1]:
        times = [[], []]
        counts = [0, 0]
        rows = [0, 0]
        for client, (_, pages, _) in zip(clients, shops):
            assert client.get(pages[label]).status_code == 200, pages[label]
        for _ in range(REQUESTS):
            for n, (client, (_, pages, statements)) in enumerate(zip(clients, shops)):
                statements.clear()
                started = time.perf_counter()
                response = client.get(pages[label])
                times[n].append(time.perf_counter() - started)
                counts[n] = len(statements)
                rows[n] = response.get_data().count(b'<tr class="order-row')
                assert response.status_code == 200, pages[label]
        figures[label] = (statistics.median(times[0]) * 1000, counts[0], statistics.median(times[1]) * 1000,
                          counts[1], tuple(rows))
    return figures


def export_memory(bench: shop.BenchShop) -> tuple[float, float, float, int, float]:
    """Download the whole CSV export from a one-worker gunicorn: the worker's RSS in MiB before and at most
    during the download, its high-water mark since it started, the bytes and the seconds."""
    server, url = servers.gunicorn("wsgi:app", bench.env, workers=1,
                                   log=bench.workdir / "gunicorn.log")
    with server as process, requests.Session() as http:
        from tests.helpers import csrf_token_from

        http.trust_env = False
        jar = {}

        def call(method, path, **kwargs):
            """As the shop's proxy would pass it on: https (its cookies are Secure), kept by hand."""
            headers = {"X-Forwarded-Proto": "https", "Referer": f"{url}/admin/login".replace("http:", "https:"),
                       "Cookie": "; ".join(f"{name}={value}" for name, value in jar.items())}
            response = http.request(method, url + path, headers=headers, allow_redirects=False, **kwargs)
            jar.update({cookie.name: cookie.value for cookie in response.cookies})
            return response

        page = call("GET", "/admin/login", timeout=30)
        login = call("POST", "/admin/login", timeout=30, data={
            "username": OWNER, "password": PASSWORD, "csrf_token": csrf_token_from(page.text)})
        assert login.status_code == 302 and "/admin/login" not in login.headers["Location"], login.status_code
        worker = max(servers.tree_pids(process.pid)[1:] or [process.pid])
        # Current RSS sampled while the download runs: the worker's high-water mark already holds the
        # owner's login (scrypt takes 32 MiB for a moment), which is not the export's.
        before = servers.process_tree_rss(process.pid)[worker][0]
        peak = [before]
        done = threading.Event()

        def watch():
            while not done.wait(0.02):
                rss = servers.process_tree_rss(process.pid).get(worker)
                if rss:
                    peak[0] = max(peak[0], rss[0])

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.perf_counter()
        size = 0
        try:
            with call("GET", "/admin/orders/export.csv", stream=True, timeout=300) as response:
                assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
                for chunk in response.iter_content(1 << 16):
                    size += len(chunk)
        finally:
            done.set()
            watcher.join()
        seconds = time.perf_counter() - started
        high_water = servers.process_tree_rss(process.pid)[worker][1]
    return before, peak[0], high_water, size, seconds


def run(workdir: Path) -> list[str]:
    """Build a demo shop and a large one in ``workdir``, measure both; the lines of the report."""
    from tests.bench import report

    lines = [f"Large data ({report.machine()})"]
    started = time.perf_counter()
    demo = build(workdir, "demo", products=0, orders=200)
    large = build(workdir, "large")
    lines.append(text_line("built", f"demo + 200 orders and 10,000 products + 100,000 orders in "
                                    f"{time.perf_counter() - started:.0f} s"))
    for cache, config in (("uncached", {"PAGE_CACHE_SIZE": 0}), ("cached", {})):
        for label, (small_ms, small_sql, big_ms, big_sql, rows) in measure(demo, large, **config).items():
            if cache == "cached" and label.startswith("orders"):
                continue  # the order list is never cached
            ratio = big_ms / small_ms
            lines.append(text_line(
                f"{label} ({cache})" if not label.startswith("orders") else label,
                f"demo {small_ms:6.2f} ms {small_sql:3d} SQL", f"large {big_ms:6.2f} ms {big_sql:3d} SQL",
                f"x{ratio:4.2f} (target <= 2) {'ok' if ratio <= 2 else 'ABOVE TARGET'}",
                *([f"orders shown {rows[0]} / {rows[1]}"] if label.startswith("orders") else [])))
    before, peak, high_water, size, seconds = export_memory(large)
    lines.append(text_line(
        "CSV export of 100,000 orders", f"{size / 2**20:.1f} MiB in {seconds:.1f} s",
        f"worker RSS {before:.0f} MiB before, {peak:.0f} MiB at most while streaming (target < {RSS_LIMIT_MIB}) "
        f"{'ok' if peak < RSS_LIMIT_MIB else 'ABOVE TARGET'}", f"high-water mark {high_water:.0f} MiB (login)"))
    return lines


def main() -> None:
    if len(sys.argv) > 1:
        for text in run(Path(sys.argv[1])):
            print(text, flush=True)
        return
    with tempfile.TemporaryDirectory() as folder:
        for text in run(Path(folder)):
            print(text, flush=True)


if __name__ == "__main__":
    main()
