from flask import Blueprint

bp = Blueprint("pay", __name__)

from blueprints.pay import routes  # noqa: E402,F401
