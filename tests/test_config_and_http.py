"""Configuration safety, the health check, security headers, request ids and what the logs may show."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from werkzeug.middleware.proxy_fix import ProxyFix

from app import create_app
from config import DEV_SECRET_KEY, INSTANCE_DIR
from extensions import db
from http_policy import mask_order_tokens
from models import Order
from settings_check import UnsafeSettings
from tests.helpers import production_settings, wait_for

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "q3V9-tL0xZr_8mKpW2sYc7NbHf4JdUe6"  # 32 characters, all different
SANDBOX_URL = "http://127.0.0.1:5001"


@pytest.fixture
def production(database_url, tmp_path):
    """create_app(changes) in production, on settings that are complete and safe before the changes."""
    made = []

    def make(**changes):
        made.append(create_app(production_settings(tmp_path, SQLALCHEMY_DATABASE_URI=database_url, **changes)))
        return made[-1]

    yield make
    for app in made:
        dispose(app)


def dispose(app):
    """Close the app's pooled connections (PostgreSQL's would otherwise warn when collected)."""
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def refusal(production):
    """refusal(**changes) -> the message production refuses to start with."""
    def refuse(**changes):
        with pytest.raises(UnsafeSettings) as caught:
            production(**changes)
        return str(caught.value)

    return refuse


@pytest.fixture(scope="module")
def sandbox_keys(tmp_path_factory):
    """A key folder as the sandbox generates it (with its ids.json marker)."""
    from wechatpay_sandbox.keys import ensure_keys

    return ensure_keys(tmp_path_factory.mktemp("sandbox-keys"))


def test_production_starts_with_complete_settings(production):
    app = production()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["WECHATPAY_URL"] == "https://api.mch.weixin.qq.com"
    assert app.test_client().get("/healthz").headers["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains")


@pytest.mark.parametrize("url", ["https://api2.mch.weixin.qq.com", "https://api.mch.weixin.qq.com/"])
def test_production_accepts_wechat_pays_backup_host(production, url):
    assert production(WECHATPAY_URL=url).config["WECHATPAY_URL"] == url


@pytest.mark.parametrize(("secret", "reason"), [
    (None, "SECRET_KEY is not set"),
    ("", "SECRET_KEY is not set"),
    (DEV_SECRET_KEY, "SECRET_KEY is the public development key"),
    ("a", "SECRET_KEY is shorter than 32 characters"),
    ("changeme", "SECRET_KEY is shorter than 32 characters"),
    (STRONG_KEY[:31], "SECRET_KEY is shorter than 32 characters"),
    ("a" * 48, "SECRET_KEY is too weak"),
    ("ab" * 24, "SECRET_KEY is too weak"),
    ("changeme" * 4, "SECRET_KEY is too weak"),
    ("0123456789abcdef" * 2, "SECRET_KEY is too weak"),
])
def test_production_refuses_a_missing_public_short_or_weak_secret_key(refusal, secret, reason):
    message = refusal(SECRET_KEY=secret)
    assert reason in message and "secrets.token_urlsafe" in message
    if secret and len(secret) >= 8:
        assert secret not in message  # the key itself is never shown


def test_production_accepts_a_strong_secret_key(production):
    assert production(SECRET_KEY=STRONG_KEY).config["SECRET_KEY"] == STRONG_KEY


@pytest.mark.parametrize("url", [
    SANDBOX_URL, "http://api.mch.weixin.qq.com", "https://api.mch.weixin.qq.com/sandboxnew",
    "https://api.mch.weixin.qq.com.example.cn", "https://api.mch.weixin.qq.com:8443", "", None,
])
def test_production_refuses_any_wechatpay_url_but_wechat_pays_own(refusal, url):
    message = refusal(WECHATPAY_URL=url)
    assert "WECHATPAY_URL must be WeChat Pay's API, https://api.mch.weixin.qq.com or its backup " \
           "https://api2.mch.weixin.qq.com" in message


@pytest.mark.parametrize(("url", "reason"), [
    ("http://shop.example.cn/pay/notify", "is not https"),
    ("https://shop.example.cn/pay/notify?order=1", "has a query string"),
    ("https://shop.example.cn/pay/notify?", "has a query string"),
    ("https://shop.example.cn/pay/notify#top", "has a fragment"),
    ("https://shop.example.cn", "has no path"),
    ("https://shop.example.cn/", "has no path"),
    ("https://127.0.0.1/pay/notify", "does not point at a public address"),
    ("https://localhost/pay/notify", "does not point at a public address"),
    ("https://192.168.1.20/pay/notify", "does not point at a public address"),
    ("https://10.0.0.8:8443/pay/notify", "does not point at a public address"),
    ("https://[::1]/pay/notify", "does not point at a public address"),
    ("https://[::1/pay/notify", "is not a valid URL"),
    ("", "WECHATPAY_NOTIFY_URL is not set"),
    (None, "WECHATPAY_NOTIFY_URL is not set"),
])
def test_production_refuses_a_notify_url_wechat_pay_cannot_use(refusal, url, reason):
    message = refusal(WECHATPAY_NOTIFY_URL=url)
    assert "WECHATPAY_NOTIFY_URL" in message and reason in message


def test_production_refuses_missing_wechatpay_settings(refusal):
    message = refusal(WECHATPAY_PRIVATE_KEY_FILE=None, WECHATPAY_MCHID="")
    assert "WECHATPAY_PRIVATE_KEY_FILE is not set" in message and "WECHATPAY_MCHID is not set" in message


def test_production_refuses_the_sandboxs_generated_keys(refusal, sandbox_keys):
    message = refusal(
        WECHATPAY_PRIVATE_KEY_FILE=str(sandbox_keys.merchant_private_key_path),
        WECHATPAY_APIV3_KEY_FILE=str(sandbox_keys.directory / "apiv3_key"),
        WECHATPAY_PUBLIC_KEY_FILE=str(sandbox_keys.platform_public_key_path),
    )
    for name in ("WECHATPAY_PRIVATE_KEY_FILE", "WECHATPAY_APIV3_KEY_FILE", "WECHATPAY_PUBLIC_KEY_FILE"):
        assert f"{name} {sandbox_keys.directory}" in message
    assert message.count("is one of the sandbox's generated keys (its folder holds ids.json)") == 3


def test_production_refuses_keys_inside_the_instance_folder(refusal):
    path = INSTANCE_DIR / "wechatpay" / "merchant_key.pem"
    assert f"WECHATPAY_PRIVATE_KEY_FILE {path} is inside the shop's instance/ folder" in refusal(
        WECHATPAY_PRIVATE_KEY_FILE=str(path))


@pytest.mark.parametrize(("changes", "reason"), [
    ({"WECHATPAY_PUBLIC_KEY_FILE": None, "WECHATPAY_PUBLIC_KEY_ID": None},
     "WECHATPAY_PUBLIC_KEY_FILE and WECHATPAY_PUBLIC_KEY_ID (public-key mode) or WECHATPAY_CERT_DIR"),
    ({"WECHATPAY_PUBLIC_KEY_ID": ""}, "WECHATPAY_PUBLIC_KEY_ID is not set but WECHATPAY_PUBLIC_KEY_FILE is"),
    ({"WECHATPAY_PUBLIC_KEY_FILE": None}, "WECHATPAY_PUBLIC_KEY_FILE is not set but WECHATPAY_PUBLIC_KEY_ID is"),
])
def test_production_refuses_to_start_without_a_way_to_verify_wechat_pay(refusal, changes, reason):
    assert reason in refusal(**changes)


def test_production_accepts_certificate_mode_instead_of_a_public_key(production, tmp_path):
    (tmp_path / "certs").mkdir()
    app = production(WECHATPAY_PUBLIC_KEY_FILE=None, WECHATPAY_PUBLIC_KEY_ID=None,
                     WECHATPAY_CERT_DIR=str(tmp_path / "certs"))
    assert app.config["WECHATPAY_CERT_DIR"] == str(tmp_path / "certs")


def test_production_refuses_key_files_it_cannot_read(refusal, tmp_path):
    (tmp_path / "empty").write_text("\n")
    (tmp_path / "a-folder").mkdir()
    message = refusal(WECHATPAY_PRIVATE_KEY_FILE=str(tmp_path / "missing.pem"),
                      WECHATPAY_APIV3_KEY_FILE=str(tmp_path / "empty"),
                      WECHATPAY_PUBLIC_KEY_FILE=str(tmp_path / "a-folder"),
                      WECHATPAY_CERT_DIR=str(tmp_path / "no-certs"))
    assert f"WECHATPAY_PRIVATE_KEY_FILE {tmp_path / 'missing.pem'} cannot be read (No such file" in message
    assert f"WECHATPAY_APIV3_KEY_FILE {tmp_path / 'empty'} is empty" in message
    assert f"WECHATPAY_PUBLIC_KEY_FILE {tmp_path / 'a-folder'} cannot be read" in message
    assert f"WECHATPAY_CERT_DIR {tmp_path / 'no-certs'} is not a folder" in message


def test_production_reports_every_problem_at_once(refusal):
    message = refusal(SECRET_KEY="changeme", WECHATPAY_URL=SANDBOX_URL,
                      WECHATPAY_NOTIFY_URL="http://127.0.0.1:5000/pay/notify", WECHATPAY_APIV3_KEY_FILE=None)
    assert message.startswith("SHOP_ENV=production refuses to start until these settings are fixed:")
    problems = [line for line in message.splitlines() if line.startswith("  - ")]
    assert [line.split()[1] for line in problems] == [
        "SECRET_KEY", "WECHATPAY_URL", "WECHATPAY_NOTIFY_URL", "WECHATPAY_APIV3_KEY_FILE"]
    assert isinstance(UnsafeSettings("production", []), RuntimeError)


def staging(database_url, **changes):
    return create_app({
        "ENV": "staging", "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": STRONG_KEY,
        "WECHATPAY_URL": SANDBOX_URL, "WECHATPAY_NOTIFY_URL": "http://127.0.0.1:8000/pay/notify", **changes,
    })


def test_staging_serves_like_production_against_the_sandbox(database_url, sandbox_keys):
    app = staging(database_url, SANDBOX_KEY_DIR=str(sandbox_keys.directory))
    assert app.config["WECHATPAY_URL"] == SANDBOX_URL
    assert app.config["WECHATPAY_PRIVATE_KEY_FILE"] == str(sandbox_keys.merchant_private_key_path)
    assert app.config["WECHATPAY_MCHID"] == sandbox_keys.mchid
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["PROXY_COUNT"] == 1
    assert app.config["SCHEDULER_EMBEDDED"] is False
    client = app.test_client()
    # The test client would default to https here (PREFERRED_URL_SCHEME), so say http.
    assert "Strict-Transport-Security" not in client.get("/healthz", base_url="http://127.0.0.1:8000").headers
    assert client.get("/healthz", base_url="https://staging.example.cn").headers["Strict-Transport-Security"]
    dispose(app)


@pytest.mark.parametrize(("secret", "reason"), [
    (DEV_SECRET_KEY, "SECRET_KEY is the public development key"), (None, "SECRET_KEY is not set"),
    ("x" * 40, "SECRET_KEY is too weak"),
])
def test_staging_still_refuses_a_public_or_weak_secret_key(database_url, sandbox_keys, secret, reason):
    with pytest.raises(UnsafeSettings, match="SHOP_ENV=staging") as caught:
        staging(database_url, SANDBOX_KEY_DIR=str(sandbox_keys.directory), SECRET_KEY=secret)
    assert reason in str(caught.value)


def test_staging_needs_keys_from_somewhere(database_url):
    with pytest.raises(UnsafeSettings) as caught:
        staging(database_url)
    assert "WECHATPAY_PRIVATE_KEY_FILE is not set" in str(caught.value)


def test_testing_signs_with_a_random_key_per_process():
    env = {key: value for key, value in os.environ.items() if key not in ("SECRET_KEY", "SHOP_ENV")}
    script = "from app import create_app; print(create_app({'ENV': 'testing'}).config['SECRET_KEY'])"
    keys = [subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=60, check=True).stdout.strip() for _ in range(2)]
    assert keys[0] != keys[1]
    assert all(len(key) >= 32 and key != DEV_SECRET_KEY for key in keys)


def test_testing_refuses_the_development_key(database_url):
    with pytest.raises(UnsafeSettings, match="SECRET_KEY is the public development key"):
        create_app({"ENV": "testing", "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": DEV_SECRET_KEY})


def test_an_unknown_shop_env_is_named(database_url):
    with pytest.raises(RuntimeError, match="SHOP_ENV='prod' is not one of: development, testing, staging"):
        create_app({"ENV": "prod", "SQLALCHEMY_DATABASE_URI": database_url})


@pytest.mark.parametrize("raw, minutes", [(None, 30), ("15", 15), ("0.5", 0.5), ("1.0", 1)])
def test_minutes_settings_take_fractions_and_keep_whole_numbers_whole(monkeypatch, raw, minutes):
    """ORDER_PAY_TIMEOUT and SHIP_DELAY_MINUTES: `make loadtest` runs with a pay window of seconds; the
    checkout page still says "30 分钟", not "30.0 分钟"."""
    from config import env_minutes

    if raw is None:
        monkeypatch.delenv("ORDER_PAY_TIMEOUT", raising=False)
    else:
        monkeypatch.setenv("ORDER_PAY_TIMEOUT", raw)
    value = env_minutes("ORDER_PAY_TIMEOUT", 30)
    assert value == minutes and str(value) == str(minutes)


def probe_app(production, **changes):
    """A production app with a route that shows what the app believes about the request."""
    app = production(**changes)

    @app.get("/_probe")
    def probe():
        from flask import request

        return {"host": request.host, "remote_addr": request.remote_addr, "scheme": request.scheme}

    return app


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}


def test_behind_the_proxy_only_for_and_proto_are_trusted_by_default(production):
    app = probe_app(production)
    assert isinstance(app.wsgi_app, ProxyFix)
    seen = app.test_client().get("/_probe", headers={"Host": "shop.example.cn", **FORWARDED}).get_json()
    assert seen == {"host": "shop.example.cn", "remote_addr": "203.0.113.7", "scheme": "https"}


def test_proxy_trust_host_trusts_x_forwarded_host(production):
    app = probe_app(production, PROXY_TRUST_HOST=True)
    seen = app.test_client().get("/_probe", headers={"Host": "shop.example.cn", **FORWARDED}).get_json()
    assert seen["host"] == "evil.example"


def test_no_hsts_in_development_over_http(client):
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_order_and_pay_pages_are_never_cached(app, client, make_order):
    order = make_order()
    for path in ("/orders/{}", "/pay/{}", "/pay/{}/status", "/pay/{}/success"):
        response = client.get(path.format(order.token))
        assert response.status_code in (200, 302), path
        assert response.headers["Cache-Control"] == "no-store", path
    with app.app_context():
        db.session.get(Order, order.id).status = "paid"
        db.session.commit()
    for path in ("/orders/{}", "/pay/{}/success"):
        response = client.get(path.format(order.token))
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store", path
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")


TOKEN = "Ab3dKq9Zx_Lw2Pm7Nn4Rt0"


@pytest.mark.parametrize(("text", "masked"), [
    (f"GET /pay/{TOKEN} HTTP/1.1", "GET /pay/Ab3d… HTTP/1.1"),
    (f"GET /pay/{TOKEN}/status HTTP/1.1", "GET /pay/Ab3d…/status HTTP/1.1"),
    (f"POST /pay/{TOKEN}/cancel", "POST /pay/Ab3d…/cancel"),
    (f"/orders/{TOKEN}?x=1", "/orders/Ab3d…?x=1"),
    (f"https://shop.example.cn/pay/{TOKEN}/success", "https://shop.example.cn/pay/Ab3d…/success"),
    ("POST /pay/notify HTTP/1.1", "POST /pay/notify HTTP/1.1"),
    ("GET /admin/orders/42 HTTP/1.1", "GET /admin/orders/42 HTTP/1.1"),
])
def test_order_tokens_are_masked_to_their_first_four_characters(text, masked):
    assert mask_order_tokens(text) == masked
    assert mask_order_tokens(masked) == masked


def test_the_development_servers_request_log_masks_order_tokens(app, make_order, live_shop, caplog):
    caplog.set_level(logging.INFO, logger="werkzeug")
    order = make_order()
    with requests.Session() as http:
        http.trust_env = False
        assert http.get(f"{live_shop}/orders/{order.token}", timeout=10).status_code == 200  # via the pay page
        assert http.get(f"{live_shop}/pay/{order.token}/status", timeout=10).status_code == 200

    def request_lines():
        lines = [record.getMessage() for record in caplog.records if record.name == "werkzeug"]
        return lines if len(lines) >= 3 else None

    lines = wait_for(request_lines)
    assert any(f"GET /orders/{order.token[:4]}… HTTP/1.1" in line for line in lines), lines
    assert any(f"GET /pay/{order.token[:4]}…/status HTTP/1.1" in line for line in lines), lines
    assert not any(order.token in line for line in lines)
    assert order.token not in caplog.text


def test_healthz_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_says_503_when_the_database_is_gone(app_config, tmp_path):
    app = create_app({**app_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"
    assert "sqlite" not in response.get_data(as_text=True)


def test_every_page_carries_the_security_headers(client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp and "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no external origin anywhere (no JSAPI set up: not even WeChat's OAuth)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_with_jsapi_set_up_forms_may_end_at_wechats_oauth_and_nothing_else_leaves_the_shop(app_config, tmp_path):
    from app import create_app

    secret = tmp_path / "app_secret"
    secret.write_text("0" * 32)
    app = create_app({**app_config, "WECHAT_APPSECRET_FILE": str(secret)})
    # A static file: the policy is the same on every response, and this app's database has no tables.
    with app.test_client().get("/static/favicon.svg") as response:
        policy = response.headers["Content-Security-Policy"]
    csp = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert csp["form-action"] == "'self' https://open.weixin.qq.com"  # checkout -> the pay page -> WeChat's OAuth
    assert not [value for name, value in csp.items() if name != "form-action" and "http" in value]


def test_request_ids_are_kept_when_sane_and_made_otherwise(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    again = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 20 and int(made, 16) >= 0 and again != made
    assert again[:12] == made[:12]  # one process, one prefix


def test_a_forked_worker_makes_request_ids_of_its_own():
    from http_policy import REQUEST_IDS

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # gunicorn forks its workers like this: the child must not repeat the parent's ids
        os.write(write, REQUEST_IDS.next().encode())
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 64).decode()[:12] != REQUEST_IDS.next()[:12]


def test_money_filter_formats_integer_fen():
    from core.money import format_fen

    assert [format_fen(v) for v in (0, 5, 1234, 123456789, -250)] == [
        "¥0.00", "¥0.05", "¥12.34", "¥1,234,567.89", "-¥2.50"]
