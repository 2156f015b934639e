"""Placing an order: re-check the cart against the database and reserve stock, all in one transaction."""
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from extensions import db
from models import Delivery, Order, OrderItem, Product, new_out_trade_no
from services.use_case import use_case


class CheckoutError(Exception):
    """The order cannot be placed as the cart stands; the message is for the customer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def order_for_submission(submission_token: str | None) -> Order | None:
    """The order a checkout form already made, if this very form was submitted before."""
    if not submission_token:
        return None
    return db.session.scalar(select(Order).filter_by(submission_token=submission_token))


@use_case
def place_order(
    cart_lines: Mapping[int, int] | Iterable[tuple[int, int]], delivery: Delivery, now: datetime,
    submission_token: str | None = None,
) -> Order:
    """Reserve stock and create a pending order with price snapshots; commit, or roll back wholly.

    ``cart_lines`` is {product_id: quantity} (or its items); prices, names, stock and the active flag
    are read from the database, never from the caller. Raises CheckoutError with nothing written.
    A form submitted twice at once makes one order: the second meets the unique ``submission_token``
    (or finds the stock already taken by the first), rolls back and returns the first one's order.
    """
    items = sorted(dict(cart_lines).items())  # one lock order for every buyer: no deadlocks
    if not items:
        raise CheckoutError("购物车是空的。")
    maximum = current_app.config["CART_MAX_QUANTITY"]
    try:
        products = {
            product.id: product
            for product in db.session.scalars(
                select(Product)
                .where(Product.id.in_([product_id for product_id, _ in items]))
                .execution_options(populate_existing=True)
            )
        }
        order = Order(
            out_trade_no=new_out_trade_no(now),
            total_fen=0,
            created_at=now,
            expires_at=now + timedelta(minutes=current_app.config["ORDER_PAY_TIMEOUT"]),
            submission_token=submission_token,
            **asdict(delivery),
        )
        for product_id, quantity in items:
            product = products.get(product_id)
            if product is None or not product.active:
                raise CheckoutError("购物车中有商品已下架，请返回购物车查看。")
            if not (type(quantity) is int and 1 <= quantity <= maximum):  # bools and floats too
                raise CheckoutError(f"「{product.name}」的数量须在 1 到 {maximum} 之间。")
            # Snapshot before the UPDATE, which synchronises the in-session product.
            order.items.append(OrderItem(
                product_id=product.id, product_name=product.name,
                unit_price_fen=product.price_fen, quantity=quantity,
            ))
            reserved = db.session.execute(
                update(Product)
                .where(Product.id == product.id, Product.stock >= quantity, Product.active.is_(True))
                .values(stock=Product.stock - quantity)
            )
            if reserved.rowcount != 1:
                raise CheckoutError(f"「{product.name}」库存不足，已被其他顾客买走，请返回购物车修改数量。")
        order.total_fen = sum(item.line_total_fen for item in order.items)
        db.session.add(order)
        db.session.commit()
    except (IntegrityError, CheckoutError):
        # The same form, sent twice at once, may have taken the stock or the token first: its order wins.
        db.session.rollback()
        earlier = order_for_submission(submission_token)
        if earlier is None:
            raise
        return earlier
    return order
