"""Rendered catalog pages, kept per process and served again while the catalog has not changed.

A page is stored with the catalog version it was rendered under (models/catalog_version.py: a number the
database raises on every change to a category, product or image, by triggers). Every request reads the
version, one primary-key lookup, and serves the stored page only if it is the same: a customer never sees
a price, stock or product from before a committed change, whichever process made it. The version is read
before rendering, so a change committed meanwhile can only make the stored page newer than its version,
never older.

What differs between visitors is cut out of the stored page and put back per request: the cart badge and
the CSRF token. A request with flash messages to show is rendered in full and not stored.
"""
import threading
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


def cart_badge(count: int) -> str:
    return current_app.jinja_env.get_template(BADGE_TEMPLATE).render(cart_count=count)


def page_key():
    """The page's identity: its path and page number. Other query parameters (WeChat adds ?from=... to a
    shared link) do not change what is rendered."""
    return request.path, request.args.get("page", "")


def impersonal(page: str, badge: str) -> str | None:
    """The page with this visitor's parts cut out, or None if they cannot be found (then it is not stored)."""
    if page.count(badge) != 1:
        return None
    page = page.replace(badge, CART_BADGE)
    token = g.get("csrf_token")  # Flask-WTF keeps the token it put in this page's forms here
    if token:
        page = page.replace(token, CSRF_TOKEN)
    return page


def personal(page: str) -> str:
    """A stored page with this visitor's cart badge and CSRF token."""
    page = page.replace(CART_BADGE, cart_badge(cart_count(session)))
    if CSRF_TOKEN in page:
        page = page.replace(CSRF_TOKEN, generate_csrf())
    return page


def cached_page(view):
    """Serve a catalog view from the page cache while the catalog version is unchanged. The view must
    return the rendered page (a str) or raise (404); anything else passes through unstored."""

    @wraps(view)
    def serve(**kwargs):
        cache = current_app.extensions["page_cache"]
        if not cache.capacity or session.get("_flashes"):
            return view(**kwargs)
        key = page_key()
        with db.engine.connect() as connection:  # not the session: a page served from here needs no other query
            version = read_version(connection)
        page = cache.get(key, version)
        if page is not None:
            return personal(page)
        rendered = view(**kwargs)
        if isinstance(rendered, str):
            stored = impersonal(rendered, cart_badge(cart_count(session)))
            if stored is not None:
                cache.put(key, version, stored)
        return rendered

    return serve
