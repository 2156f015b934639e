"""Shared fixtures: a fresh database per test, factories, and a guard against the internet."""
import ipaddress
import os
import re
import socket

import pytest

from app import create_app
from extensions import db
from models import Category, Product

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
def app_config(database_url):
    """Overrides for create_app(); tests and other fixtures add to it before `app` is built."""
    return {"ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test-secret"}


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


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


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


@pytest.fixture
def make_order(app, make_product):
    """Factory: a pending order for one product, stock already reserved -> SimpleNamespace of its fields."""
    from datetime import timedelta
    from types import SimpleNamespace

    from models import Order, OrderItem, new_out_trade_no, utcnow

    def make(price_fen=1234, quantity=1, stock=10, created_at=None, pay_minutes=30):
        product_id = make_product(name="订单商品", price_fen=price_fen, stock=stock - quantity)
        created_at = created_at or utcnow()
        with app.app_context():
            order = Order(
                out_trade_no=new_out_trade_no(created_at), total_fen=price_fen * quantity,
                contact_name="张三", mobile="13800138000", address="上海市浦东新区世纪大道 1 号",
                created_at=created_at, expires_at=created_at + timedelta(minutes=pay_minutes),
                items=[OrderItem(product_id=product_id, product_name="订单商品", unit_price_fen=price_fen,
                                 quantity=quantity)],
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
def paying_config(app_config, wechat):
    """Shop settings that talk to the sandbox with its keys (modules opt in by overriding app_config)."""
    return {
        **app_config, "SANDBOX_KEY_DIR": str(wechat.keys.directory), "WECHATPAY_URL": wechat.url,
        "SANDBOX_PUBLIC_URL": wechat.url, "WECHATPAY_TIMEOUT": (2, 3),
    }


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


def wait_for(condition, timeout=10.0, interval=0.05):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def buy(client, product_id, quantity=1, **contact):
    """Add a product to the cart and check out through the real forms; return the order's token."""
    with client.application.app_context():
        slug = db.session.get(Product, product_id).slug
    page = client.get(f"/p/{slug}").get_data(as_text=True)
    client.post("/cart/add", data={"product_id": product_id, "quantity": quantity, "csrf_token": csrf_token_from(page)})
    page = client.get("/checkout").get_data(as_text=True)
    form = {"contact_name": "李四", "mobile": "13912345678", "address": "北京市海淀区中关村大街 27 号", "note": "",
            **contact, "csrf_token": csrf_token_from(page)}
    response = client.post("/checkout", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return response.headers["Location"].rstrip("/").split("/")[-1]


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


@pytest.fixture
def owner(app):
    """The shop owner's account (tests/admin_helpers.OWNER / PASSWORD) -> its id."""
    from models import Owner
    from tests.admin_helpers import OWNER, PASSWORD

    with app.app_context():
        account = Owner(username=OWNER)
        account.set_password(PASSWORD)
        db.session.add(account)
        db.session.commit()
        return account.id


@pytest.fixture
def owner_client(client, owner):
    """A test client logged in as the owner."""
    from tests.admin_helpers import login

    response = login(client)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client
