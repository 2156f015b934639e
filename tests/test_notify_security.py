"""A notification can never make the shop call WeChat Pay, and its age is checked on the headers the
signature is verified with (no aliases)."""
import time

import pytest
import requests

from core.vocabulary import OrderStatus
from payments import get_gateway
from tests.helpers import status_of
from tests.wechat import signed_notification, transaction_resource

pytestmark = pytest.mark.wechatpay


@pytest.fixture
def certificate_downloads(monkeypatch):
    """The URLs of every /v3/certificates request (the real requests still go out): every request of
    requests, with or without a Session of its own, passes through Session.request."""
    downloads = []
    real_request = requests.Session.request

    def recording_request(session, method, url, *args, **kwargs):
        if url.endswith("/v3/certificates"):
            downloads.append(url)
        return real_request(session, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", recording_request)
    return downloads


@pytest.fixture
def order(make_order):
    return make_order(price_fen=1500)


def post(client, headers, body):
    return client.post("/pay/notify", data=body, headers=headers)


def test_an_unknown_serial_is_refused_before_the_sdk_and_downloads_nothing(
        app, client, wechat, order, certificate_downloads):
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys),
                                        serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1")

    response = post(client, headers, body)

    assert response.status_code == 401
    assert certificate_downloads == []
    assert status_of(app, order) == OrderStatus.PENDING
    genuine_headers, genuine_body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys))
    assert post(client, genuine_headers, genuine_body).status_code == 204


@pytest.fixture
def certificate_mode(app, tmp_path):
    """The shop in certificate mode with an empty certificate folder (as on a first start)."""
    app.config.update(WECHATPAY_PUBLIC_KEY_FILE=None, WECHATPAY_PUBLIC_KEY_ID=None,
                      WECHATPAY_CERT_DIR=str(tmp_path / "certs"))
    return tmp_path / "certs"


def test_certificate_mode_downloads_its_first_certificates_from_the_configured_url(
        app, wechat, certificate_mode, certificate_downloads):
    with app.app_context():
        gateway = get_gateway()

    assert certificate_downloads == [f"{wechat.url}/v3/certificates"]
    assert [path.stem for path in certificate_mode.glob("*.pem")] == [wechat.keys.platform_cert_serial]
    with app.app_context():
        assert gateway.refresh_certificates() == 1  # what the jobs process does on its schedule
    assert len(certificate_downloads) == 2


def test_in_certificate_mode_a_forged_serial_neither_downloads_nor_empties_the_certificates(
        app, client, wechat, order, certificate_mode, certificate_downloads):
    with app.app_context():
        get_gateway()
    forged, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys), serial="ABCDEF0123")

    started = time.monotonic()
    assert post(client, forged, body).status_code == 401
    assert time.monotonic() - started < 1

    assert certificate_downloads == [f"{wechat.url}/v3/certificates"]  # only the first, at start
    genuine, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys),
                                        serial=wechat.keys.platform_cert_serial)
    assert post(client, genuine, body).status_code == 204
    assert status_of(app, order) == OrderStatus.PAID


def test_a_replay_with_aliased_headers_cannot_pass_the_age_check(app, client, wechat, order):
    old = int(time.time()) - 600  # ten minutes: outside the five-minute window
    headers, body = signed_notification(wechat.keys, transaction_resource(order, wechat.keys), timestamp=old)
    # The old signature under alias names the SDK prefers, and only a fresh timestamp under the canonical name.
    replay = {f"Http-{name}": value for name, value in headers.items() if name.startswith("Wechatpay-")}
    replay.update({"Content-Type": "application/json", "Wechatpay-Timestamp": str(int(time.time()))})

    response = post(client, replay, body)

    assert response.status_code == 401
    assert status_of(app, order) == OrderStatus.PENDING
