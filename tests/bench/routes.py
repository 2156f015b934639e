"""The shop's busiest pages beside a bare Flask app under the same gunicorn settings, interleaved: each route
is measured right after the bare app, so both see the same machine."""
from pathlib import Path

import requests

from tests.bench import report, servers, shop, wrk

SECONDS = 5
# The targets of issue 16: the share of the bare app's req/s each route must reach.
TARGETS = {"home": 0.50, "category": 0.50, "product": 0.50, "pay page": 0.50, "status poll": 0.75}


def returning_visitor(url: str) -> dict:
    """The Cookie header of a visitor who has seen a product page: a session with its CSRF secret, as most
    requests carry (a visitor without one is sent a new session cookie once, on the first page)."""
    session = requests.get(url, timeout=10).cookies.get("session")
    return {"Cookie": f"session={session}"} if session else {}


def measured(pid: int, url: str, headers: dict) -> tuple[wrk.Figures, float]:
    """wrk's figures, and the server's CPU milliseconds per request (independent of other load)."""
    before = servers.process_tree_cpu_seconds(pid)
    figures = wrk.run(url, SECONDS, headers)
    return figures, (servers.process_tree_cpu_seconds(pid) - before) * 1000 / max(1, figures.requests)


def run(workdir: Path) -> None:
    report.heading(f"Pages beside bare Flask (gunicorn.conf.py, wrk {wrk.THREADS} threads, "
                   f"{wrk.CONNECTIONS} connections, {SECONDS} s each)")
    if not wrk.available():
        report.line("skipped", "wrk is not installed (Debian: apt-get install wrk)")
        return
    bench = shop.prepare(workdir / "routes")
    app = bench.app()
    order = shop.pending_orders(app, 1)[0]
    paths = {"home": "/", **shop.catalog_paths(app), "pay page": f"/pay/{order.token}",
             "status poll": f"/pay/{order.token}/status"}
    hello_server, hello_url = servers.gunicorn("tests.bench.hello:app", bench.env)
    shop_server, shop_url = servers.gunicorn("wsgi:app", bench.env, log=workdir / "routes" / "gunicorn.log")
    with hello_server as hello, shop_server as process:
        cookie = returning_visitor(shop_url + paths["product"])
        for name, path in paths.items():
            wrk.run(hello_url + path, 1)  # warm both up: first requests load code and fill caches
            wrk.run(shop_url + path, 1)
            bare, bare_cpu = measured(hello.pid, hello_url + path, cookie)
            figures, cpu = measured(process.pid, shop_url + path, cookie)
            share = figures.requests_per_second / bare.requests_per_second
            verdict = "ok" if share >= TARGETS[name] and figures.p99_ms < 50 and not figures.errors else "BELOW TARGET"
            report.line(f"{name} {path[:24]}", figures.text(), f"bare {bare.requests_per_second:6.0f} req/s",
                        f"{share:5.0%} (target {TARGETS[name]:.0%}, p99 < 50 ms) {verdict}",
                        f"CPU/request {cpu:.2f} ms vs bare {bare_cpu:.2f} ms")
        memory = servers.process_tree_rss(process.pid)
    report.memory(memory)
