"""The catalog: home page, category pages, product pages and search."""
from flask import Blueprint

bp = Blueprint("catalog", __name__)

from blueprints.catalog import routes  # noqa: E402,F401
