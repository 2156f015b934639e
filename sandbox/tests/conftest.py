"""Fixtures for the sandbox's own tests: a sandbox per test, a notification receiver, SDK clients."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from wechatpayv3 import WeChatPay, WeChatPayType
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from helpers import serve_site
from wechatpay_sandbox import create_app, crypto
from wechatpay_sandbox.keys import ensure_keys
from wechatpay_sandbox.testing import start_sandbox


@pytest.fixture(autouse=True)
def _no_name_lookups(monkeypatch):
    """Fail fast on any host name but localhost: a DNS query would already leave the machine."""
    real_getaddrinfo = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "localhost") and not _is_ip(name):
            raise OSError(f"test tried to resolve {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch):
    # The SDK uses module-level requests calls, which honour proxy variables; keep loopback direct.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def key_template(tmp_path_factory) -> Path:
    """One set of generated keys, copied into each test's sandbox (RSA generation is the slow part)."""
    directory = tmp_path_factory.mktemp("key-template") / "keys"
    ensure_keys(directory)
    return directory


@pytest.fixture
def sandbox_dir(tmp_path, key_template) -> Path:
    directory = tmp_path / "sandbox"
    shutil.copytree(key_template, directory / "keys")
    return directory


@pytest.fixture
def make_sandbox(sandbox_dir):
    """make_sandbox(**config) -> a running sandbox (worker on, time scale 1000), stopped after the test."""
    started = []

    def make(**config):
        running = start_sandbox(sandbox_dir, **config)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def sb(make_sandbox):
    return make_sandbox()


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float
    done: float = 0.0


@dataclass
class Receiver:
    """A merchant notify endpoint on loopback: records every POST, answers from a script."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers in order; then `default`
    default: int = 200
    delay: float = 0.0  # seconds to wait before answering
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wsgi(self, environ, start_response):
        request = Request(environ)
        entry = Received(dict(request.headers), request.get_data(), time.monotonic())
        with self.lock:
            self.received.append(entry)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            status = self.statuses.pop(0) if self.statuses else self.default
        try:
            if self.delay:
                time.sleep(self.delay)
            body = b"" if status in (200, 204) else json.dumps({"code": "FAIL", "message": "失败"}).encode()
            return Response(body, status, content_type="application/json")(environ, start_response)
        finally:
            with self.lock:
                self.in_flight -= 1
                entry.done = time.monotonic()

    def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} notifications, got {len(self.received)}")
            time.sleep(0.01)
        return list(self.received)


@pytest.fixture
def receiver():
    recv = Receiver()
    server = make_server("127.0.0.1", 0, recv.wsgi, threaded=True, request_handler=_Quiet)
    recv.url = f"http://127.0.0.1:{server.server_port}/pay/notify"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield recv
    server.shutdown()
    server.server_close()
    thread.join(timeout=2)


@pytest.fixture
def make_client(receiver, tmp_path):
    """make_client(running, mode) -> the unmodified SDK pointed at that sandbox.

    In certificate mode its cert_dir is seeded with a valid certificate that is not the sandbox's, so
    construction does no network I/O; the first answer's unknown serial then makes the SDK download
    the sandbox's /v3/certificates (the test can read `client.cert_dir`).
    """
    def make(running, mode: str = "public_key") -> WeChatPay:
        cert_dir = None
        if mode == "certificate":
            cert_dir = tmp_path / f"platform-certs-{uuid.uuid4().hex[:6]}"
            self_signed_certificate(cert_dir)
        client = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, notify_url=receiver.url, timeout=(3, 5),
                           cert_dir=str(cert_dir) if cert_dir else None, **running.sdk_kwargs(mode))
        client._core._gate_way = running.url
        client.cert_dir = cert_dir
        return client

    return make


@pytest.fixture
def wxpay(sb, make_client):
    """The unmodified SDK in public-key mode, pointed at the sandbox."""
    return make_client(sb)


def self_signed_certificate(directory: Path) -> int:
    """Write some valid certificate that is not the sandbox's into directory; return its serial."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30)).sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    serial = format(cert.serial_number, "X")
    (directory / f"{serial}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert.serial_number


@pytest.fixture
def v3_http(sb):
    """v3_http(target, body) -> a signed POST of a raw JSON body to the running sandbox (bodies the SDK
    would refuse to send)."""
    key = crypto.load_private_key(sb.keys.merchant_private_key_path.read_bytes())

    def post(target: str, body) -> requests.Response:
        raw = json.dumps(body).encode()
        authorization = crypto.build_authorization(
            key, mchid=sb.keys.mchid, serial_no=sb.keys.merchant_serial_no, method="POST", target=target,
            timestamp=int(time.time()), nonce=uuid.uuid4().hex, body=raw)
        return requests.post(sb.url + target, data=raw, timeout=5,
                             headers={"Authorization": authorization, "Content-Type": "application/json"})

    return post


@pytest.fixture
def site():
    """A merchant website on 127.0.0.1 (helpers.Site): pages that send payers to the sandbox."""
    running, stop = serve_site()
    yield running
    stop()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright (one per session; tests open their own contexts):
    skipped on a laptop without it, required under CI=true."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must provide {CHROMIUM}")
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def make_app(sandbox_dir):
    """make_app(**config) -> the sandbox app without server or worker, time scale 1 (test client)."""
    made = []

    def make(**config):
        app = create_app({
            "SANDBOX_KEY_DIR": str(sandbox_dir / "keys"),
            "SANDBOX_DATABASE": str(sandbox_dir / "sandbox.sqlite3"),
            "SANDBOX_DELIVERY_WORKER": False,
            "SANDBOX_TIME_SCALE": 1.0,
            **config,
        })
        made.append(app)
        return app

    yield make
    for app in made:
        app.extensions["sandbox"].stop()


