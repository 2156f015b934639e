from flask import Blueprint

bp = Blueprint("pay", __name__)


# Whoever has an order's URL can open it: its pages stay out of browser and shared caches.
PRIVATE = "no-store"


@bp.after_request
def private_pages(response):
    response.headers["Cache-Control"] = PRIVATE
    return response


from blueprints.pay import routes  # noqa: E402,F401
