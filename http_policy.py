"""What every response carries: security headers and a request id that also tags the log lines.

Order tokens are bearer credentials for the customer's order page, so log lines never carry them whole.
"""
import itertools
import logging
import os
import re
import secrets
from urllib.parse import urlsplit

from flask import abort, current_app, g, has_request_context, request


def origin(url: str | None) -> str | None:
    """'https://open.weixin.qq.com/connect/' -> 'https://open.weixin.qq.com'."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(bridge_origin: str | None = None, oauth_origin: str | None = None) -> str:
    """Pages load only their own CSS and JS; the QR code is an inline data: image. No other origin.

    Two exceptions: inside WeChat a submitted form (checkout, 换一种方式支付) may end in a redirect to
    WeChat's web OAuth (``oauth_origin``), which form-action also governs; and development's WeixinJSBridge
    emulation, a script of the sandbox's that talks to the sandbox (``bridge_origin``).
    """
    scripts = f"'self' {bridge_origin}" if bridge_origin else "'self'"
    forms = f"'self' {oauth_origin}" if oauth_origin else "'self'"
    return "; ".join([
        "default-src 'self'",
        "img-src 'self' data:",
        f"script-src {scripts}",
        "style-src 'self'",
        f"connect-src {scripts}",
        "object-src 'none'",
        "base-uri 'self'",
        f"form-action {forms}",
        "frame-ancestors 'none'",
    ])


def page_policy(config, bridge_origin: str | None = None) -> str:
    """The policy for the shop's pages with its settings: WeChat's OAuth host only where JSAPI is set up."""
    oauth = origin(config.get("WECHAT_OAUTH_URL")) if config.get("WECHAT_APPSECRET_FILE") else None
    return content_security_policy(bridge_origin, oauth)
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
# Cache-Control of the pages that belong to one order, one browser or the owner: no browser or shared cache keeps them.
NO_STORE = "no-store"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# An order token after /orders/ or /pay/ (tokens are 22 URL-safe characters; '/pay/notify' is too short to match).
ORDER_TOKEN_RE = re.compile(r"(/(?:orders|pay)/[A-Za-z0-9_%-]{4})[A-Za-z0-9_%-]{4,}")


def mask_order_tokens(text: str) -> str:
    """'/pay/Ab3dKq9Zx_Lw2Pm7Nn4Rt0/status' -> '/pay/Ab3d…/status': tells orders apart, opens none."""
    return ORDER_TOKEN_RE.sub(r"\1…", text)


class MaskOrderTokens(logging.Filter):
    """Mask order tokens in a record's final message (request lines, URLs in errors)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's to report, not ours
            return True
        masked = mask_order_tokens(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` to every log record ('-' outside a request)."""

    def filter(self, record):
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


MASK_ORDER_TOKENS = MaskOrderTokens()


def mask_tokens_in_request_log():
    """Mask tokens in the werkzeug server's request lines (`python app.py`, `flask run`, the tests' live shop)."""
    logging.getLogger("werkzeug").addFilter(MASK_ORDER_TOKENS)  # the same instance is added once


def register_http_policy(app):
    policy = page_policy(app.config)
    mask_tokens_in_request_log()

    @app.before_request
    def assign_request_id():
        g.request_id = request_id(request.headers.get("X-Request-ID", ""))

    @app.before_request
    def refuse_nul_bytes():
        """No text the shop keeps or shows may hold NUL (PostgreSQL refuses it; HTML forbids it): 400 up front."""
        query = request.query_string  # raw: parsing it on every request would cost more than this check
        if "\x00" in request.path or b"%00" in query or b"\x00" in query:
            abort(400)
        if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
            if holds_nul(request.form):
                abort(400)

    @app.after_request
    def add_headers(response):
        for name, value in security_headers(policy, sends_hsts(current_app.config["HSTS"], request.is_secure)):
            response.headers.setdefault(name, value)  # a view may set its own policy (the JSAPI pay page)
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response


def security_headers(policy: str, hsts: bool) -> list[tuple[str, str]]:
    """The headers every response carries (the status poll's lean path sends them too)."""
    headers = [("Content-Security-Policy", policy), ("X-Content-Type-Options", "nosniff"),
               ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin")]
    if hsts:
        headers.append(("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY))
    return headers


class RequestIds:
    """Request ids unique across processes: a random prefix per process and a counter (no system call per
    request, unlike uuid4; the prefix is drawn again in a forked child)."""

    def __init__(self):
        self._renew()
        os.register_at_fork(after_in_child=self._renew)

    def _renew(self):
        self._prefix, self._counter = secrets.token_hex(6), itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):08x}"


REQUEST_IDS = RequestIds()


def request_id(incoming: str) -> str:
    """The id a proxy in front sent (X-Request-ID), if it is one; otherwise a new one."""
    return incoming if REQUEST_ID_RE.match(incoming) else REQUEST_IDS.next()


def holds_nul(fields) -> bool:
    return any("\x00" in name or "\x00" in value for name, values in fields.lists() for value in values)


def sends_hsts(policy, secure: bool) -> bool:
    """Production sends HSTS always (browsers ignore it over http); staging only when served over https."""
    return policy == "always" or (policy == "https" and secure)


def configure_logging(level=logging.INFO):
    """One line per record, with the request id; used by the dev runner, gunicorn and the jobs."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.addFilter(MASK_ORDER_TOKENS)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    mask_tokens_in_request_log()