@pytest.fixture
def sandbox_app(make_app):
    return make_app()


class SignedClient:
    """A Flask test client that signs like a merchant (the clock is read at each call)."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.keys = app.extensions["sandbox"].keys
        self.key = crypto.load_private_key(self.keys.merchant_private_key_path.read_bytes())

    def request(self, method: str, target: str, body=None, *, serial: str | None = None, **headers):
        raw = b"" if body is None else (body if isinstance(body, bytes)
                                        else json.dumps(body, ensure_ascii=False).encode("utf-8"))
        authorization = crypto.build_authorization(
            self.key, mchid=self.keys.mchid, serial_no=self.keys.merchant_serial_no, method=method,
            target=target, timestamp=int(time.time()), nonce=uuid.uuid4().hex.upper(), body=raw)
        headers = {"Authorization": authorization, "Content-Type": "application/json",
                   "Accept": "application/json", **headers}
        if serial:
            headers["Wechatpay-Serial"] = serial
        return self.client.open(target, method=method, data=raw, headers=headers)

    def get(self, target: str, **kwargs):
        return self.request("GET", target, **kwargs)

    def post(self, target: str, body=None, **kwargs):
        return self.request("POST", target, body, **kwargs)

    def native(self, serial: str | None = None, **fields):
        body = {"appid": self.keys.appid, "mchid": self.keys.mchid, "description": "测试商品",
                "out_trade_no": "ORDER_0001", "notify_url": "https://shop.example.com/pay/notify",
                "amount": {"total": 100, "currency": "CNY"}}
        body.update(fields)
        return self.post("/v3/pay/transactions/native", {k: v for k, v in body.items() if v is not None},
                         serial=serial)

    def query(self, out_trade_no: str):
        return self.get(f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.keys.mchid}")


@pytest.fixture
def v3(sandbox_app) -> SignedClient:
    return SignedClient(sandbox_app)


@pytest.fixture
def make_v3():
    """make_v3(app) -> a SignedClient for an app from make_app."""
    return SignedClient


@pytest.fixture
def signed_by_platform(sandbox_app):
    """signed_by_platform(response) -> True if its Wechatpay-* signature verifies (platform key)."""
    keys = sandbox_app.extensions["sandbox"].keys
    public_key = crypto.load_public_key(keys.platform_public_key_path.read_bytes())

    def check(response) -> bool:
        message = crypto.response_message(response.headers["Wechatpay-Timestamp"],
                                          response.headers["Wechatpay-Nonce"], response.get_data())
        return crypto.verify(public_key, message, response.headers["Wechatpay-Signature"])

    return check
