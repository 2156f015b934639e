from flask import Blueprint

bp = Blueprint("pay", __name__)


@bp.after_request
def private_pages(response):
    """Whoever has the order's URL can open it: keep these pages out of browser and shared caches."""
    response.headers["Cache-Control"] = "no-store"
    return response


from blueprints.pay import routes  # noqa: E402,F401
