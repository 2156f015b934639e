"""The production processes start as the README says: gunicorn web workers and the jobs process."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from extensions import db
from tests.helpers import free_port

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def production_env(app, database_url, tmp_path):
    """Production settings with throw-away key files, on the test's (already created) database."""
    with app.app_context():
        db.create_all()
    (tmp_path / "apiclient_key.pem").write_text("not used by these tests")
    (tmp_path / "apiv3_key").write_text("0" * 32)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WECHATPAY_", "SANDBOX_"))}
    env.update(
        SHOP_ENV="production", SECRET_KEY="x" * 48, DATABASE_URL=database_url,
        WECHATPAY_MCHID="1900000109", WECHATPAY_APPID="wx0000000000000001", WECHATPAY_CERT_SERIAL_NO="ABC",
        WECHATPAY_PRIVATE_KEY_FILE=str(tmp_path / "apiclient_key.pem"),
        WECHATPAY_APIV3_KEY_FILE=str(tmp_path / "apiv3_key"),
        WECHATPAY_NOTIFY_URL="https://shop.example.cn/pay/notify",
    )
    return env


def test_gunicorn_serves_the_shop_with_its_config(production_env):
    port = free_port()
    env = {**production_env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "2"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "rid-42"},
                                        timeout=5)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert response.json() == {"status": "ok", "database": "ok"}
        assert response.headers["X-Request-ID"] == "rid-42"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        cookie = requests.get(f"http://127.0.0.1:{port}/admin/login", timeout=5).headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "rid=rid-42" in output  # the access log carries the request id
    assert "x" * 48 not in output and "0" * 32 not in output


def test_the_jobs_process_runs_in_production(production_env):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "jobs", "run", "--once"], cwd=ROOT, env=production_env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for job in ("reconcile", "expire", "ship", "refunds"):
        assert job in result.stdout + result.stderr
