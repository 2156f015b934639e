"""The settings production and staging refuse to start with: one function per rule, every problem reported.

Each rule takes the finished settings and returns the problems it found (empty when all is well), each
starting with the name of the setting to fix. ``refuse_unsafe`` runs a list of rules and raises one
``UnsafeSettings`` naming them all, so an operator fixes everything in one go.
"""
import ipaddress
from pathlib import Path
from urllib.parse import urlsplit

from config import DEV_SECRET_KEY, INSTANCE_DIR, WECHATPAY_API_URLS

MIN_SECRET_KEY_LENGTH = 32
# A generated key of 32+ characters has far more distinct characters than this; "aaaa…" or "abab…" does not.
MIN_SECRET_KEY_VARIETY = 10
GENERATE_SECRET_KEY = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
# sandbox/keys.py writes this file next to the keys it generates: a folder holding it holds throw-away keys.
SANDBOX_KEY_MARKER = "ids.json"
REQUIRED_WECHATPAY_SETTINGS = (
    "WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_CERT_SERIAL_NO", "WECHATPAY_PRIVATE_KEY_FILE",
    "WECHATPAY_APIV3_KEY_FILE",
)
KEY_FILE_SETTINGS = ("WECHATPAY_PRIVATE_KEY_FILE", "WECHATPAY_APIV3_KEY_FILE", "WECHATPAY_PUBLIC_KEY_FILE")


class UnsafeSettings(RuntimeError):
    """The shop refuses to start: ``problems`` lists every setting to fix."""

    def __init__(self, environment, problems):
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"SHOP_ENV={environment} refuses to start until these settings are fixed:\n{lines}")


def refuse_unsafe(environment, settings, rules):
    """Run every rule; raise UnsafeSettings listing all their problems, if any."""
    problems = [problem for rule in rules for problem in rule(settings)]
    if problems:
        raise UnsafeSettings(environment, problems)


