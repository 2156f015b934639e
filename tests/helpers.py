"""Helpers the test modules share (fixtures live in conftest.py)."""
import re
import secrets
import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager, nullcontext
from urllib.parse import quote

import pytest
import requests
from flask import request_started
from freezegun import freeze_time
from sqlalchemy import event, select

from blueprints.lean_path import LeanPath
from extensions import db
from models import Delivery, Order, PaymentAttempt, PaymentEvent, Product

# The owner account the `owner` fixture creates.
OWNER = "owner"
PASSWORD = "correct horse battery"
# The tests' app signs with this (conftest's app_config); testing accepts any key but the development one.
SECRET_KEY = "test-secret"

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
SUBMISSION_RE = re.compile(r'name="submission_token" type="hidden" value="([^"]*)"')


def csrf_token_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1) or match.group(2)


def production_settings(folder, **changes) -> dict:
    """create_app() overrides production accepts: a strong key and throw-away key files written into ``folder``.

    The files are readable but hold no real keys: tests that use these settings never call WeChat Pay.
    """
    for name in ("apiclient_key.pem", "apiv3_key", "pub_key.pem"):
        (folder / name).write_text(f"throw-away {name} for tests")
    return {
        "ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
        "WECHATPAY_NOTIFY_URL": "https://shop.example.cn/pay/notify",
        "WECHATPAY_MCHID": "1900000109", "WECHATPAY_APPID": "wx0000000000000001", "WECHATPAY_CERT_SERIAL_NO": "ABC123",
        "WECHATPAY_PRIVATE_KEY_FILE": str(folder / "apiclient_key.pem"),
        "WECHATPAY_APIV3_KEY_FILE": str(folder / "apiv3_key"),
        "WECHATPAY_PUBLIC_KEY_FILE": str(folder / "pub_key.pem"),
        "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_0119000001092025112700000000000000",
        **changes,
    }


def wait_for(condition, timeout=10.0, interval=0.05):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    pytest.fail(f"condition not met within {timeout} s")


def stays(condition, seconds=0.5, interval=0.05):
    """Assert ``condition`` holds for ``seconds`` (for "nothing more happens" checks)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert condition()
        time.sleep(interval)


def flask_db(database_url, *args):
    """Run `flask db ...` (Alembic) against ``database_url`` in a subprocess, as an operator would."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", *args], cwd=Path(__file__).resolve().parent.parent,
        capture_output=True, text=True, env={**os.environ, "SHOP_ENV": "testing", "DATABASE_URL": database_url},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The checkout's delivery fields as a browser fills them (省/市/区 from the bundled dataset).
DELIVERY_FORM = {"contact_name": "李四", "mobile": "13912345678", "province": "北京市", "city": "北京市",
                 "district": "海淀区", "address_detail": "中关村大街 27 号", "note": ""}
# The same as a Delivery, for the services that take one.
DELIVERY = Delivery(**DELIVERY_FORM)


def fill_delivery(page, name="王五", mobile="13700001111", province="浙江省", city="杭州市", district="西湖区",
                  detail="文三路 100 号"):
    """Fill the checkout form in a browser (with or without JavaScript: the 更新城市和区县 button when needed)."""
    page.get_by_label("收货人").fill(name)
    page.get_by_label("手机号").fill(mobile)
    page.get_by_label("省份").select_option(province)
    if page.get_by_label("城市").locator(f"option[value='{city}']").count() == 0:
        page.get_by_role("button", name="更新城市和区县").click()
    page.get_by_label("城市").select_option(city)
    if page.get_by_label("区县").locator(f"option[value='{district}']").count() == 0:
        page.get_by_role("button", name="更新城市和区县").click()
    page.get_by_label("区县").select_option(district)
    page.get_by_label("详细地址").fill(detail)


def checkout_form(client, **contact) -> dict:
    """The checkout page's form as a browser would submit it (CSRF and submission tokens included)."""
    page = client.get("/checkout").get_data(as_text=True)
    submission = SUBMISSION_RE.search(page)
    return {**DELIVERY_FORM, **contact, "csrf_token": csrf_token_from(page),
            "submission_token": submission.group(1) if submission else ""}


def add_to_cart(client, product_id, quantity=1):
    with client.application.app_context():
        slug = db.session.get(Product, product_id).slug
    page = client.get(f"/p/{slug}").get_data(as_text=True)
    client.post("/cart/add", data={"product_id": product_id, "quantity": quantity, "csrf_token": csrf_token_from(page)})


def buy(client, product_id, quantity=1, visit=True, **contact):
    """Add a product to the cart and check out through the real forms; return the order's token.

    Like a browser, it then follows the redirect to the pay page (which places the payment), unless
    ``visit`` is false.
    """
    add_to_cart(client, product_id, quantity)
    response = client.post("/checkout", data=checkout_form(client, **contact))
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    if visit:
        client.get(response.headers["Location"], follow_redirects=True)
    return response.headers["Location"].rstrip("/").split("/")[-1]


