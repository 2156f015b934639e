"""What every response carries: security headers and a request id that also tags the log lines."""
import logging
import re
import uuid

from flask import current_app, g, has_request_context, request

# Pages load only their own CSS and JS; the QR code is an inline data: image. No other origin.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data:",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` to every log record ('-' outside a request)."""

    def filter(self, record):
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def register_http_policy(app):
    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def add_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if sends_hsts(current_app.config["HSTS"]):
            response.headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response


def sends_hsts(policy) -> bool:
    """Production sends HSTS always (browsers ignore it over http); staging only when served over https."""
    return policy == "always" or (policy == "https" and request.is_secure)


def configure_logging(level=logging.INFO):
    """One line per record, with the request id; used by the dev runner, gunicorn and the jobs."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
