"""Configuration classes read from environment variables.

Secrets (SECRET_KEY, WeChat Pay keys) come from the environment or from files in
``instance/``; nothing secret has a usable default outside development. What production and staging
refuse to start with is in settings_check.py.
"""
import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"
# Public (it is in git): only development may sign sessions with it.
DEV_SECRET_KEY = "dev-only-not-secret"
# WeChat Pay's API and its backup host: the only URLs production accepts.
WECHATPAY_API_URLS = ("https://api.mch.weixin.qq.com", "https://api2.mch.weixin.qq.com")


def env(name, default=None):
    return os.environ.get(name, default)


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_minutes(name, default):
    """A number of minutes; fractions allowed (0.5 = 30 s, for load tests), whole numbers stay whole ("30")."""
    value = float(os.environ.get(name, default))
    return int(value) if value.is_integer() else value


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
    SECRET_KEY = env("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = database_url(f"sqlite:///{INSTANCE_DIR / 'shop.sqlite3'}")
    # Test a pooled connection before handing it out: one killed by a database restart is replaced.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    SHOP_NAME = env("SHOP_NAME", "小满杂货铺")
    CATALOG_PAGE_SIZE = env_int("CATALOG_PAGE_SIZE", 8)
    # Rendered catalog pages kept per web process (blueprints/page_cache.py); 0 turns the cache off.
    PAGE_CACHE_SIZE = env_int("PAGE_CACHE_SIZE", 256)
    # Abuse limits (README "Limits"). Most units of one product in one order:
    CART_MAX_QUANTITY = env_int("CART_MAX_QUANTITY", 20)
    # Most orders waiting for payment at once, per browser and per IP address (carrier NAT shares IPs).
    MAX_PENDING_ORDERS_PER_VISITOR = env_int("MAX_PENDING_ORDERS_PER_VISITOR", 5)
    MAX_PENDING_ORDERS_PER_IP = env_int("MAX_PENDING_ORDERS_PER_IP", 50)
    # Requests per IP address (Flask-Limiter syntax), shared by every worker through RATELIMIT_STORAGE_URI.
    RATELIMIT_CHECKOUT = env("RATELIMIT_CHECKOUT", "60 per minute")
    RATELIMIT_PAY_ACTIONS = env("RATELIMIT_PAY_ACTIONS", "30 per minute")
    # Active queries of WeChat Pay started by status polls, across all processes.
    ACTIVE_QUERIES_PER_SECOND = env_int("ACTIVE_QUERIES_PER_SECOND", 20)
    RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", "shopdb://")
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STRATEGY = "fixed-window"
    # A counter store that fails must not take checkout down with it (the database has its own alarms).
    RATELIMIT_SWALLOW_ERRORS = True
    # Shipping (integer fen): a flat fee per order, free once the lines reach FREE_SHIPPING_OVER_FEN
    # (满 N 元包邮; 0 = no threshold). SHIPPING_FEE_FEN=0 ships everything free.
    SHIPPING_FEE_FEN = env_int("SHIPPING_FEE_FEN", 0)
    FREE_SHIPPING_OVER_FEN = env_int("FREE_SHIPPING_OVER_FEN", 0)
    # Shop information for customers (footer, order pages, policy pages): customer service by phone and by
    # WeChat ID, the ICP 备案号 every site served in mainland China shows, and the policy texts (files of
    # plain text; empty: the shop's default wording, which states the shipping settings above).
    SERVICE_PHONE = env("SERVICE_PHONE", "")
    SERVICE_WECHAT = env("SERVICE_WECHAT", "")
    SERVICE_HOURS = env("SERVICE_HOURS", "每天 9:00–21:00")
    ICP_NUMBER = env("ICP_NUMBER", "")
    SHIPPING_POLICY_FILE = env("SHIPPING_POLICY_FILE", "")
    RETURN_POLICY_FILE = env("RETURN_POLICY_FILE", "")
    # 我的订单: how many orders a browser remembers (newest first), and lookups by order number and mobile.
    MY_ORDERS_MAX = env_int("MY_ORDERS_MAX", 20)
    RATELIMIT_ORDER_LOOKUP = env("RATELIMIT_ORDER_LOOKUP", "5 per minute; 30 per hour")
    # Minutes a customer has to pay before the order is closed and its stock released.
    ORDER_PAY_TIMEOUT = env_minutes("ORDER_PAY_TIMEOUT", 30)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(days=7)
    # Owner login limits (services/owner_login.py): failures of one user name from one address within the
    # window lock it there until they age out; failures from all addresses together lock the account.
    LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
    LOGIN_FAILURE_WINDOW_MINUTES = env_int("LOGIN_FAILURE_WINDOW_MINUTES", 15)
    LOGIN_ACCOUNT_MAX_FAILURES = env_int("LOGIN_ACCOUNT_MAX_FAILURES", 20)
    LOGIN_ACCOUNT_WINDOW_MINUTES = env_int("LOGIN_ACCOUNT_WINDOW_MINUTES", 15)
    LOGIN_ACCOUNT_LOCK_MINUTES = env_int("LOGIN_ACCOUNT_LOCK_MINUTES", 15)
    MAX_CONTENT_LENGTH = 1024 * 1024
    # The currency of every amount the shop sends to WeChat Pay and accepts from it.
    CURRENCY = "CNY"

    # WeChat Pay API v3. Key material is read from files so it never sits in the environment or git.
    WECHATPAY_URL = env("WECHATPAY_URL", WECHATPAY_API_URLS[0])
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
    # The official account's web OAuth (网页授权) for JSAPI payments inside WeChat: its AppID is
    # WECHATPAY_APPID; without an AppSecret the shop offers the QR code inside WeChat instead.
    WECHAT_APPSECRET_FILE = env("WECHAT_APPSECRET_FILE")
    WECHAT_OAUTH_URL = env("WECHAT_OAUTH_URL", "https://open.weixin.qq.com/connect/")
    WECHAT_API_URL = env("WECHAT_API_URL", "https://api.weixin.qq.com/")
    # Development only: the sandbox's WeixinJSBridge emulation, loaded by pages shown to WeChat's browser
    # (real WeChat brings its own bridge).
    WECHAT_JSBRIDGE_URL = None
    WECHATPAY_NOTIFY_URL = env("WECHATPAY_NOTIFY_URL")
    WECHATPAY_TIMEOUT = (env_int("WECHATPAY_CONNECT_TIMEOUT", 5), env_int("WECHATPAY_READ_TIMEOUT", 10))
    # Where the sandbox's "phone" page lives; only the pay page's development link uses it.
    SANDBOX_PUBLIC_URL = env("SANDBOX_PUBLIC_URL")
    # Run the APScheduler jobs inside this process (development only; production runs `flask jobs run`).
    SCHEDULER_EMBEDDED = False
    # Background jobs; see README "Background jobs".
    JOBS_INTERVAL_SECONDS = env_int("JOBS_INTERVAL_SECONDS", 30)
    # Rows one job run handles at most: a flash sale's 1,000 due orders in one reconcile sweep, not twenty.
    JOBS_BATCH_SIZE = env_int("JOBS_BATCH_SIZE", 1000)
    JOBS_CLAIM_SECONDS = env_int("JOBS_CLAIM_SECONDS", 120)
    JOBS_RETRY_SECONDS = env_int("JOBS_RETRY_SECONDS", 60)
    # WeChat Pay queries the reconcile job keeps in flight at once: each waits on the network, not the CPU.
    RECONCILE_CONCURRENCY = env_int("RECONCILE_CONCURRENCY", 16)
    RECONCILE_BACKOFF_MINUTES = [float(m) for m in env("RECONCILE_BACKOFF_MINUTES", "1,3,5,10").split(",")]
    SHIP_DELAY_MINUTES = env_minutes("SHIP_DELAY_MINUTES", 0)
    # Daily reconciliation with WeChat Pay's trade bill: after this Beijing time (bills are ready from
    # 09:00 the next day), for the last BILL_LOOKBACK_DAYS days not yet compared.
    BILL_RECONCILE_TIME = env("BILL_RECONCILE_TIME", "10:00")
    BILL_LOOKBACK_DAYS = env_int("BILL_LOOKBACK_DAYS", 7)
    # Certificate mode: hours between downloads of WeChat Pay's platform certificates (jobs process).
    CERTIFICATE_REFRESH_HOURS = float(env("CERTIFICATE_REFRESH_HOURS", "12"))
    # The owner runs the shop (README "The owner's pages"). Who marks paid orders shipped: the ship job
    # ("auto", the default) or the owner ("manual": paid orders wait in the 待发货 list).
    SHIP_MODE = env("SHIP_MODE", "auto")
    # Uploaded product images, outside the code; served at /media/ with content-hashed names.
    MEDIA_DIR = env("MEDIA_DIR", str(INSTANCE_DIR / "media"))
    # Largest image file the product form accepts (that form alone may send up to 4 of them at once).
    MAX_IMAGE_BYTES = env_int("MAX_IMAGE_BYTES", 8 * 1024 * 1024)
    # Alerts to the owner (off unless configured): a WeCom group robot and/or email.
    ALERT_WECOM_WEBHOOK_URL = env("ALERT_WECOM_WEBHOOK_URL")
    ALERT_SMTP_HOST = env("ALERT_SMTP_HOST")
    ALERT_SMTP_PORT = env_int("ALERT_SMTP_PORT", 465)
    ALERT_SMTP_SECURITY = env("ALERT_SMTP_SECURITY", "")  # ssl | starttls | none; default: ssl on 465, else starttls
    ALERT_SMTP_USER = env("ALERT_SMTP_USER")
    ALERT_SMTP_PASSWORD_FILE = env("ALERT_SMTP_PASSWORD_FILE")
    ALERT_SMTP_FROM = env("ALERT_SMTP_FROM")
    ALERT_SMTP_TO = env("ALERT_SMTP_TO")
    ALERT_SMTP_CA_FILE = env("ALERT_SMTP_CA_FILE")
    ALERT_TIMEOUT_SECONDS = float(env("ALERT_TIMEOUT_SECONDS", "10"))
    ALERT_MAX_ATTEMPTS = env_int("ALERT_MAX_ATTEMPTS", 10)
    ALERT_BACKOFF_MINUTES = env("ALERT_BACKOFF_MINUTES", "1,5,15,60,180")
    ALERT_LINK_BASE_URL = env("ALERT_LINK_BASE_URL")
    # How many reverse proxies (nginx) stand in front; their X-Forwarded-For and -Proto headers are trusted.
    PROXY_COUNT = env_int("PROXY_COUNT", 0)
    # Trust their X-Forwarded-Host too; off because nginx passes the Host itself (proxy_set_header Host $host).
    PROXY_TRUST_HOST = env_bool("PROXY_TRUST_HOST", False)
    # Strict-Transport-Security: None, "https" (only on requests that came over https) or "always".
    HSTS = None

    @classmethod
    def init(cls, settings):
        """Finish settings that depend on other settings; raise on unsafe ones."""


class DevelopmentConfig(Config):
    """Local development: SQLite in instance/, the sandbox with generated keys, embedded jobs."""

    DEBUG = False
    SECRET_KEY = env("SECRET_KEY", DEV_SECRET_KEY)
    SANDBOX_PORT = env_int("SANDBOX_PORT", 5001)
    SANDBOX_KEY_DIR = env("SANDBOX_KEY_DIR", str(INSTANCE_DIR / "wechatpay"))
    WECHATPAY_URL = env("WECHATPAY_URL", f"http://127.0.0.1:{SANDBOX_PORT}")
    WECHATPAY_NOTIFY_URL = env("WECHATPAY_NOTIFY_URL", "http://127.0.0.1:5000/pay/notify")
    SANDBOX_PUBLIC_URL = env("SANDBOX_PUBLIC_URL", f"http://127.0.0.1:{SANDBOX_PORT}")
    SCHEDULER_EMBEDDED = env_bool("SCHEDULER_EMBEDDED", True)
    # The demo shop charges ¥10 shipping, free from ¥99 (tests keep the base defaults: free shipping).
    SHIPPING_FEE_FEN = env_int("SHIPPING_FEE_FEN", 1000)
    FREE_SHIPPING_OVER_FEN = env_int("FREE_SHIPPING_OVER_FEN", 9900)
    SERVICE_PHONE = env("SERVICE_PHONE", "400-000-0000")
    SERVICE_WECHAT = env("SERVICE_WECHAT", "xiaoman-shop")

    @classmethod
    def init(cls, settings):
        use_sandbox_keys(settings)
        use_sandbox_bridge(settings)


class TestingConfig(DevelopmentConfig):
    TESTING = True
    # Never the development key: a random one per process unless a test gives its own.
    SECRET_KEY = env("SECRET_KEY") or secrets.token_urlsafe(32)
    SQLALCHEMY_DATABASE_URI = database_url("sqlite://")
    SCHEDULER_EMBEDDED = False
    # Free shipping and no customer-service contact unless a test sets them.
    SHIPPING_FEE_FEN = 0
    FREE_SHIPPING_OVER_FEN = 0
    SERVICE_PHONE = ""
    SERVICE_WECHAT = ""
    # Tests start their own sandbox and pass its key folder in; none by default.
    SANDBOX_KEY_DIR = None

    @classmethod
    def init(cls, settings):
        refuse_unsafe("testing", settings)
        if settings.get("SANDBOX_KEY_DIR"):
            use_sandbox_keys(settings)
            use_sandbox_bridge(settings)


class ProductionConfig(Config):
    """Real customers and real money: refuses every unsafe setting (settings_check.PRODUCTION_RULES)."""

    PROXY_COUNT = env_int("PROXY_COUNT", 1)
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"
    HSTS = "always"

    @classmethod
    def init(cls, settings):
        refuse_unsafe("production", settings)


class StagingConfig(ProductionConfig):
    """Production's serving (secure cookies, proxies, jobs as their own process) against the local sandbox.

    For `make loadtest` and rehearsals: it may use the sandbox's URL and generated keys (SANDBOX_KEY_DIR),
    and sends HSTS only over https, but it still refuses a weak or the development SECRET_KEY.
    """

    HSTS = "https"
    SANDBOX_KEY_DIR = env("SANDBOX_KEY_DIR")

    @classmethod
    def init(cls, settings):
        if settings.get("SANDBOX_KEY_DIR"):
            use_sandbox_keys(settings)
        refuse_unsafe("staging", settings)


def refuse_unsafe(environment, settings):
    """Raise settings_check.UnsafeSettings naming every setting that ``environment`` refuses."""
    import settings_check  # imported here: it reads this module's constants

    settings_check.refuse_unsafe(environment, settings, settings_check.RULES[environment])


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
        # The sandbox also plays the official account's web OAuth, with the AppSecret in the same folder.
        WECHAT_APPSECRET_FILE=str(folder / "app_secret"),
        WECHAT_OAUTH_URL=settings["WECHATPAY_URL"].rstrip("/") + "/connect/",
        WECHAT_API_URL=settings["WECHATPAY_URL"].rstrip("/") + "/",
    )


def use_sandbox_bridge(settings):
    """Development: pages shown to WeChat's browser load the sandbox's WeixinJSBridge emulation."""
    if settings.get("SANDBOX_PUBLIC_URL") and not settings.get("WECHAT_JSBRIDGE_URL"):
        settings["WECHAT_JSBRIDGE_URL"] = settings["SANDBOX_PUBLIC_URL"].rstrip("/") + "/sandbox/jsbridge.js"


CONFIGS = {
    "development": DevelopmentConfig, "testing": TestingConfig, "staging": StagingConfig,
    "production": ProductionConfig,
}


def config_class(name=None):
    name = name or env("SHOP_ENV", "development")
    if name not in CONFIGS:
        raise RuntimeError(f"SHOP_ENV={name!r} is not one of: {', '.join(CONFIGS)}.")
    return CONFIGS[name]
