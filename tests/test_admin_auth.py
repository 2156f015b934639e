"""The owner's login: required on every /admin URL, rate-limited, CSRF-protected, safe next=, the owner command."""
import os
import re
import stat
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from app import create_app
from blueprints.admin import PUBLIC_ENDPOINTS
from blueprints.admin.commands import create_owner, dev_owner_banner, ensure_dev_owner
from core.clock import utcnow
from extensions import db
from models import LoginFailure, Order, Owner, PaymentEvent
from tests.helpers import OWNER, PASSWORD, csrf_token_from, login, production_settings

# Every owner route but the login page, with the order id filled in. Kept in step with the URL map
# by test_the_route_list_covers_every_admin_route, so a new route cannot skip the login check.
ADMIN_ROUTES = [
    ("GET", "/admin/"),
    ("GET", "/admin/orders"),
    ("GET", "/admin/orders/export.csv"),
    ("GET", "/admin/orders/{id}"),
    ("POST", "/admin/orders/{id}/query"),
    ("POST", "/admin/orders/{id}/close"),
    ("POST", "/admin/orders/{id}/ship"),
    ("POST", "/admin/orders/{id}/refund"),
    ("POST", "/admin/logout"),
    # The owner runs the shop (issue 13): products, categories, shipping, alerts.
    ("GET", "/admin/products"),
    ("GET", "/admin/products/new"),
    ("POST", "/admin/products/new"),
    ("GET", "/admin/products/{id}"),
    ("POST", "/admin/products/{id}"),
    ("POST", "/admin/products/{id}/stock"),
    ("POST", "/admin/products/{id}/on-sale"),
    ("POST", "/admin/products/{id}/hide"),
    ("POST", "/admin/products/{id}/delete"),
    ("POST", "/admin/products/{id}/images/{id}/delete"),
    ("POST", "/admin/products/{id}/images/{id}/main"),
    ("POST", "/admin/products/{id}/demo-image/delete"),
    ("GET", "/admin/categories"),
    ("POST", "/admin/categories"),
    ("POST", "/admin/categories/{id}/rename"),
    ("POST", "/admin/categories/{id}/move/{id}"),
    ("POST", "/admin/categories/{id}/{id}"),
    ("GET", "/admin/ship"),
    ("POST", "/admin/ship/mark"),
    ("GET", "/admin/ship/print"),
    ("GET", "/admin/ship/tracking"),
    ("POST", "/admin/ship/tracking"),
    ("POST", "/admin/orders/{id}/tracking"),
    ("GET", "/admin/alerts"),
    ("POST", "/admin/alerts/test"),
    ("POST", "/admin/alerts/{id}/retry"),
    # Daily reconciliation (issue 17).
    ("GET", "/admin/reconciliation"),
    ("GET", "/admin/reconciliation/{id}"),
    ("GET", "/admin/reconciliation/{id}/bill.csv"),
    ("POST", "/admin/reconciliation/run"),
]


def test_the_route_list_covers_every_admin_route(app):
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and rule.endpoint not in PUBLIC_ENDPOINTS:
            path = re.sub(r"<[^>]+>", "{id}", rule.rule)
            found |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert found == set(ADMIN_ROUTES)
    assert PUBLIC_ENDPOINTS == {"admin.login"}


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES, ids=[f"{m} {p}" for m, p in ADMIN_ROUTES])
def test_every_admin_route_requires_login(app, client, make_order, method, path):
    order = make_order()
    url = path.format(id=order.id)
    # A valid CSRF token, so a POST is turned away by the login check and not by CSRF protection.
    token = csrf_token_from(client.get("/admin/login").get_data(as_text=True))

    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, data={"csrf_token": token, "amount": "12.34", "reason": "x"})

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/admin/login?next=")
    with app.app_context():
        row = db.session.get(Order, order.id)
        assert (row.status, row.refunded_fen) == ("pending", 0)
        assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 0


def test_the_login_page_sends_the_owner_back_where_they_were(client, owner):
    response = client.get("/admin/orders?status=paid&q=13800")
    assert response.headers["Location"] == "/admin/login?next=%2Fadmin%2Forders%3Fstatus%3Dpaid%26q%3D13800"

    response = login(client, next_="/admin/orders?status=paid&q=13800")

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/orders?status=paid&q=13800"
    assert client.get("/admin/orders?status=paid").status_code == 200


