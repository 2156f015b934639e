"""A local emulator of WeChat Pay API v3 that unmodified clients cannot tell from the real service except
by its base URL and keys. Run it with `wechatpay-sandbox --port 5001` (or `flask --app wechatpay_sandbox run`).
"""

from __future__ import annotations

from flask import Flask

from . import api, bridge, control, h5, oauth, pages, settings
from .hosts import HostGuard
from .runtime import Runtime
from .worker import Worker


def create_app(config: dict | None = None) -> Flask:
    """Create the sandbox app; generate its keys on first start; start the delivery worker."""
    effective = settings.load(config)
    app = Flask(__name__)
    # SANDBOX_* settings live on the runtime (they can change while running); the rest is Flask's.
    app.config.update({name: value for name, value in effective.items() if not name.startswith("SANDBOX_")})
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    runtime = Runtime(effective)
    app.extensions["sandbox"] = runtime
    app.wsgi_app = HostGuard(app.wsgi_app, runtime)
    api.register(app)
    app.register_blueprint(control.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(bridge.bp)
    app.register_blueprint(h5.bp)
    if effective["SANDBOX_DELIVERY_WORKER"]:
        runtime.worker = Worker(runtime)
        runtime.worker.start()
    return app