def order_row(app, order_id) -> Order:
    """The order as the database has it now (detached)."""
    with app.app_context():
        return db.session.get(Order, order_id)


def open_attempt_of(app, order_id):
    """The order's latest open payment attempt (detached), or None."""
    with app.app_context():
        return db.session.scalar(select(PaymentAttempt).filter_by(order_id=order_id, status="open")
                                 .order_by(PaymentAttempt.id.desc()).limit(1))


def status_of(app, order) -> str:
    return order_row(app, order.id).status


def events(app, order, kind=None) -> list[tuple]:
    """The order's payment events as (kind, state, outcome), oldest first."""
    with app.app_context():
        query = select(PaymentEvent).filter_by(order_id=order.id).order_by(PaymentEvent.id)
        if kind:
            query = query.filter_by(kind=kind)
        return [(event.kind, event.state, event.outcome) for event in db.session.scalars(query)]


def login(client, username=OWNER, password=PASSWORD, next_=None, environ_base=None):
    """Log in through the real form (GET for the CSRF token, then POST); return the POST response."""
    url = "/admin/login" + (f"?next={quote(next_, safe='')}" if next_ else "")
    environ_base = environ_base or {}
    page = client.get(url, environ_base=environ_base)
    data = {"username": username, "password": password, "csrf_token": csrf_token_from(page.get_data(as_text=True))}
    if next_ is not None:
        data["next"] = next_
    return client.post("/admin/login", data=data, environ_base=environ_base)


def csrf(client, url="/admin/orders"):
    """A valid CSRF token for the client's session."""
    return csrf_token_from(client.get(url).get_data(as_text=True))


def flashes(html: str) -> list[str]:
    """The flash messages on a page."""
    return re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html)


def pay_on_phone(app, wechat, order, at=None):
    """The customer scans the QR code and pays on the sandbox's phone page (at ``at``, if given)."""
    code_url = open_attempt_of(app, order.id).prompt
    with freeze_time(at) if at else nullcontext(), requests.Session() as http:
        http.trust_env = False
        response = http.post(f"{wechat.url}/phone/pay", data={"code_url": code_url}, allow_redirects=False,
                             timeout=10)
    assert response.status_code == 303 and "result=paid" in response.headers["Location"]


class GatewaySpy:
    """The real gateway, counting the calls that reach WeChat Pay and running hooks before them (not a mock).

    ``before={"query": fn}`` runs ``fn(*args)`` before each real ``query``: a way to replay a race (a
    payment arriving between two steps) at an exact moment, or to check what holds during a call.
    """

    CALLS = ("create_payment", "query", "close", "refund", "query_refund")

    def __init__(self, inner, before=None):
        self._inner = inner
        self._lock = threading.Lock()
        self.calls = {name: Counter() for name in self.CALLS}
        self.before = dict(before or {})

    @property
    def queries(self) -> Counter:
        return self.calls["query"]

    @property
    def closes(self) -> Counter:
        return self.calls["close"]

    def __getattr__(self, name):
        if name not in self.CALLS:
            return getattr(self._inner, name)

        def call(*args, **kwargs):
            with self._lock:
                key = getattr(args[0], "out_trade_no", args[0]) if args else None  # a request names its number
                self.calls[name][key] += 1
            if name in self.before:
                self.before[name](*args)
            return getattr(self._inner, name)(*args, **kwargs)

        return call


# Browser sizes of the checks, with the User-Agent of the browser each stands for.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 3, "is_mobile": True, "has_touch": True,
         "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                       "Chrome/130.0.0.0 Mobile Safari/537.36"}
COMPUTER = {"viewport": {"width": 1280, "height": 800},
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                          "Chrome/130.0.0.0 Safari/537.36"}
SIZES = {"phone": PHONE, "computer": COMPUTER}


@contextmanager
def raw_reads():
    """The SQL of the reads made below SQLAlchemy's events (models/raw_read.RawQuery) inside the block."""
    from models import raw_read

    seen, real = [], raw_read.raw_rows

    def spy(engine, sql, parameters=()):
        seen.append(sql)
        return real(engine, sql, parameters)

    raw_read.raw_rows = spy
    try:
        yield seen
    finally:
        raw_read.raw_rows = real


@contextmanager
def statements(app):
    """The SQL statements this app runs through SQLAlchemy inside the block."""
    seen = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def flask_requests(app):
    """The requests that reached Flask meanwhile."""
    seen = []

    def record(sender, **extra):
        seen.append(1)

    request_started.connect(record, app)
    try:
        yield seen
    finally:
        request_started.disconnect(record, app)


def flask_itself(app):
    """The Flask app behind the lean paths."""
    wsgi_app = app.wsgi_app
    while isinstance(wsgi_app, LeanPath):
        wsgi_app = wsgi_app.wsgi_app
    return wsgi_app
