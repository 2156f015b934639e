"""The running sandbox's state, shared by its routes and its delivery worker."""

from __future__ import annotations

import threading
from datetime import timedelta

from cryptography.hazmat.primitives import serialization

from . import crypto, settings
from .db import Database
from .keys import SandboxKeys, ensure_keys


class Runtime:
    def __init__(self, config: dict):
        self.settings = config
        self.keys: SandboxKeys = ensure_keys(config["SANDBOX_KEY_DIR"])
        # Our own generated key: skip OpenSSL's RSA consistency check (~30 ms on every start).
        self.platform_key = serialization.load_pem_private_key(
            self.keys.platform_private_key_path.read_bytes(), password=None,
            unsafe_skip_rsa_key_validation=True)
        self.merchant_public_key = crypto.load_public_key(self.keys.merchant_public_key_path.read_bytes())
        self.platform_cert_pem = self.keys.platform_cert_path.read_text(encoding="ascii")
        self.db = Database(settings.database_url(config["SANDBOX_DATABASE"]))
        # Set on stop: wakes requests held by the "hang" fault so shutdown is quick.
        self.stopping = threading.Event()
        self.worker = None  # set by create_app when SANDBOX_DELIVERY_WORKER is on

    def configure(self, changes: dict) -> dict:
        """Change settings while running (raises ValueError); the new dict replaces the old at once."""
        self.settings = settings.changed(self.settings, changes)
        return self.settings

    @property
    def time_scale(self) -> float:
        return self.settings["SANDBOX_TIME_SCALE"]

    @property
    def notify_timeout(self) -> float:
        return self.settings["SANDBOX_NOTIFY_TIMEOUT"]

    @property
    def key_mode(self) -> str:
        return self.settings["SANDBOX_KEY_MODE"]

    @property
    def merchant_name(self) -> str:
        return self.settings["SANDBOX_MERCHANT_NAME"]

    @property
    def public_url(self) -> str:
        return self.settings["SANDBOX_PUBLIC_URL"]

    @property
    def refund_notify_url(self) -> str | None:
        return self.settings["SANDBOX_REFUND_NOTIFY_URL"] or None

    @property
    def oauth_domains(self) -> tuple[str, ...]:
        return self.settings["SANDBOX_OAUTH_DOMAINS"]

    @property
    def jsapi_pay_dirs(self) -> tuple[str, ...]:
        return self.settings["SANDBOX_JSAPI_PAY_DIRS"]

    @property
    def h5_domains(self) -> tuple[str, ...]:
        return self.settings["SANDBOX_H5_DOMAINS"]

    @property
    def bill_ready_after(self) -> timedelta:
        return timedelta(hours=self.settings["SANDBOX_BILL_READY_HOURS"])

    def scaled(self, seconds: float) -> timedelta:
        """A real-world delay divided by the time scale."""
        return timedelta(seconds=seconds / self.time_scale)

    def mode_serial(self) -> str:
        """The serial of the key the merchant's mode signs with: notifications, and answers by default."""
        if self.key_mode == "certificate":
            return self.keys.platform_cert_serial
        return self.keys.public_key_id

    def response_serial(self, requested: str | None) -> str:
        """Answer under the key the request's Wechatpay-Serial names if it is ours, else the mode's.

        Both serials name the same platform key pair, so only the header the client looks up changes.
        """
        if requested == self.keys.public_key_id:
            return self.keys.public_key_id
        if requested and requested.upper() == self.keys.platform_cert_serial.upper():
            return self.keys.platform_cert_serial
        return self.mode_serial()

    def wake_worker(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def stop(self) -> None:
        self.stopping.set()
        if self.worker is not None:
            self.worker.stop()
        self.db.dispose()
