from flask import Blueprint

from http_policy import NO_STORE

bp = Blueprint("pay", __name__)


@bp.after_request
def private_pages(response):
    """Whoever has the order's URL can open it: keep these pages out of browser and shared caches."""
    response.headers["Cache-Control"] = NO_STORE
    return response


from blueprints.pay import routes  # noqa: E402,F401
