"""Configuration safety, the health check, security headers and request ids."""
import pytest

from app import create_app

PRODUCTION = {
    "ENV": "production", "SECRET_KEY": "s" * 48, "WECHATPAY_NOTIFY_URL": "https://shop.example.cn/pay/notify",
    "WECHATPAY_MCHID": "1900000109", "WECHATPAY_APPID": "wx0000000000000001", "WECHATPAY_CERT_SERIAL_NO": "ABC123",
    "WECHATPAY_PRIVATE_KEY_FILE": "/run/secrets/apiclient_key.pem", "WECHATPAY_APIV3_KEY_FILE": "/run/secrets/apiv3",
}


def production(database_url, **changes):
    return create_app({**PRODUCTION, "SQLALCHEMY_DATABASE_URI": database_url, **changes})


def test_production_starts_with_complete_settings(database_url):
    app = production(database_url)
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["WECHATPAY_URL"] == "https://api.mch.weixin.qq.com"


@pytest.mark.parametrize("secret", ["dev-only-not-secret", ""])
def test_production_refuses_the_default_secret_key(database_url, secret):
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        production(database_url, SECRET_KEY=secret)


@pytest.mark.parametrize("url", ["http://shop.example.cn/pay/notify", "", None])
def test_production_refuses_a_notify_url_that_is_not_https(database_url, url):
    with pytest.raises(RuntimeError, match="WECHATPAY_NOTIFY_URL"):
        production(database_url, WECHATPAY_NOTIFY_URL=url)


def test_production_refuses_missing_wechatpay_keys(database_url):
    with pytest.raises(RuntimeError, match="WECHATPAY_PRIVATE_KEY_FILE"):
        production(database_url, WECHATPAY_PRIVATE_KEY_FILE=None)


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
    assert "http" not in csp  # no external origin anywhere
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_request_ids_are_kept_when_sane_and_made_otherwise(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers["X-Request-ID"]
    assert len(made) == 32 and made.isalnum()


def test_money_filter_formats_integer_fen():
    from core.money import format_fen

    assert [format_fen(v) for v in (0, 5, 1234, 123456789, -250)] == [
        "¥0.00", "¥0.05", "¥12.34", "¥1,234,567.89", "-¥2.50"]
