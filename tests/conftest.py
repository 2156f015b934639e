"""Shared fixtures: a fresh database per test, factories, the sandbox, and a guard against the internet.

A module (or test) marked ``pytest.mark.wechatpay`` gets a shop that talks to the session's sandbox.
"""
import ipaddress
import os
import socket
from contextlib import nullcontext
from datetime import timedelta
from types import SimpleNamespace

import pytest
from freezegun import freeze_time

from app import create_app
from core.clock import utcnow
from extensions import db
from models import Category, Order, OrderItem, PaymentAttempt, Product, new_out_trade_no
from payments import get_gateway
from tests.helpers import SECRET_KEY, GatewaySpy, order_row, wait_for

IN_CI = os.environ.get("CI") == "true"


def requires(condition, reason):
    """Skip a test on a laptop without a dependency, but fail it under CI, where it must run."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch):
    """Fail any test that tries to reach a host that is not loopback."""
    real_connect = socket.socket.connect

    def guarded_connect(sock, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                loopback = ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = host == "localhost"
            if not loopback:
                raise RuntimeError(f"test tried to reach the network: {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


@pytest.fixture
def database_url(tmp_path):
    """A file SQLite database per test (threads can share it), or the configured PostgreSQL."""
    from config import database_url as configured_url

    return configured_url(f"sqlite:///{tmp_path / 'shop.sqlite3'}")


@pytest.fixture
def app_config(request, database_url):
    """Overrides for create_app(); a module may override this fixture to add to it before `app` is built."""
    config = {"ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY,
              "MEDIA_DIR": str(request.getfixturevalue("tmp_path") / "media")}
    if request.node.get_closest_marker("wechatpay"):
        wechat = request.getfixturevalue("wechat")
        config.update(SANDBOX_KEY_DIR=str(wechat.keys.directory), WECHATPAY_URL=wechat.url,
                      SANDBOX_PUBLIC_URL=wechat.url, WECHATPAY_TIMEOUT=(2, 3))
    return config


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    from blueprints.pay.active_queries import active_queries

    wait_for(active_queries.idle, timeout=15)  # no query of this test may reach the next one's sandbox faults
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def empty_database(app):
    """The test's database with no tables at all, for migrating it from scratch."""
    from sqlalchemy import text

    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
    yield
    with app.app_context():
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_product(app):
    """Factory: make_product(name="茶杯", price_fen=1999, stock=5, active=True) -> product id."""
    counter = iter(range(1, 10_000))

    def make(name="测试商品", price_fen=1000, stock=10, active=True, category="默认"):
        n = next(counter)
        with app.app_context():
            cat = db.session.scalar(db.select(Category).filter_by(name=category))
            if cat is None:
                cat = Category(name=category, slug=f"cat-{n}-{abs(hash(category)) % 10000}")
                db.session.add(cat)
            product = Product(
                name=name, slug=f"p-{n}", description="", price_fen=price_fen,
                stock=stock, active=active, category=cat,
            )
            db.session.add(product)
            db.session.commit()
            return product.id

    return make


@pytest.fixture
def make_order(app, make_product):
    """Factory: a pending order for one product, stock already reserved -> SimpleNamespace of its fields.

    It has its first payment attempt (a QR code, under the order's own number) as an order the customer has
    started to pay has; ``placed`` places it on the sandbox.
    """
    def make(price_fen=1234, quantity=1, stock=10, created_at=None, pay_minutes=30):
        product_id = make_product(name="订单商品", price_fen=price_fen, stock=stock - quantity)
        created_at = created_at or utcnow()
        number = new_out_trade_no(created_at)
        with app.app_context():
            order = Order(
                out_trade_no=number, total_fen=price_fen * quantity,
                contact_name="张三", mobile="13800138000", address="上海市浦东新区世纪大道 1 号",
                created_at=created_at, expires_at=created_at + timedelta(minutes=pay_minutes),
                items=[OrderItem(product_id=product_id, product_name="订单商品", unit_price_fen=price_fen,
                                 quantity=quantity)],
                attempts=[PaymentAttempt(out_trade_no=number, channel="native", created_at=created_at)],
            )
            db.session.add(order)
            db.session.commit()
            return SimpleNamespace(id=order.id, token=order.token, out_trade_no=order.out_trade_no,
                                   total_fen=order.total_fen, product_id=product_id, quantity=quantity)

    return make


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """The WeChat Pay sandbox on a free loopback port, shared by the session (keys made once)."""
    from wechatpay_sandbox.testing import start_sandbox

    running = start_sandbox(tmp_path_factory.mktemp("sandbox"), SANDBOX_TIME_SCALE=1000, SANDBOX_NOTIFY_TIMEOUT=5)
    yield running
    running.stop()


@pytest.fixture
def wechat(sandbox):
    """The sandbox, with faults cleared and its start settings back, before and after the test."""
    sandbox.reset()
    yield sandbox
    sandbox.reset()


@pytest.fixture
def no_notifications(wechat):
    """The sandbox drops every notification: only queries (polls, jobs, the owner) can learn a payment."""
    wechat.fault(target="notify", mode="drop", count=1000)
    return wechat


@pytest.fixture
def placed(app, make_order):
    """Factory: an order created (at ``at``, if given) and placed on the sandbox by ``channel`` (a QR code)."""
    from core.vocabulary import PaymentChannel
    from services.attempts import open_attempt

    def place(at=None, channel=PaymentChannel.NATIVE, openid=None, **kwargs):
        with freeze_time(at) if at else nullcontext():
            order = make_order(created_at=at, **kwargs)
            with app.app_context():
                attempt = open_attempt(db.session.get(Order, order.id), channel, at or utcnow(), openid=openid,
                                       client_ip="127.0.0.1")
                order.attempt_out_trade_no = attempt.out_trade_no
        return order

    return place


@pytest.fixture
def paid(app, wechat, live_shop, placed):
    """Factory: an order the customer paid on the sandbox phone, confirmed by its notification."""
    def pay(**kwargs):
        order = placed(**kwargs)
        wechat.pay(order.out_trade_no)
        wait_for(lambda: order_row(app, order.id).status == "paid")
        return order

    return pay


@pytest.fixture
def gateway(app):
    """The app's real gateway wrapped in a GatewaySpy (counts calls, runs hooks), installed in the app."""
    with app.app_context():
        spy = GatewaySpy(get_gateway())
    app.extensions["payment_gateway"] = spy
    return spy


@pytest.fixture
def live_shop(app):
    """The shop served over real HTTP on loopback, so the sandbox can deliver notifications to it."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["WECHATPAY_NOTIFY_URL"] = f"{url}/pay/notify"
    yield url
    server.shutdown()
    thread.join(timeout=5)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def browser():
    """Headless Debian Chromium driven by Playwright (skipped on a laptop without it, required in CI)."""
    requires(os.path.exists(CHROMIUM), f"needs Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def owner_password_hash():
    """The owner's password hashed once, with cheap scrypt parameters (the real ones cost 0.16 s a check)."""
    from werkzeug.security import generate_password_hash

    from tests.helpers import PASSWORD

    return generate_password_hash(PASSWORD, method="scrypt:1024:8:1")


@pytest.fixture
def owner(app, owner_password_hash):
    """The shop owner's account (tests/helpers.OWNER / PASSWORD) -> its id."""
    from models import Owner
    from tests.helpers import OWNER

    with app.app_context():
        account = Owner(username=OWNER, password_hash=owner_password_hash)
        db.session.add(account)
        db.session.commit()
        return account.id


@pytest.fixture
def owner_client(client, owner):
    """A test client logged in as the owner."""
    from tests.helpers import login

    response = login(client)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client