def secret_key_problems(settings):
    """SECRET_KEY signs the owner's session: a guessable key lets anyone forge a login."""
    key = settings.get("SECRET_KEY") or ""
    fix = f"generate one with {GENERATE_SECRET_KEY}"
    if not key:
        return [f"SECRET_KEY is not set; {fix}."]
    if key == DEV_SECRET_KEY:
        return [f"SECRET_KEY is the public development key, so anyone could forge an owner's session; {fix}."]
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return [f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters; {fix}."]
    if len(set(key)) < MIN_SECRET_KEY_VARIETY or key in (key + key)[1:-1]:  # few characters, or a repeated pattern
        return [f"SECRET_KEY is too weak (few different characters or a repeated pattern); {fix}."]
    return []


def not_dev_secret_key(settings):
    """Outside development the public development key is never accepted, whatever else is allowed."""
    if settings.get("SECRET_KEY") == DEV_SECRET_KEY:
        return ["SECRET_KEY is the public development key; set another one or leave it unset."]
    return []


def wechatpay_url_problems(settings):
    """Production takes real payments: only WeChat Pay's own API hosts, over https."""
    url = (settings.get("WECHATPAY_URL") or "").rstrip("/")
    if url in WECHATPAY_API_URLS:
        return []
    allowed = " or its backup ".join(WECHATPAY_API_URLS)
    return [f"WECHATPAY_URL must be WeChat Pay's API, {allowed}, not {without_credentials(url) or 'empty'} "
            "(a sandbox or non-https URL takes no real payments; use SHOP_ENV=staging for the sandbox)."]


def notify_url_problems(settings):
    """WeChat Pay posts payment results only to a public https URL with a path and no query string."""
    url = settings.get("WECHATPAY_NOTIFY_URL") or ""
    if not url:
        return ["WECHATPAY_NOTIFY_URL is not set; it must be the shop's public https URL, "
                "e.g. https://shop.example.cn/pay/notify."]
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return [f"WECHATPAY_NOTIFY_URL {without_credentials(url)} is not a valid URL."]
    problems = []
    if parts.scheme != "https":
        problems.append("is not https")
    if parts.query or url.endswith("?"):
        problems.append("has a query string")
    if parts.fragment or "#" in url:
        problems.append("has a fragment")
    if parts.path in ("", "/"):
        problems.append("has no path")
    if not host or not is_public_host(host):
        problems.append("does not point at a public address")
    if not problems:
        return []
    return [f"WECHATPAY_NOTIFY_URL {without_credentials(url)} " + ", ".join(problems)
            + "; WeChat Pay posts only to a public https URL with a path and no query string or fragment."]


def notify_url_is_set(settings):
    """Staging may take notifications over plain http on loopback (from the local sandbox), but needs a URL."""
    if settings.get("WECHATPAY_NOTIFY_URL"):
        return []
    return ["WECHATPAY_NOTIFY_URL is not set; WeChat Pay (or the sandbox) needs it to post payment results."]


def required_wechatpay_problems(settings):
    missing = [name for name in REQUIRED_WECHATPAY_SETTINGS if not settings.get(name)]
    return [f"{name} is not set; the shop cannot call WeChat Pay without it." for name in missing]


def verification_key_problems(settings):
    """Without WeChat Pay's public key or platform certificates, notifications and answers cannot be verified."""
    key_file, key_id = settings.get("WECHATPAY_PUBLIC_KEY_FILE"), settings.get("WECHATPAY_PUBLIC_KEY_ID")
    if bool(key_file) != bool(key_id):
        given, missing = (("WECHATPAY_PUBLIC_KEY_FILE", "WECHATPAY_PUBLIC_KEY_ID") if key_file
                          else ("WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_PUBLIC_KEY_FILE"))
        return [f"{missing} is not set but {given} is; public-key mode needs both."]
    if not key_file and not settings.get("WECHATPAY_CERT_DIR"):
        return ["WECHATPAY_PUBLIC_KEY_FILE and WECHATPAY_PUBLIC_KEY_ID (public-key mode) or WECHATPAY_CERT_DIR "
                "(certificate mode) must be set, or WeChat Pay's signatures cannot be verified."]
    return []


def key_file_problems(settings):
    """A key file the shop cannot read would fail the first payment, not the start-up."""
    problems = []
    for name in KEY_FILE_SETTINGS:
        path = settings.get(name)
        if not path:
            continue
        try:
            if not Path(path).read_bytes().strip():
                problems.append(f"{name} {path} is empty.")
        except OSError as error:
            problems.append(f"{name} {path} cannot be read ({error.strerror or type(error).__name__}).")
    cert_dir = settings.get("WECHATPAY_CERT_DIR")
    if cert_dir and not Path(cert_dir).is_dir():
        problems.append(f"WECHATPAY_CERT_DIR {cert_dir} is not a folder.")
    return problems


def sandbox_key_problems(settings):
    """The sandbox's generated keys are throw-away keys on the same machine: never production's."""
    problems = []
    for name in (*KEY_FILE_SETTINGS, "WECHATPAY_CERT_DIR"):
        path = settings.get(name)
        if not path:
            continue
        resolved = Path(path).resolve()
        folder = resolved if name == "WECHATPAY_CERT_DIR" else resolved.parent
        if resolved.is_relative_to(INSTANCE_DIR.resolve()):
            problems.append(f"{name} {path} is inside the shop's instance/ folder, where the sandbox "
                            "generates its keys; keep the real keys elsewhere (mode 0600).")
        elif (folder / SANDBOX_KEY_MARKER).exists():
            problems.append(f"{name} {path} is one of the sandbox's generated keys (its folder holds "
                            f"{SANDBOX_KEY_MARKER}); production needs the merchant's real keys.")
    return problems


def is_public_host(host):
    """False for loopback, private, link-local and other non-global addresses, and for localhost names."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return True  # a name: not resolved here (no network at start-up)


def without_credentials(url):
    """The URL as it may appear in a message: any user:password@ dropped."""
    scheme, separator, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not separator or "@" not in authority:
        return url
    return f"{scheme}://{authority.rsplit('@', 1)[1]}{slash}{path}"


def owner_settings_problems(settings):
    """The owner's settings (issue 13): a shipping mode the jobs know, alerts that can actually be sent."""
    problems = []
    if settings.get("SHIP_MODE") not in ("auto", "manual"):
        problems.append(f"SHIP_MODE={settings.get('SHIP_MODE')!r} must be auto (the ship job marks paid orders "
                        "shipped) or manual (the owner does).")
    webhook = settings.get("ALERT_WECOM_WEBHOOK_URL")
    if webhook and urlsplit(webhook).scheme != "https":
        problems.append("ALERT_WECOM_WEBHOOK_URL must be the https URL WeCom gives the group robot "
                        "(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...).")
    if settings.get("ALERT_SMTP_HOST"):
        if not settings.get("ALERT_SMTP_TO"):
            problems.append("ALERT_SMTP_TO is not set: ALERT_SMTP_HOST is, but the alerts would go to nobody.")
        if (settings.get("ALERT_SMTP_SECURITY") or "").lower() not in ("", "ssl", "starttls", "none"):
            problems.append("ALERT_SMTP_SECURITY must be ssl, starttls or none.")
        password_file = settings.get("ALERT_SMTP_PASSWORD_FILE")
        if password_file and not Path(password_file).is_file():
            problems.append(f"ALERT_SMTP_PASSWORD_FILE {password_file} does not exist.")
    return problems


def shipping_problems(settings):
    """A negative fee would break every checkout (the order's CHECK constraint), not just look odd."""
    return [f"{name} must be a whole number of fen, 0 or more (it is {settings.get(name)!r})."
            for name in ("SHIPPING_FEE_FEN", "FREE_SHIPPING_OVER_FEN")
            if not isinstance(settings.get(name, 0), int) or settings.get(name, 0) < 0]


PRODUCTION_RULES = (
    secret_key_problems, wechatpay_url_problems, notify_url_problems, required_wechatpay_problems,
    verification_key_problems, key_file_problems, sandbox_key_problems, owner_settings_problems, shipping_problems,
)
# Staging serves like production but may talk to the local sandbox with its generated keys.
STAGING_RULES = (
    secret_key_problems, notify_url_is_set, required_wechatpay_problems, verification_key_problems, key_file_problems,
    owner_settings_problems,
    shipping_problems,
)
RULES = {"production": PRODUCTION_RULES, "staging": STAGING_RULES, "testing": (not_dev_secret_key,)}
