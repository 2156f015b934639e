"""Sandbox settings: defaults, overridden by env vars of the same name, overridden by create_app(config).

Paths default to the working directory (never to a project's folders). Most settings can also be
changed while the sandbox runs (`PATCH /sandbox/api/settings`); `STARTUP_ONLY` ones cannot.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import urlsplit

from . import registered, validation

DATA_DIR = "wechatpay-sandbox"  # created in the working directory when no path is configured
KEY_MODES = ("public_key", "certificate")
STARTUP_ONLY = ("SANDBOX_KEY_DIR", "SANDBOX_DATABASE", "SANDBOX_DELIVERY_WORKER")


def defaults() -> dict:
    data = Path.cwd() / DATA_DIR
    return {
        "SANDBOX_KEY_DIR": str(data / "keys"),
        "SANDBOX_DATABASE": str(data / "sandbox.sqlite3"),
        "SANDBOX_TIME_SCALE": 60.0,  # retry delays and the refund delay are divided by this
        # The merchant's key mode: which key signs answers to requests without Wechatpay-Serial, and
        # every notification. "public_key" (微信支付公钥) or "certificate" (平台证书).
        "SANDBOX_KEY_MODE": "public_key",
        "SANDBOX_PUBLIC_URL": "http://127.0.0.1:5001",
        "SANDBOX_MERCHANT_NAME": "演示小店",
        "SANDBOX_NOTIFY_TIMEOUT": 5.0,  # seconds the merchant has to answer a notification
        "SANDBOX_DELIVERY_WORKER": True,  # start the background delivery thread
        # The refund callback set on the merchant platform: REFUND.* for refunds created without notify_url.
        "SANDBOX_REFUND_NOTIFY_URL": "",
        # Host names the sandbox answers besides 127.0.0.1, localhost, ::1 and SANDBOX_PUBLIC_URL's host.
        "SANDBOX_ALLOWED_HOSTS": (),
        # What the merchant registered with WeChat (see registered.py for the entry syntax and rules):
        "SANDBOX_OAUTH_DOMAINS": ("127.0.0.1", "localhost"),  # 网页授权域名
        "SANDBOX_JSAPI_PAY_DIRS": ("127.0.0.1/pay/", "localhost/pay/"),  # 支付授权目录
        "SANDBOX_H5_DOMAINS": ("127.0.0.1", "localhost"),  # H5 支付域名
        # Trade bills are ready this many hours after their day began (Beijing time): 33 is 09:00 the next
        # day, as on WeChat; 0 makes a day's bill (of what happened so far) ready from its start.
        "SANDBOX_BILL_READY_HOURS": 33.0,
    }


def _coerce(value, default):
    """Coerce a value from the environment (text) or from code / JSON to the default's type, or raise
    ValueError: a JSON list or object never becomes a path or a name."""
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() not in ("0", "false", "no", "off", "")
        if isinstance(value, int):
            return bool(value)
    elif isinstance(default, float):
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number):
                return number
    elif isinstance(default, tuple):
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, (list, tuple)) and all(isinstance(item, str) for item in items):
            return tuple(item.strip() for item in items if item.strip())
    elif isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    raise ValueError(f"wrong type of value: {value!r:.60}")


def _check(settings: dict) -> dict:
    if settings["SANDBOX_TIME_SCALE"] <= 0:
        raise ValueError("SANDBOX_TIME_SCALE must be > 0")
    if settings["SANDBOX_BILL_READY_HOURS"] < 0:
        raise ValueError("SANDBOX_BILL_READY_HOURS must be >= 0")
    if settings["SANDBOX_NOTIFY_TIMEOUT"] <= 0:
        raise ValueError("SANDBOX_NOTIFY_TIMEOUT must be > 0")
    if settings["SANDBOX_KEY_MODE"] not in KEY_MODES:
        raise ValueError("SANDBOX_KEY_MODE must be 'public_key' or 'certificate'")
    refund_url = settings["SANDBOX_REFUND_NOTIFY_URL"]
    problem = refund_url and validation.notify_url_problem(refund_url)
    if problem:
        raise ValueError(f"SANDBOX_REFUND_NOTIFY_URL {problem}")
    public = urlsplit(settings["SANDBOX_PUBLIC_URL"])
    if public.scheme not in ("http", "https") or not public.hostname:
        raise ValueError("SANDBOX_PUBLIC_URL must be an http(s) URL")
    settings["SANDBOX_PUBLIC_URL"] = settings["SANDBOX_PUBLIC_URL"].rstrip("/")
    settings["SANDBOX_ALLOWED_HOSTS"] = tuple(host.lower() for host in settings["SANDBOX_ALLOWED_HOSTS"])
    for name in ("SANDBOX_OAUTH_DOMAINS", "SANDBOX_H5_DOMAINS"):
        settings[name] = tuple(registered.check_domain(entry) for entry in settings[name])
    settings["SANDBOX_JSAPI_PAY_DIRS"] = tuple(registered.check_directory(entry)
                                               for entry in settings["SANDBOX_JSAPI_PAY_DIRS"])
    return settings


def load(config: dict | None = None) -> dict:
    """Return the effective settings, each coerced to its default's type, and check them."""
    base = defaults()
    settings = dict(base)
    for name in base:
        if name in os.environ:
            settings[name] = _coerce(os.environ[name], base[name])
    for name, value in (config or {}).items():
        settings[name] = _coerce(value, base[name]) if name in base else value
    return _check(settings)


def changed(current: dict, changes: dict) -> dict:
    """Return current with changes applied (a run-time change); raise ValueError on a bad one."""
    if not isinstance(changes, dict):
        raise ValueError("settings must be a JSON object")
    base = defaults()
    for name in changes:
        if name not in base:
            raise ValueError(f"unknown setting {name}")
        if name in STARTUP_ONLY:
            raise ValueError(f"{name} can only be set at start-up")
    return _check({**current, **{name: _coerce(value, base[name]) for name, value in changes.items()}})


def public(settings: dict) -> dict:
    """The settings as JSON for the control API (lists for tuples)."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in settings.items()
            if name.startswith("SANDBOX_")}


def database_url(value: str) -> str:
    """Accept an SQLAlchemy URL or a file path."""
    if "://" in value:
        return value
    path = Path(value).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"
