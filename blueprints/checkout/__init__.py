"""Checkout: the delivery form that turns the cart into a pending order."""
from flask import Blueprint

bp = Blueprint("checkout", __name__)

from blueprints.checkout import routes  # noqa: E402,F401
