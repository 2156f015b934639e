"""A PostgreSQL restart under traffic: customers get 503 retry answers while it is down, never a 500,
and every request succeeds again once it is back (pooled connections it killed are replaced)."""
import glob
import os
import shutil
import subprocess
import tempfile
import threading
from types import SimpleNamespace

import pytest
import requests
from sqlalchemy import select

from extensions import db
from models import Product
from tests.conftest import requires
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.postgres


def postgres_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return found[-1] if found and os.path.exists(os.path.join(found[-1], "initdb")) else None


@pytest.fixture
def own_postgres():
    """A throw-away PostgreSQL server on a free 127.0.0.1 port that this test may restart."""
    pg_bin = postgres_bin()
    requires(pg_bin is not None, "needs the PostgreSQL server (apt-get install postgresql)")
    data = tempfile.mkdtemp(prefix="shop-pg-")  # under /tmp, where the postgres user can reach it
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(data, "postgres")
    port = free_port()

    def pg_ctl(*args):
        subprocess.run([*as_postgres, f"{pg_bin}/pg_ctl", "-D", data, "-w", *args], check=True,
                       capture_output=True, timeout=60)

    subprocess.run([*as_postgres, f"{pg_bin}/initdb", "-D", data, "-A", "trust", "-U", "shop", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data} -c fsync=off"
    log = ("-l", f"{data}/server.log")  # the server must not inherit our pipes, or pg_ctl never returns
    pg_ctl(*log, "-o", options, "start")
    try:
        yield SimpleNamespace(url=f"postgresql+psycopg://shop@127.0.0.1:{port}/postgres",
                              restart=lambda: pg_ctl(*log, "-m", "fast", "-o", options, "restart"))
    finally:
        pg_ctl("-m", "immediate", "stop")
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def database_url(own_postgres):
    return own_postgres.url


def test_a_postgres_restart_under_traffic_gives_503s_never_500s(app, live_shop, own_postgres, make_product,
                                                                make_order):
    make_product(stock=5)
    order = make_order()
    with app.app_context():
        slug = db.session.scalar(select(Product.slug).order_by(Product.id))
    paths = ["/", f"/p/{slug}", f"/pay/{order.token}", f"/pay/{order.token}/status", "/cart", "/healthz"]
    answers, stop = [], threading.Event()

    def traffic():
        with requests.Session() as http:
            http.trust_env = False
            while not stop.is_set():
                for path in paths:
                    try:
                        answers.append((path, http.get(live_shop + path, timeout=10).status_code))
                    except requests.RequestException as error:
                        answers.append((path, type(error).__name__))

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(answers) > 40)
    own_postgres.restart()
    restarted = len(answers)
    wait_for(lambda: len(answers) > restarted + 80, timeout=30)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    statuses = {status for _, status in answers}
    assert 500 not in statuses and statuses <= {200, 503}, sorted(set(answers) - {(p, 200) for p in paths})
    # The tail of the run, well after the restart: every path answers normally again.
    assert {status for _, status in answers[-40:]} == {200}
