"""The production processes start as the README says: gunicorn web workers and the jobs process."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from extensions import db
from tests.helpers import free_port, production_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def production_env(app, database_url, tmp_path):
    """Production settings with throw-away key files, on the test's (already created) database."""
    with app.app_context():
        db.create_all()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("WECHATPAY_", "SANDBOX_"))}
    settings = production_settings(tmp_path)
    env.update({("SHOP_ENV" if name == "ENV" else name): value for name, value in settings.items()},
               DATABASE_URL=database_url)
    return env


def start_gunicorn(env, port):
    return subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2", "GUNICORN_THREADS": "2"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def first_answer(server, url, **kwargs):
    """GET ``url`` once gunicorn listens (bounded wait); fail with its output if it exits first."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return requests.get(url, timeout=5, **kwargs)
        except (requests.ConnectionError, requests.Timeout):  # not listening yet, or a worker still booting
            assert server.poll() is None, server.stdout.read()
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.2)


def stop(server) -> str:
    server.terminate()
    output, _ = server.communicate(timeout=30)
    return output


def test_gunicorn_serves_the_shop_with_its_config(production_env):
    port = free_port()
    server = start_gunicorn(production_env, port)
    try:
        response = first_answer(server, f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "rid-42"})
        assert response.json() == {"status": "ok", "database": "ok"}
        assert response.headers["X-Request-ID"] == "rid-42"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        cookie = requests.get(f"http://127.0.0.1:{port}/admin/login", timeout=5).headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        output = stop(server)
    assert "rid=rid-42" in output  # the access log carries the request id
    assert production_env["SECRET_KEY"] not in output and "throw-away" not in output


def test_gunicorn_refuses_to_start_without_shop_env(production_env):
    env = {name: value for name, value in production_env.items() if name != "SHOP_ENV"}
    server = start_gunicorn(env, free_port())
    try:
        output, _ = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode != 0
    assert "SHOP_ENV is not set" in output


def test_the_jobs_process_runs_in_production(production_env):
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "jobs", "run", "--once"], cwd=ROOT, env=production_env,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for job in ("reconcile", "expire", "ship", "refunds"):
        assert job in result.stdout + result.stderr