@pytest.mark.parametrize("target", [
    "//evil.example/", "https://evil.example/admin", "/\\evil.example", "/\t/evil.example", "/\n/evil.example",
    "javascript:alert(1)", "evil.example/admin", "\\\\evil.example", " /admin/orders", "",
])
def test_next_outside_the_shop_is_ignored(client, owner, target):
    page = client.get("/admin/login", query_string={"next": target}).get_data(as_text=True)
    assert 'name="next" type="hidden" value=""' in page

    response = login(client, next_=target)

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/orders"


def test_a_wrong_password_is_refused_and_recorded(app, client, owner):
    response = login(client, password="wrong password")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "用户名或密码错误" in page
    assert "再失败 4 次" in page
    assert client.get("/admin/orders").status_code == 302
    with app.app_context():
        failures = db.session.scalars(select(LoginFailure)).all()
        assert [(f.username, f.ip) for f in failures] == [(OWNER, "127.0.0.1")]


def test_an_unknown_username_gets_the_same_answer(client, owner):
    response = login(client, username="nobody")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/admin/orders").status_code == 302


def test_the_right_password_logs_in_and_logout_logs_out(client, owner):
    assert login(client).status_code == 302
    page = client.get("/admin/orders")
    assert page.status_code == 200
    assert OWNER in page.get_data(as_text=True)

    response = client.post("/admin/logout", data={"csrf_token": csrf_token_from(page.get_data(as_text=True))})

    assert response.headers["Location"] == "/admin/login"
    assert client.get("/admin/orders").status_code == 302


def test_login_without_a_csrf_token_is_refused(client, owner):
    response = client.post("/admin/login", data={"username": OWNER, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/orders").status_code == 302


def test_logout_without_a_csrf_token_keeps_the_owner_logged_in(owner_client):
    assert owner_client.post("/admin/logout").status_code == 400
    assert owner_client.get("/admin/orders").status_code == 200


def test_five_failures_lock_the_account_for_this_ip_for_15_minutes(app, client, owner):
    start = utcnow()
    with freeze_time(start):
        for attempt in range(4):
            assert login(client, password=f"wrong {attempt}").status_code == 200
        fifth = login(client, password="wrong 5")
        assert fifth.status_code == 429
        assert "暂时锁定" in fifth.get_data(as_text=True)
        assert fifth.headers["Retry-After"] == "900"

        locked = login(client)  # even the right password
        assert locked.status_code == 429
        assert "15 分钟后再试" in locked.get_data(as_text=True)
        assert client.get("/admin/orders").status_code == 302

        # Another IP, and another account from this IP, are not locked.
        other_ip = app.test_client()
        assert login(other_ip, environ_base={"REMOTE_ADDR": "10.0.0.7"}).status_code == 302
        other_account = login(app.test_client(), username="someone-else", password="x")
        assert other_account.status_code == 200

    with freeze_time(start + timedelta(minutes=10)):
        retry = login(client)
        assert retry.status_code == 429
        assert "5 分钟后再试" in retry.get_data(as_text=True)

    with freeze_time(start + timedelta(minutes=15, seconds=1)):
        assert login(client).status_code == 302
        assert client.get("/admin/orders").status_code == 200
    with app.app_context():
        # The lock counted five failures; refused and successful attempts left no rows behind.
        assert db.session.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.username == OWNER)) == 5


def test_a_successful_login_does_not_reset_the_failure_count(client, owner):
    start = utcnow()
    with freeze_time(start):
        for attempt in range(4):
            login(client, password=f"wrong {attempt}")
        assert login(client).status_code == 302
        token = csrf_token_from(client.get("/admin/orders").get_data(as_text=True))
        client.post("/admin/logout", data={"csrf_token": token})
        assert login(client, password="wrong again").status_code == 429


def test_old_failures_do_not_count(client, owner):
    start = utcnow()
    with freeze_time(start):
        for attempt in range(4):
            login(client, password=f"wrong {attempt}")
    with freeze_time(start + timedelta(minutes=16)):
        for attempt in range(4):
            assert login(client, password=f"wrong {attempt}").status_code == 200
        assert login(client).status_code == 302


def test_session_cookie_is_httponly_and_samesite(client, owner):
    response = login(client)
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development and tests run on http://127.0.0.1


