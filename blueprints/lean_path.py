"""Lean paths: WSGI middleware that answers the most frequent requests below Flask, and passes on the rest.

A lean path answers a request only when Flask's view would answer it from what the lean path can see: the
same status, body and headers (a request id of its own). Anything else (another method, a visitor Flask must
look at, a database error, a page not stored) goes on to Flask, which stays the full implementation. The
status poll (blueprints/pay/status_poll.py) and the stored catalog and pay pages (blueprints/page_lean_path.py)
have one each; tests compare each with its view.
"""
from dataclasses import dataclass
from urllib.parse import parse_qsl

from werkzeug.http import parse_cookie

from blueprints.page_cache import CSRF_FIELD, signed_token
from extensions import db
from http_policy import page_policy, request_id, security_headers, sends_hsts
from services.cart import SESSION_KEY as CART_KEY
from services.cart import read_cart

# What a customer's session may hold for a lean path to serve them: the CSRF secret, an empty cart, and
# Flask-Login's mark that the session is no login of the owner's (its session protection sets "_fresh": false
# on any session without one). A flash (_flashes), an owner's login or a WeChat login in progress goes to Flask.
LEAN_SESSION_KEYS = frozenset({CSRF_FIELD, CART_KEY, "_fresh"})


@dataclass(frozen=True)
class Visitor:
    csrf_secret: str | None

    def csrf_token(self, app) -> str | None:
        """The token Flask's cached path would put in this visitor's page, if this process has signed it."""
        return signed_token(app, self.csrf_secret) if self.csrf_secret else None


class LeanPath:
    """Subclasses say what they answer (``answer``); this sends it with the headers every response carries.
    It sits inside ProxyFix, so the scheme is the client's."""

    def __init__(self, app, wsgi_app):
        self.app, self.wsgi_app = app, wsgi_app
        self.policy, self.hsts = page_policy(app.config), app.config["HSTS"]
        self.cookie_name = app.config["SESSION_COOKIE_NAME"]
        self._engine = None

    def __call__(self, environ, start_response):
        answered = self.answer(environ) if environ.get("REQUEST_METHOD") == "GET" else None
        if answered is None:
            return self.wsgi_app(environ, start_response)
        body, headers = answered
        headers = {"Content-Length": str(len(body)), **headers}
        secure = environ.get("wsgi.url_scheme") == "https"
        for name, value in security_headers(self.policy, sends_hsts(self.hsts, secure)):
            headers.setdefault(name, value)  # as http_policy's add_headers: a stored page may carry its own
        headers["X-Request-ID"] = request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response("200 OK", list(headers.items()))
        return [body]

    def answer(self, environ) -> tuple[bytes, dict[str, str]] | None:
        """The body and headers (besides Content-Length and the security headers) of a GET, or None for Flask."""
        raise NotImplementedError

    def engine(self):
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return self._engine

    def visitor(self, environ) -> Visitor | None:
        """The visitor, if Flask would read nothing of theirs but the CSRF secret and an empty cart: no session
        cookie, or one this process has verified and that has not expired (Flask verifies any other)."""
        cookie = parse_cookie(environ.get("HTTP_COOKIE", "")).get(self.cookie_name)
        data = self.app.session_interface.remembered(self.app, cookie) if cookie else {}
        if data is None or not data.keys() <= LEAN_SESSION_KEYS or data.get("_fresh", False) or read_cart(data):
            return None
        secret = data.get(CSRF_FIELD)
        return Visitor(secret if isinstance(secret, str) else None)


def query_args(query: str) -> dict[str, str] | None:
    """Each parameter's first value, as Flask's request.args.get gives it; None for a query string that Flask
    must see (a NUL byte, which it refuses, or anything not ASCII, or not UTF-8 once unquoted)."""
    if not query.isascii() or "%00" in query or "\x00" in query:
        return None
    try:
        pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        return None
    args: dict[str, str] = {}
    for name, value in pairs:
        args.setdefault(name, value)
    return args
