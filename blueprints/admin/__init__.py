"""The owner's pages under /admin: login, the order list and detail, and the order actions.

Every view in this blueprint requires a logged-in owner except the ones in PUBLIC_ENDPOINTS; the
check is a blueprint-wide before_request, so a route added later cannot forget it.
"""
from flask import Blueprint, request
from flask_login import current_user

from extensions import login_manager
from http_policy import NO_STORE
from services.owner_login import owner_for_session

bp = Blueprint("admin", __name__, url_prefix="/admin")

PUBLIC_ENDPOINTS = {"admin.login"}

login_manager.login_view = "admin.login"
login_manager.login_message = "请先登录店主后台。"
login_manager.login_message_category = "info"


@login_manager.user_loader
def load_owner(session_key: str):
    """Return the session's owner, or None (then it counts as logged out): Owner.get_id() made the key."""
    return owner_for_session(session_key)


@bp.before_request
def require_owner():
    """Send anyone who is not logged in to the login page (with a safe next=)."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    return login_manager.unauthorized()


@bp.after_request
def private_pages(response):
    """Keep owner pages out of shared caches and other sites' frames."""
    response.headers["Cache-Control"] = NO_STORE
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


from blueprints.admin import alerts, auth, products, reconciliation, routes, shipping  # noqa: E402,F401
