"""Run a real sandbox on a free 127.0.0.1 port for tests: `start_sandbox(tmp_path)`."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from . import create_app
from .keys import SandboxKeys
from .settings import STARTUP_ONLY
from .users import COOKIE as USER_COOKIE  # noqa: F401 - tests set it to choose the browser's WeChat user
from .users import DEFAULT_USER

TEST_TIME_SCALE = 1000.0  # 15 s retry -> 15 ms; a refund settles after 5 ms


class SandboxError(RuntimeError):
    def __init__(self, status: int, body):
        super().__init__(f"sandbox control API answered {status}: {body}")
        self.status = status
        self.body = body


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):  # keep test output clean
        pass


class RunningSandbox:
    def __init__(self, app, server):
        self.app = app
        self.runtime = app.extensions["sandbox"]
        self.keys: SandboxKeys = self.runtime.keys
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_port}"
        self._http = requests.Session()
        self._http.trust_env = False
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="sandbox-http", daemon=True)
        self._thread.start()
        self._stopped = False
        self.initial_settings: dict = dict(self.runtime.settings)

    # -- control API helpers ---------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs):
        response = self._http.request(method, self.url + "/sandbox/api" + path, timeout=30, **kwargs)
        body = response.json()
        if response.status_code >= 400:
            raise SandboxError(response.status_code, body)
        return body

    def pay(self, out_trade_no: str, code_url: str | None = None, user: str | None = None) -> dict:
        """The customer pays the order (raises SandboxError 409 if expired/closed/paid); `user` holds the
        phone (the payer of Native and H5 orders; a JSAPI order is paid by its payer.openid)."""
        body = {name: value for name, value in (("code_url", code_url), ("user", user)) if value}
        return self._call("POST", f"/orders/{out_trade_no}/pay", json=body or None)

    def pay_silently(self, out_trade_no: str, user: str | None = None) -> dict:
        """Pay without the merchant hearing of it: no notification, queries show it unpaid until
        reveal(); only the trade bill has it."""
        return self._call("POST", f"/orders/{out_trade_no}/pay",
                          json={"silently": True, **({"user": user} if user else {})})

    def reveal(self, out_trade_no: str) -> dict:
        """Lift a silent payment: a query now answers SUCCESS."""
        return self._call("POST", f"/orders/{out_trade_no}/reveal")

    def pay_prepay(self, prepay_id: str, user: str | None = None) -> dict:
        """Pay a JSAPI or H5 order by its prepay_id, as the pay sheet or the H5 cashier does."""
        return self._call("POST", f"/prepay/{prepay_id}/pay", json={"user": user} if user else None)

    def orders(self, trade_type: str | None = None, limit: int | None = None) -> list[dict]:
        """The newest orders (500, or `limit`), each with its trade_type and prompt (code_url, prepay_id or
        h5_url)."""
        params = {name: value for name, value in (("trade_type", trade_type), ("limit", limit)) if value}
        return self._call("GET", "/orders", params=params or None)["orders"]

    def oauth_code(self, user: str = DEFAULT_USER, appid: str | None = None, scope: str = "snsapi_base") -> dict:
        """A web-OAuth code for the user, as the authorize page would issue: {"code", "openid", "user"}."""
        return self._call("POST", "/oauth/code",
                          json={"user": user, "appid": appid or self.keys.appid, "scope": scope})

    def openid(self, user: str = DEFAULT_USER) -> str:
        """The user's openid under the sandbox's appid, issued (so JSAPI orders accept it)."""
        return self.oauth_code(user)["openid"]

    def cancel(self, out_trade_no: str) -> dict:
        return self._call("POST", f"/orders/{out_trade_no}/cancel")

    def order(self, out_trade_no: str) -> dict | None:
        try:
            return self._call("GET", f"/orders/{out_trade_no}")
        except SandboxError as error:
            if error.status == 404:
                return None
            raise

    def configure(self, **changes) -> dict:
        """Change settings while running, e.g. configure(SANDBOX_KEY_MODE="certificate"); return them all."""
        return self._call("PATCH", "/settings", json=changes)["settings"]

    def reset(self) -> None:
        """Clear faults and put back the settings the sandbox started with (between tests)."""
        self.clear_faults()
        self.configure(**{name: value for name, value in self.initial_settings.items()
                          if name.startswith("SANDBOX_") and name not in STARTUP_ONLY})

    def fault(self, **spec) -> dict:
        """Arm a fault, e.g. fault(target="notify", mode="duplicate", times=3) or, for a share of them,
        fault(target="notify", mode="drop", rate=0.2)."""
        return self._call("POST", "/faults", json=spec)["fault"]

    def armed_faults(self) -> list[dict]:
        """The armed faults, oldest first, each with its count left (None: a rate fault), rate and fired."""
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self) -> int:
        return self._call("DELETE", "/faults")["cleared"]

    def deliveries(self, out_trade_no: str | None = None, status: str | None = None) -> list[dict]:
        params = {name: value for name, value in (("out_trade_no", out_trade_no), ("status", status)) if value}
        return self._call("GET", "/deliveries", params=params or None)["deliveries"]

    def run_deliveries(self) -> list[str]:
        """Send every due notification now (handy with SANDBOX_DELIVERY_WORKER=False)."""
        return self._call("POST", "/deliveries/run")["ran"]

    def wait_deliveries(self, out_trade_no: str | None = None, *, count: int = 1,
                        until=lambda d: d["status"] != "pending", timeout: float = 10.0) -> list[dict]:
        """Wait until at least `count` deliveries (of this order) satisfy `until`; return them all."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(out_trade_no)
            if sum(1 for delivery in found if until(delivery)) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"deliveries not settled in {timeout}s: {found}")
            time.sleep(0.02)

    def sdk_kwargs(self, mode: str = "public_key") -> dict:
        """Constructor arguments for wechatpayv3.WeChatPay (public-key mode unless 'certificate')."""
        kwargs = {
            "mchid": self.keys.mchid,
            "private_key": self.keys.merchant_private_key_path.read_text(encoding="ascii"),
            "cert_serial_no": self.keys.merchant_serial_no,
            "appid": self.keys.appid,
            "apiv3_key": self.keys.apiv3_key,
        }
        if mode == "public_key":
            kwargs["public_key"] = self.keys.platform_public_key_path.read_text(encoding="ascii")
            kwargs["public_key_id"] = self.keys.public_key_id
        return kwargs

    # -- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.runtime.stopping.set()  # release requests held by the hang fault
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=2)
        self.runtime.stop()
        self._http.close()

    def __enter__(self) -> "RunningSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_sandbox(directory, port: int = 0, **config) -> RunningSandbox:
    """Start a sandbox with its keys (directory/keys) and database (directory/sandbox.sqlite3).

    Config keys are create_app's (SANDBOX_TIME_SCALE defaults to 1000 here, for fast retries). ``port`` 0
    picks a free one; starting again on the same port and directory brings the same sandbox back.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    settings = {
        "SANDBOX_KEY_DIR": str(directory / "keys"),
        "SANDBOX_DATABASE": str(directory / "sandbox.sqlite3"),
        "SANDBOX_TIME_SCALE": TEST_TIME_SCALE,
    }
    settings.update(config)
    app = create_app(settings)
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_QuietHandler)
    settings_url = config.get("SANDBOX_PUBLIC_URL")
    running = RunningSandbox(app, server)
    if not settings_url:  # links on the pages should point at this server
        running.configure(SANDBOX_PUBLIC_URL=running.url)
    running.initial_settings = dict(running.runtime.settings)  # what reset() restores
    return running
