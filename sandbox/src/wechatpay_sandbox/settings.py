"""Sandbox settings: defaults, overridden by env vars of the same name, overridden by create_app(config).

Paths default to the working directory (never to a project's folders).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = "wechatpay-sandbox"  # created in the working directory when no path is configured


def defaults() -> dict:
    data = Path.cwd() / DATA_DIR
    return {
        "SANDBOX_KEY_DIR": str(data / "keys"),
        "SANDBOX_DATABASE": str(data / "sandbox.sqlite3"),
        "SANDBOX_TIME_SCALE": 60.0,  # retry delays and the refund delay are divided by this
        "SANDBOX_NOTIFY_KEY_MODE": "public_key",  # or "certificate": the serial notifications carry
        "SANDBOX_PUBLIC_URL": "http://127.0.0.1:5001",
        "SANDBOX_MERCHANT_NAME": "演示小店",
        "SANDBOX_NOTIFY_TIMEOUT": 5.0,  # seconds the merchant has to answer a notification
        "SANDBOX_DELIVERY_WORKER": True,  # start the background delivery thread
    }


def _coerce(name: str, value, default):
    if isinstance(default, bool):
        if isinstance(value, str):
            return value.strip().lower() not in ("0", "false", "no", "off", "")
        return bool(value)
    if isinstance(default, float):
        return float(value)
    return str(value)


def load(config: dict | None = None) -> dict:
    """Return the effective settings, each coerced to its default's type, and check them."""
    base = defaults()
    settings = dict(base)
    for name in base:
        if name in os.environ:
            settings[name] = _coerce(name, os.environ[name], base[name])
    for name, value in (config or {}).items():
        settings[name] = _coerce(name, value, base[name]) if name in base else value
    if settings["SANDBOX_TIME_SCALE"] <= 0:
        raise ValueError("SANDBOX_TIME_SCALE must be > 0")
    if settings["SANDBOX_NOTIFY_TIMEOUT"] <= 0:
        raise ValueError("SANDBOX_NOTIFY_TIMEOUT must be > 0")
    if settings["SANDBOX_NOTIFY_KEY_MODE"] not in ("public_key", "certificate"):
        raise ValueError("SANDBOX_NOTIFY_KEY_MODE must be 'public_key' or 'certificate'")
    settings["SANDBOX_PUBLIC_URL"] = settings["SANDBOX_PUBLIC_URL"].rstrip("/")
    return settings


def database_url(value: str) -> str:
    """Accept an SQLAlchemy URL or a file path."""
    if "://" in value:
        return value
    path = Path(value).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"
