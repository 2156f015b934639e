"""我的订单: the orders this browser placed, the lookup by order number and mobile, and 再来一单."""
from flask import Blueprint

from http_policy import NO_STORE

bp = Blueprint("orders", __name__)


@bp.after_request
def private_pages(response):
    """Every page here is about one browser's orders: never kept in a shared cache."""
    response.headers["Cache-Control"] = NO_STORE
    return response


from blueprints.orders import routes  # noqa: E402,F401
