"""The Host allow-list: a page that rebinds its own name to 127.0.0.1 gets nothing from the sandbox."""

import pytest
import requests

from wechatpay_sandbox.hosts import hostname

PATHS = ("/", "/phone", "/faults", "/sandbox/api/info", "/sandbox/api/settings", "/v3/certificates")


@pytest.mark.parametrize("header, name", [
    ("127.0.0.1:5001", "127.0.0.1"), ("LOCALHOST", "localhost"), ("[::1]:80", "::1"), ("shop.test", "shop.test"),
    ("", None), ("a@127.0.0.1", None), ("127.0.0.1/x", None), ("127.0.0.1:port", None), ("[::1", None),
])
def test_hostname(header, name):
    assert hostname(header) == name


@pytest.mark.parametrize("host", ["rebind.attacker.example", "127.0.0.1.nip.io:5001", "localhost.", "0.0.0.0", ""])
def test_other_hosts_get_400_on_every_page(sandbox_app, host):
    client = sandbox_app.test_client()
    for path in PATHS:
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 400, (host, path)
        assert "SANDBOX_ALLOWED_HOSTS" in response.get_data(as_text=True)
    refused = client.post("/sandbox/api/faults", json={"target": "api", "mode": "hang"}, headers={"Host": host})
    assert refused.status_code == 400
    assert client.get("/sandbox/api/faults").json["faults"] == []  # the refused call did nothing


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:5001", "localhost:5001", "[::1]:5001"])
def test_loopback_names_are_answered(sandbox_app, host):
    assert sandbox_app.test_client().get("/sandbox/api/info", headers={"Host": host}).status_code == 200


def test_configured_names_and_the_public_url_host_are_answered(make_app):
    app = make_app(SANDBOX_ALLOWED_HOSTS="dev.shop.test", SANDBOX_PUBLIC_URL="http://192.168.1.20:5001")
    client = app.test_client()
    for host in ("dev.shop.test:5001", "DEV.SHOP.TEST", "192.168.1.20:5001"):
        assert client.get("/sandbox/api/info", headers={"Host": host}).status_code == 200, host
    assert client.get("/sandbox/api/info", headers={"Host": "other.shop.test"}).status_code == 400


def test_a_real_http_request_with_a_foreign_host_is_refused(sb):
    """Over a real socket, as a browser on a rebound name would send it."""
    with requests.Session() as http:
        http.trust_env = False
        refused = http.get(sb.url + "/sandbox/api/info", headers={"Host": "evil.example:80"}, timeout=5)
        assert refused.status_code == 400
        sb.configure(SANDBOX_ALLOWED_HOSTS=["evil.example"])  # the developer's own choice
        assert http.get(sb.url + "/sandbox/api/info", headers={"Host": "evil.example"}, timeout=5).ok