def test_session_cookie_is_secure_in_production(database_url, tmp_path):
    # Production refuses to start without WeChat Pay settings; login never uses the key files.
    app = create_app(production_settings(tmp_path, SQLALCHEMY_DATABASE_URI=database_url))
    with app.app_context():
        db.drop_all()
        db.create_all()
        account = Owner(username=OWNER)
        account.set_password(PASSWORD)
        db.session.add(account)
        db.session.commit()
    try:
        client = app.test_client()
        page = client.get("/admin/login", base_url="https://shop.example")
        token = csrf_token_from(page.get_data(as_text=True))
        response = client.post("/admin/login", base_url="https://shop.example",
                               data={"username": OWNER, "password": PASSWORD, "csrf_token": token},
                               headers={"Referer": "https://shop.example/admin/login"})
        assert response.status_code == 302
        cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("session="))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


def test_owner_pages_are_not_cached_or_framed(owner_client):
    response = owner_client.get("/admin/orders")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


# -- flask create-owner ---------------------------------------------------------------------------

def test_create_owner_stores_a_strong_hash(app, runner):
    result = runner.invoke(create_owner, ["--username", "boss", "--password", "a long enough secret"])

    assert result.exit_code == 0, result.output
    assert "已创建" in result.output
    with app.app_context():
        account = db.session.scalar(select(Owner).filter_by(username="boss"))
        assert account.password_hash.startswith(("scrypt:", "pbkdf2:"))
        assert "a long enough secret" not in account.password_hash
        assert account.check_password("a long enough secret")
    assert login(app.test_client(), username="boss", password="a long enough secret").status_code == 302


def test_create_owner_prompts_for_the_password_twice(app, runner):
    result = runner.invoke(create_owner, [], input="boss\nsecret-pass-1\nsecret-pass-1\n")
    assert result.exit_code == 0, result.output
    assert "secret-pass-1" not in result.output
    with app.app_context():
        assert db.session.scalar(select(Owner).filter_by(username="boss")).check_password("secret-pass-1")


@pytest.mark.parametrize(("args", "message"), [
    (["--username", "boss", "--password", "short"], "至少 10 个字符"),
    (["--username", "bad name!", "--password", "a long enough secret"], "用户名"),
])
def test_create_owner_refuses_weak_passwords_and_bad_names(app, runner, args, message):
    result = runner.invoke(create_owner, args)
    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Owner)) == 0


def test_create_owner_does_not_overwrite_without_reset(app, runner, owner):
    result = runner.invoke(create_owner, ["--username", OWNER, "--password", "another long secret"])
    assert result.exit_code != 0
    assert "--reset" in result.output
    with app.app_context():
        assert db.session.get(Owner, owner).check_password(PASSWORD)

    result = runner.invoke(create_owner, ["--username", OWNER, "--password", "another long secret", "--reset"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.get(Owner, owner).check_password("another long secret")
        assert db.session.scalar(select(func.count()).select_from(Owner)) == 1


# -- the development owner `make run` prints -----------------------------------------------------------

def test_the_dev_owner_is_created_once_and_its_password_kept_private(app, tmp_path, monkeypatch):
    monkeypatch.delenv("SHOP_ENV", raising=False)
    app.instance_path = str(tmp_path)

    first = ensure_dev_owner(app)
    second = ensure_dev_owner(app)

    assert first is not None and first == second
    username, password = first
    path = tmp_path / "dev_owner_password"
    assert path.read_text(encoding="utf-8").strip() == password
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert password in dev_owner_banner(app)
    assert login(app.test_client(), username=username, password=password).status_code == 302


def test_no_dev_owner_when_an_owner_exists_or_in_production(app, owner, tmp_path, monkeypatch):
    app.instance_path = str(tmp_path)
    assert ensure_dev_owner(app) is None
    assert "flask create-owner" in dev_owner_banner(app)
    assert not (tmp_path / "dev_owner_password").exists()

    with app.app_context():
        db.session.execute(db.delete(Owner))
        db.session.commit()
    monkeypatch.setenv("SHOP_ENV", "production")
    assert ensure_dev_owner(app) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Owner)) == 0


def test_the_banner_asks_for_the_database_when_it_has_no_tables(app, tmp_path):
    app.instance_path = str(tmp_path)
    with app.app_context():
        db.drop_all()
    assert "make db" in dev_owner_banner(app)
    assert not (tmp_path / "dev_owner_password").exists()
