"""Configuration classes read from environment variables.

Secrets (SECRET_KEY, WeChat Pay keys) come from the environment or from files in
``instance/``; nothing secret has a usable production default.
"""
import json
import os
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"
DEV_SECRET_KEY = "dev-only-not-secret"
REAL_WECHATPAY_URL = "https://api.mch.weixin.qq.com"
REQUIRED_WECHATPAY_SETTINGS = (
    "WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_PRIVATE_KEY_FILE",
    "WECHATPAY_APIV3_KEY_FILE",
)


def env(name, default=None):
    return os.environ.get(name, default)


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_bool(name, default):
    value = os.environ.get(name)
    return default if value is None else value.lower() in {"1", "true", "yes", "on"}


def database_url(default):
    """DATABASE_URL, with plain postgres:// URLs pointed at psycopg 3 (the driver we install)."""
    url = os.environ.get("DATABASE_URL") or default
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Config:
    SECRET_KEY = env("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = database_url(f"sqlite:///{INSTANCE_DIR / 'shop.sqlite3'}")
    SHOP_NAME = env("SHOP_NAME", "小满杂货铺")
    CATALOG_PAGE_SIZE = env_int("CATALOG_PAGE_SIZE", 8)
    CART_MAX_QUANTITY = 99
    # Minutes a customer has to pay before the order is closed and its stock released.
    ORDER_PAY_TIMEOUT = env_int("ORDER_PAY_TIMEOUT", 30)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(days=7)
    MAX_CONTENT_LENGTH = 1024 * 1024

    # WeChat Pay API v3. Key material is read from files so it never sits in the environment or git.
    WECHATPAY_URL = env("WECHATPAY_URL", REAL_WECHATPAY_URL)
    WECHATPAY_MCHID = env("WECHATPAY_MCHID")
    WECHATPAY_APPID = env("WECHATPAY_APPID")
    WECHATPAY_CERT_SERIAL_NO = env("WECHATPAY_CERT_SERIAL_NO")
    WECHATPAY_PRIVATE_KEY_FILE = env("WECHATPAY_PRIVATE_KEY_FILE")
    WECHATPAY_APIV3_KEY_FILE = env("WECHATPAY_APIV3_KEY_FILE")
    # Public-key mode (recommended): the WeChat Pay public key and its PUB_KEY_ID_...
    WECHATPAY_PUBLIC_KEY_FILE = env("WECHATPAY_PUBLIC_KEY_FILE")
    WECHATPAY_PUBLIC_KEY_ID = env("WECHATPAY_PUBLIC_KEY_ID")
    # Certificate mode: a folder of platform certificates (*.pem) kept up to date by the SDK.
    WECHATPAY_CERT_DIR = env("WECHATPAY_CERT_DIR")
    WECHATPAY_NOTIFY_URL = env("WECHATPAY_NOTIFY_URL")
    WECHATPAY_TIMEOUT = (env_int("WECHATPAY_CONNECT_TIMEOUT", 5), env_int("WECHATPAY_READ_TIMEOUT", 10))
    # Where the sandbox's "phone" page lives; only the pay page's development link uses it.
    SANDBOX_PUBLIC_URL = env("SANDBOX_PUBLIC_URL")
    # Run the APScheduler jobs inside this process (development only; production runs `flask jobs run`).
    SCHEDULER_EMBEDDED = False
    # Background jobs; see README "Background jobs".
    JOBS_INTERVAL_SECONDS = env_int("JOBS_INTERVAL_SECONDS", 30)
    JOBS_BATCH_SIZE = env_int("JOBS_BATCH_SIZE", 50)
    JOBS_CLAIM_SECONDS = env_int("JOBS_CLAIM_SECONDS", 120)
    JOBS_RETRY_SECONDS = env_int("JOBS_RETRY_SECONDS", 60)
    RECONCILE_BACKOFF_MINUTES = [float(m) for m in env("RECONCILE_BACKOFF_MINUTES", "1,3,5,10").split(",")]
    SHIP_DELAY_MINUTES = env_int("SHIP_DELAY_MINUTES", 0)
    # How many reverse proxies (nginx) stand in front; their X-Forwarded-* headers are trusted.
    PROXY_COUNT = env_int("PROXY_COUNT", 0)

    @classmethod
    def init(cls, settings):
        """Finish settings that depend on other settings; raise on unsafe ones."""


class DevelopmentConfig(Config):
    """Local development: SQLite in instance/, the sandbox with generated keys, embedded jobs."""

    DEBUG = False
    SANDBOX_PORT = env_int("SANDBOX_PORT", 5001)
    SANDBOX_KEY_DIR = env("SANDBOX_KEY_DIR", str(INSTANCE_DIR / "wechatpay"))
    WECHATPAY_URL = env("WECHATPAY_URL", f"http://127.0.0.1:{SANDBOX_PORT}")
    WECHATPAY_NOTIFY_URL = env("WECHATPAY_NOTIFY_URL", "http://127.0.0.1:5000/pay/notify")
    SANDBOX_PUBLIC_URL = env("SANDBOX_PUBLIC_URL", f"http://127.0.0.1:{SANDBOX_PORT}")
    SCHEDULER_EMBEDDED = env_bool("SCHEDULER_EMBEDDED", True)

    @classmethod
    def init(cls, settings):
        use_sandbox_keys(settings)


class TestingConfig(DevelopmentConfig):
    TESTING = True
    SQLALCHEMY_DATABASE_URI = database_url("sqlite://")
    SCHEDULER_EMBEDDED = False
    # Tests start their own sandbox and pass its key folder in; none by default.
    SANDBOX_KEY_DIR = None

    @classmethod
    def init(cls, settings):
        if settings.get("SANDBOX_KEY_DIR"):
            use_sandbox_keys(settings)


class ProductionConfig(Config):
    PROXY_COUNT = env_int("PROXY_COUNT", 1)
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"

    @classmethod
    def init(cls, settings):
        if not settings.get("SECRET_KEY") or settings["SECRET_KEY"] == DEV_SECRET_KEY:
            raise RuntimeError("Production needs SECRET_KEY set to a long random value.")
        missing = [name for name in REQUIRED_WECHATPAY_SETTINGS if not settings.get(name)]
        if missing:
            raise RuntimeError("Production needs the WeChat Pay settings: " + ", ".join(missing))
        notify_url = settings.get("WECHATPAY_NOTIFY_URL") or ""
        if not notify_url.startswith("https://"):
            raise RuntimeError("Production needs WECHATPAY_NOTIFY_URL set to the shop's public https URL.")


def use_sandbox_keys(settings):
    """Point the WeChat Pay settings at a sandbox key folder unless real keys are configured.

    The folder's layout is the sandbox's documented contract (sandbox/README.md, "The key folder"):
    ids.json, written last, plus fixed file names. Not generated yet: WeChat Pay stays unconfigured
    (`make run` generates it first).
    """
    if settings.get("WECHATPAY_PRIVATE_KEY_FILE"):
        return
    folder = Path(settings["SANDBOX_KEY_DIR"])
    try:
        ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    settings.update(
        WECHATPAY_MCHID=ids["mchid"],
        WECHATPAY_APPID=ids["appid"],
        WECHATPAY_CERT_SERIAL_NO=ids["merchant_serial_no"],
        WECHATPAY_PRIVATE_KEY_FILE=str(folder / "merchant_key.pem"),
        WECHATPAY_APIV3_KEY_FILE=str(folder / "apiv3_key"),
        WECHATPAY_PUBLIC_KEY_FILE=str(folder / "platform_public_key.pem"),
        WECHATPAY_PUBLIC_KEY_ID=ids["public_key_id"],
    )


CONFIGS = {"development": DevelopmentConfig, "testing": TestingConfig, "production": ProductionConfig}


def config_class(name=None):
    return CONFIGS[name or env("SHOP_ENV", "development")]
