"""Rendered catalog pages, kept per process and served again while the catalog has not changed.

A page is stored with the catalog version it was rendered under (models/catalog_version.py: a number the
database raises on every change to a category, product or image, by triggers). Every request reads the
version, one primary-key lookup, and serves the stored page only if it is the same: a customer never sees
a price, stock or product from before a committed change, whichever process made it. The version is read
before rendering, so a change committed meanwhile can only make the stored page newer than its version,
never older.

What differs between visitors is cut out of the stored page and put back per request: the cart badge and
the CSRF token. A request with flash messages to show is rendered in full and not stored.

Flask-WTF signs a new token, with the time, on every call; a stored page takes a visitor's token signed less
than TOKEN_REUSE_SECONDS ago in this process, so a refreshing visitor costs one signature a minute. The token
is checked against WTF_CSRF_TIME_LIMIT (an hour) from its signing, so a form stays good at least 59 minutes.

Most requests for a stored page never reach this module's decorator: blueprints/page_lean_path.py serves them
below Flask, with ``fill`` and the same cache, and leaves the rest here.
"""
import threading
import time
from collections import OrderedDict
from functools import wraps

from flask import current_app, g, request, session
from flask_wtf.csrf import generate_csrf

from extensions import db
from models.catalog_version import read_version
from services.cart import cart_count

# Markers no template can produce (NUL is not allowed in HTML), replaced before a page leaves.
CART_BADGE = "\x00cart-badge\x00"
CSRF_TOKEN = "\x00csrf-token\x00"
BADGE_TEMPLATE = "_cart_badge.html"
CSRF_FIELD = "csrf_token"  # where Flask-WTF keeps the visitor's secret (session) and this request's token (g)
TOKEN_REUSE_SECONDS = 60
TOKENS_KEPT = 4096  # visitors per process whose token is kept (about 200 bytes each)


class PageCache:
    """A bounded, thread-safe LRU of (version, page) by key; the oldest page goes first."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.pages: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key, version: int) -> str | None:
        with self.lock:
            stored = self.pages.get(key)
            if stored is None or stored[0] != version:
                return None
            self.pages.move_to_end(key)
            return stored[1]

    def put(self, key, version: int, page: str) -> None:
        with self.lock:
            self.pages[key] = (version, page)
            self.pages.move_to_end(key)
            while len(self.pages) > self.capacity:
                self.pages.popitem(last=False)


def init_page_cache(app) -> None:
    app.extensions["page_cache"] = PageCache(app.config["PAGE_CACHE_SIZE"])
    app.extensions["cart_badges"] = {}
    app.extensions["csrf_tokens"] = PageCache(TOKENS_KEPT)  # secret -> token, versioned by the minute


def cart_badge(app, count: int) -> str:
    """The header's cart badge for a count, rendered once per count and process."""
    badges = app.extensions["cart_badges"]
    if count not in badges:
        badges[count] = app.jinja_env.get_template(BADGE_TEMPLATE).render(cart_count=count)
    return badges[count]


def page_key(path: str, args) -> tuple[str, str]:
    """The page's identity: its path and page number. Other query parameters (WeChat adds ?from=... to a
    shared link) do not change what is rendered."""
    return path, args.get("page", "")


def impersonal(page: str, cuts: dict[str, str] | None = None) -> str | None:
    """The page with this visitor's parts replaced by markers: the cart badge, the CSRF token, and each of
    ``cuts`` (marker: text). None if the badge or a cut is not found exactly once (then it is not stored)."""
    for marker, part in {CART_BADGE: cart_badge(current_app, cart_count(session)), **(cuts or {})}.items():
        if page.count(part) != 1:
            return None
        page = page.replace(part, marker)
    token = g.get(CSRF_FIELD)  # the token Flask-WTF put in this page's forms
    if token:
        page = page.replace(token, CSRF_TOKEN)
    return page


def personal(page: str, fills: dict[str, str] | None = None) -> str:
    """A stored page with this visitor's cart badge and CSRF token, and each of ``fills`` (marker: text)."""
    return fill(page, cart_badge(current_app, cart_count(session)), csrf_token, fills)


def fill(page: str, badge: str, token, fills: dict[str, str] | None = None) -> str:
    """A stored page with a cart badge, each of ``fills``, and ``token()`` if the page has a form."""
    for marker, part in {CART_BADGE: badge, **(fills or {})}.items():
        page = page.replace(marker, part)
    if CSRF_TOKEN in page:
        page = page.replace(CSRF_TOKEN, token())
    return page


def csrf_token() -> str:
    """This visitor's CSRF token, signed by Flask-WTF at most once per TOKEN_REUSE_SECONDS and process."""
    secret = session.get(CSRF_FIELD)
    if not isinstance(secret, str) or CSRF_FIELD in g:  # a new visitor, or already signed for this request
        return generate_csrf()
    token = signed_token(current_app, secret)
    if token is None:
        token = generate_csrf()
        current_app.extensions["csrf_tokens"].put(secret, token_period(), token)
    setattr(g, CSRF_FIELD, token)  # a form rendered later in this request shows the same token
    return token


def signed_token(app, secret: str) -> str | None:
    """The token signed for this visitor's secret in this process and period, if there is one."""
    return app.extensions["csrf_tokens"].get(secret, token_period())


def token_period() -> int:
    return int(time.time() // TOKEN_REUSE_SECONDS)


def must_render() -> bool:
    """The cache is off, or there are flash messages to show (they are this request's alone)."""
    return not current_app.extensions["page_cache"].capacity or "_flashes" in session


def cached_page(view):
    """Serve a catalog view from the page cache while the catalog version is unchanged. The view must
    return the rendered page (a str) or raise (404); anything else passes through unstored."""

    @wraps(view)
    def serve(**kwargs):
        if must_render():
            return view(**kwargs)
        cache, key = current_app.extensions["page_cache"], page_key(request.path, request.args)
        version = read_version(db.engine)
        page = cache.get(key, version)
        if page is not None:
            return personal(page)
        rendered = view(**kwargs)
        if isinstance(rendered, str):
            stored = impersonal(rendered)
            if stored is not None:
                cache.put(key, version, stored)
        return rendered

    return serve
