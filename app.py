"""The shop's application factory; `python app.py` runs the development stack."""
import os
import time

from flask import Flask, current_app, jsonify, render_template, request
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

import config as config_module
from blueprints.page_cache import init_page_cache
from blueprints.page_lean_path import StoredPageLeanPath
from blueprints.pay.page_cache import init_pay_page_cache
from blueprints.pay.status_poll import StatusPollLeanPath
from extensions import DATABASE_DOWN, csrf, db, limiter, login_manager
from http_policy import NO_STORE, configure_logging, register_http_policy
from session_cookie import RememberingSessionInterface
from sqlite_writers import QueuedWriterConnection
from templating import register_template_helpers


def create_app(config=None, *, migrations=True):
    """Create the shop. ``config`` is a dict of overrides; SHOP_ENV picks the base class. ``migrations``
    adds Flask-Migrate's ``flask db`` commands; the web workers (wsgi.py) never migrate, and leave out
    Alembic's 11 MiB per process."""
    config = dict(config or {})
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR), instance_relative_config=True)
    settings_class = config_module.config_class(config.pop("ENV", None))
    app.config.from_object(settings_class)
    app.config.update(config)
    settings_class.init(app.config)
    os.makedirs(app.instance_path, exist_ok=True)
    app.session_interface = RememberingSessionInterface()
    # The most frequent requests are answered below Flask when they can be (blueprints/lean_path.py)
    app.wsgi_app = StoredPageLeanPath(app, StatusPollLeanPath(app, app.wsgi_app))
    if app.config["PROXY_COUNT"]:
        # Behind nginx: take the client's IP and scheme from the proxy's headers, trusting only it. The host
        # comes from the Host header nginx sets; X-Forwarded-Host only when PROXY_TRUST_HOST says so.
        n = app.config["PROXY_COUNT"]
        x_host = n if app.config["PROXY_TRUST_HOST"] else 0
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=x_host)

    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app, migrations)
    register_template_helpers(app)
    register_http_policy(app)
    return app


def register_extensions(app):
    import models  # noqa: F401  (registers every table on the metadata)
    import services.rate_limits  # noqa: F401  (registers the shopdb:// rate-limit storage)

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    sqlite = url.get_backend_name() == "sqlite"
    pooled = url.database not in (None, "", ":memory:")  # an in-memory SQLite has one connection, no pool
    if sqlite:
        # A file on this machine: no server can drop a pooled connection, so nothing to ping before use.
        options["pool_pre_ping"] = False
    if sqlite and pooled:  # writers take turns on a lock that wakes the next at once (sqlite_writers.py)
        options["connect_args"] = {**options.get("connect_args", {}), "factory": QueuedWriterConnection}
    if pooled:
        # Room for the reconcile job's threads beside the other jobs; a pool opens connections only when asked.
        options.setdefault("max_overflow", int(app.config["RECONCILE_CONCURRENCY"]) + 10)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)

    @app.teardown_appcontext
    def end_session(_error):
        """End the request's transaction; a connection the database killed meanwhile is thrown away.

        Registered after Flask-SQLAlchemy's teardown, so it runs first: a failed ROLLBACK there would
        turn a page already rendered into a 500. A request that never used the session has none to end.
        """
        if not db.session.registry.has():
            return
        try:
            db.session.close()
        except SQLAlchemyError:
            db.session().invalidate()

    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    # The shop sets no default or application-wide limits: each limited view is checked by its own
    # @limiter.limit wrapper, so the per-request check of Flask-Limiter's before_request has nothing to do.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    init_page_cache(app)
    init_pay_page_cache(app)


def register_blueprints(app):
    from blueprints.admin import bp as admin_bp
    from blueprints.cart import bp as cart_bp
    from blueprints.catalog import bp as catalog_bp
    from blueprints.checkout import bp as checkout_bp
    from blueprints.health import bp as health_bp
    from blueprints.info import bp as info_bp
    from blueprints.media import bp as media_bp
    from blueprints.orders import bp as orders_bp
    from blueprints.pay import bp as pay_bp
    from blueprints.webhooks import bp as webhooks_bp

    for blueprint in (catalog_bp, cart_bp, checkout_bp, pay_bp, orders_bp, info_bp, webhooks_bp, admin_bp,
                      health_bp, media_bp):
        app.register_blueprint(blueprint)


def register_errorhandlers(app):
    from flask_wtf.csrf import CSRFError

    def render_error(error):
        code = getattr(error, "code", 500) or 500
        retry_after = None
        if code == 429 and limiter.current_limit:  # Flask-Limiter adds the Retry-After header itself
            retry_after = max(1, int(limiter.current_limit.reset_at - time.time()))
        return render_template("errors/error.html", code=code, error=error, retry_after=retry_after), code

    for code in (400, 403, 404, 405, 413, 429, 500):
        app.register_error_handler(code, render_error)

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_template("errors/error.html", code=400, error=error, csrf=True), 400

    for database_down in DATABASE_DOWN:
        app.register_error_handler(database_down, database_unavailable)


RETRY_AFTER_SECONDS = "5"


def database_unavailable(error):
    """503 without touching the database again: JSON for machines, a plain retry page for people."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        pass
    app = current_app
    app.logger.error("database unavailable during %s %s: %s", request.method, request.path, type(error).__name__)
    headers = {"Retry-After": RETRY_AFTER_SECONDS, "Cache-Control": NO_STORE}
    if request.blueprint == "webhooks":  # WeChat Pay retries a failed notification on its schedule
        return jsonify(code="FAIL", message="系统繁忙"), 503, headers
    if request.endpoint == "pay.status":
        return jsonify(status="unavailable", message="系统繁忙，请稍后"), 503, headers
    # Straight from the Jinja environment: the context processors (cart badge, login) would query again.
    page = app.jinja_env.get_template("errors/unavailable.html").render(shop_name=app.config["SHOP_NAME"])
    return page, 503, headers


def register_commands(app, migrations: bool):
    from blueprints.admin.commands import create_owner
    from commands import seed_demo
    from jobs.scheduler import jobs_cli

    app.cli.add_command(seed_demo)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(create_owner)
    if migrations:  # `flask db …`
        from flask_migrate import Migrate

        Migrate(app, db, render_as_batch=True)


def run_development_stack():
    """Serve the shop on :5000 with the sandbox beside it on :5001 and the jobs embedded."""
    import atexit
    import subprocess
    import sys
    from pathlib import Path

    from blueprints.admin.commands import dev_owner_banner

    configure_logging()
    app = create_app()
    print(dev_owner_banner(app))
    sandbox_command = Path(sys.executable).with_name("wechatpay-sandbox")  # installed by requirements-dev.txt
    sandbox = subprocess.Popen([
        str(sandbox_command), "--port", str(app.config["SANDBOX_PORT"]), "--keys", app.config["SANDBOX_KEY_DIR"],
        "--database", str(config_module.INSTANCE_DIR / "sandbox.sqlite3"),
        "--public-url", app.config["SANDBOX_PUBLIC_URL"],
    ])
    atexit.register(sandbox.terminate)
    if app.config["SCHEDULER_EMBEDDED"]:
        from jobs.scheduler import start_background_scheduler

        start_background_scheduler(app)
    print(f" * 商店: http://127.0.0.1:5000   沙箱(微信支付模拟): {app.config['SANDBOX_PUBLIC_URL']}")
    app.run(host="127.0.0.1", port=5000, threaded=True, use_reloader=False)


if __name__ == "__main__":
    run_development_stack()
