"""The order page and paying it (stub until the payment issue lands)."""
from flask import render_template
from sqlalchemy import select

from blueprints.pay import bp
from extensions import db
from models import Order


def order_by_token(token):
    return db.first_or_404(select(Order).filter_by(token=token))


@bp.get("/orders/<token>")
def order(token):
    """Show an order to the customer who holds its token."""
    return render_template("pay/order.html", order=order_by_token(token))
