"""A local emulator of WeChat Pay API v3 that unmodified clients cannot tell from the real service except
by its base URL and keys. Run it with `wechatpay-sandbox --port 5001` (or `flask --app wechatpay_sandbox run`).
"""

from __future__ import annotations

from flask import Flask

from . import api, control, pages, settings
from .runtime import Runtime
from .worker import Worker


def create_app(config: dict | None = None) -> Flask:
    """Create the sandbox app; generate its keys on first start; start the delivery worker."""
    effective = settings.load(config)
    app = Flask(__name__)
    app.config.update(effective)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    runtime = Runtime(effective)
    app.extensions["sandbox"] = runtime
    api.register(app)
    app.register_blueprint(control.bp)
    app.register_blueprint(pages.bp)
    if effective["SANDBOX_DELIVERY_WORKER"]:
        runtime.worker = Worker(runtime)
        runtime.worker.start()
    return app
