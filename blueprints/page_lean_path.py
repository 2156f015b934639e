"""Stored catalog and pay pages served below Flask to the visitors who make most of the traffic.

A customer who has seen a page before (a session cookie this process verified, no flash, an empty cart) asks
for a catalog page or a waiting order's pay page that is stored. That is answered here with one read, as
Flask's cached path would answer it (blueprints/page_cache.py, blueprints/pay/page_cache.py): the catalog
version or the order's fingerprint, then the stored page with the cart badge, the CSRF token and, on a pay
page, the time left put in. Everything else goes on to Flask: a page not stored or stale, a new visitor on a
page with a form (Flask gives them a session for its CSRF secret), a cart with something in it (its badge
counts products still on sale), WeChat's browser on a pay page (the JSAPI pay sheet is signed per visitor), a
CSRF token this process has not signed this minute, a database error.
"""
import re

from sqlalchemy.exc import SQLAlchemyError

from blueprints.lean_path import LeanPath, query_args
from blueprints.page_cache import CSRF_TOKEN, cart_badge, fill, page_key
from blueprints.pay.channels import channels_for, in_wechat
from blueprints.pay.page_cache import fingerprint, stored_pay_page, timer_parts
from blueprints.pay.page_cache import page_key as pay_page_key
from core.clock import utcnow
from http_policy import NO_STORE
from models.catalog_version import read_version

CATALOG_PATH = re.compile(r"/|/[cp]/[A-Za-z0-9_-]{1,100}")  # home, a category, a product (catalog/routes.py)
PAY_PATH = re.compile(r"/pay/([A-Za-z0-9_-]{1,64})")
HTML = "text/html; charset=utf-8"


class StoredPageLeanPath(LeanPath):
    def answer(self, environ):
        path = environ.get("PATH_INFO", "")
        catalog, pay = CATALOG_PATH.fullmatch(path), PAY_PATH.fullmatch(path)
        if not (catalog or pay):
            return None
        args, visitor = query_args(environ.get("QUERY_STRING", "")), self.visitor(environ)
        if args is None or visitor is None:
            return None
        try:
            stored = self.catalog_page(path, args) if catalog else self.pay_page(pay[1], args, environ)
        except SQLAlchemyError:  # Flask meets it too and answers as every page does (503)
            return None
        if stored is None:
            return None
        page, fills, headers = stored
        token = visitor.csrf_token(self.app) if CSRF_TOKEN in page else ""
        if token is None:
            return None
        body = fill(page, cart_badge(self.app, 0), lambda: token, fills).encode()
        # Flask's session reads the cookie for every page, so it says the page varies with it
        return body, {"Content-Type": HTML, **headers, "Vary": "Cookie"}

    def catalog_page(self, path: str, args: dict) -> tuple[str, dict, dict] | None:
        page = self.app.extensions["page_cache"].get(page_key(path, args), read_version(self.engine()))
        return None if page is None else (page, {}, {})

    def pay_page(self, token: str, args: dict, environ) -> tuple[str, dict, dict] | None:
        user_agent = environ.get("HTTP_USER_AGENT", "")
        if in_wechat(user_agent):
            return None
        key = pay_page_key(token, channels_for(user_agent), args)
        found = stored_pay_page(self.app, key, fingerprint(self.engine(), token), utcnow())
        if found is None:
            return None
        stored, left = found
        return stored.page, timer_parts(left), {**stored.headers, "Cache-Control": NO_STORE}
