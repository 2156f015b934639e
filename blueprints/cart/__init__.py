"""The cart: session-held product ids and quantities, changed only by CSRF-protected POST forms."""
from flask import Blueprint

bp = Blueprint("cart", __name__, url_prefix="/cart")

from blueprints.cart import routes  # noqa: E402,F401
