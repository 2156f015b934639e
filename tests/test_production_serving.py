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


def test_gunicorns_access_log_masks_order_tokens(production_env, make_order):
    order = make_order()
    port = free_port()
    server = start_gunicorn(production_env, port)
    try:
        page = first_answer(server, f"http://127.0.0.1:{port}/orders/{order.token}")  # redirects to the pay page
        assert page.status_code == 200 and page.url.endswith(f"/pay/{order.token}")
        assert page.headers["Cache-Control"] == "no-store"
        status = requests.get(f"http://127.0.0.1:{port}/pay/{order.token}/status", timeout=5)
        assert status.json()["status"] == "pending"
    finally:
        output = stop(server)
    masked = f"{order.token[:4]}…"
    assert f'"GET /orders/{masked} HTTP/1.1" 302' in output
    assert f'"GET /pay/{masked} HTTP/1.1" 200' in output
    assert f'"GET /pay/{masked}/status HTTP/1.1" 200' in output
    assert order.token not in output


def test_every_access_log_atom_is_masked_not_only_the_request_line():
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from gunicorn_logging import MaskingLogger

    token = "Ab3dKq9Zx_Lw2Pm7Nn4Rt0"
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/pay/{token}?from=/orders/{token}", "PATH_INFO": f"/pay/{token}",
               "QUERY_STRING": f"from=/orders/{token}", "SERVER_PROTOCOL": "HTTP/1.1",
               "HTTP_REFERER": f"https://shop.example.cn/orders/{token}", "REMOTE_ADDR": "127.0.0.1"}
    response = SimpleNamespace(status="302 FOUND", sent=0, headers=[("Location", f"/pay/{token}")])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = MaskingLogger(Config()).atoms(response, request, environ, timedelta(milliseconds=3))
    assert atoms["r"] == "GET /pay/Ab3d…?from=/orders/Ab3d… HTTP/1.1"
    assert (atoms["U"], atoms["q"], atoms["f"]) == ("/pay/Ab3d…", "from=/orders/Ab3d…", "https://shop.example.cn/orders/Ab3d…")
    assert atoms["{location}o"] == "/pay/Ab3d…" and atoms["{referer}i"] == atoms["f"]
    assert not any(token in value for value in atoms.values() if isinstance(value, str))


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


def test_web_workers_leave_out_what_only_the_command_line_and_a_wechat_login_need(production_env):
    """Each gunicorn worker holds what wsgi.py imports: Alembic (`flask db`, 11 MiB) and wechatpy (the first
    WeChat login, 9 MiB) are not in it, which keeps the CSV export's worker under 100 MiB (make bench)."""
    check = "import sys, wsgi; print(sorted({name.split('.')[0] for name in sys.modules} & {'alembic', 'wechatpy'}))"
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=production_env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
