"""The shop's busiest pages beside a bare Flask app under the same gunicorn settings, interleaved: each route
is measured right after the bare app, so both see the same machine, in rounds over all the routes."""
import statistics
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.bench import report, servers, shop, wrk

SECONDS = 5
# The machine's noise moves a single measurement's share by ±15 points; each route is measured in ROUNDS
# interleaved rounds and judged by the median.
ROUNDS = 3
# Every worker renders a page once before it can serve it from its cache; a pay page's first renders (its QR
# code placed and drawn) take tens of milliseconds each, and 16 at once take the first second.
WARM_UP = 2
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
    hello_server, hello_url = servers.gunicorn("tests.bench.hello:app", bench.env, log=workdir / "routes" / "hello.log")
    shop_server, shop_url = servers.gunicorn("wsgi:app", bench.env, log=workdir / "routes" / "gunicorn.log")
    rounds = {name: [] for name in paths}
    with hello_server as hello, shop_server as process:
        cookie = returning_visitor(shop_url + paths["product"])
        for name, path in paths.items():
            wrk.run(hello_url + path, WARM_UP)  # warm both up: first requests load code and fill caches
            wrk.run(shop_url + path, WARM_UP)
        for _ in range(ROUNDS):
            for name, path in paths.items():
                rounds[name].append(Round(*measured(hello.pid, hello_url + path, cookie),
                                          *measured(process.pid, shop_url + path, cookie)))
        memory = servers.process_tree_rss(process.pid)
    for name, measured_rounds in rounds.items():
        report_route(name, paths[name], measured_rounds)
    report.memory(memory)


@dataclass
class Round:
    bare: wrk.Figures
    bare_cpu: float
    shop: wrk.Figures
    cpu: float

    @property
    def share(self) -> float:
        return self.shop.requests_per_second / self.bare.requests_per_second


def report_route(name: str, path: str, measured_rounds: list[Round]) -> None:
    """The round with the median share, and every round's share and p99; the verdict goes by the medians."""
    middle = sorted(measured_rounds, key=lambda r: r.share)[len(measured_rounds) // 2]
    p99 = statistics.median(r.shop.p99_ms for r in measured_rounds)
    errors = sum(r.shop.errors for r in measured_rounds)
    verdict = "ok" if middle.share >= TARGETS[name] and p99 < 50 and not errors else "BELOW TARGET"
    report.line(f"{name} {path[:24]}", middle.shop.text(), f"bare {middle.bare.requests_per_second:6.0f} req/s",
                f"{middle.share:5.0%}, median p99 {p99:.0f} ms (target {TARGETS[name]:.0%}, p99 < 50 ms) {verdict}",
                f"CPU/request {middle.cpu:.2f} ms vs bare {middle.bare_cpu:.2f} ms",
                "rounds (share, p99 shop/bare): " + ", ".join(
                    f"{r.share:.0%} {r.shop.p99_ms:.0f}/{r.bare.p99_ms:.0f} ms" for r in measured_rounds))
