"""Placing an order: re-check the cart against the database and reserve stock, all in one transaction."""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.vocabulary import OrderStatus, StockReason
from extensions import db
from models import Delivery, Order, OrderItem, Product, new_out_trade_no
from services import stock
from services.use_case import use_case


class CheckoutError(Exception):
    """The order cannot be placed as the cart stands; the message is for the customer."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TooManyPendingOrders(CheckoutError):
    """This browser (or address) already holds as many unpaid orders as allowed; try after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Shipping:
    """What shipping costs for a subtotal, and how far it is from free (the cart's 还差 hint)."""

    fee_fen: int
    free_over_fen: int  # 0: no free-shipping threshold
    missing_fen: int  # more to buy for free shipping; 0 when already free or when there is no threshold


def shipping_for(items_fen: int) -> Shipping:
    """The one shipping rule: SHIPPING_FEE_FEN, or nothing once the lines reach FREE_SHIPPING_OVER_FEN (满 N 元包邮)."""
    fee = current_app.config["SHIPPING_FEE_FEN"]
    threshold = current_app.config["FREE_SHIPPING_OVER_FEN"]
    if fee == 0 or (threshold and items_fen >= threshold):
        return Shipping(0, threshold, 0)
    return Shipping(fee, threshold, threshold - items_fen if threshold else 0)


def check_pending_limits(visitor_id: str | None, client_ip: str | None, now: datetime) -> None:
    """Refuse a new order while this browser or address holds too many unpaid ones (stock hoarding)."""
    config = current_app.config
    limits = (
        (Order.visitor_id, visitor_id, config["MAX_PENDING_ORDERS_PER_VISITOR"],
         "您已有 {count} 笔订单等待付款，请先付款或取消其中一笔，再提交新订单。"),
        (Order.client_ip, client_ip, config["MAX_PENDING_ORDERS_PER_IP"],
         "您所在网络的待付款订单太多了，请稍后再试。"),
    )
    for column, value, limit, message in limits:
        if not value:
            continue
        count, soonest = db.session.execute(
            select(func.count(Order.id), func.min(Order.expires_at))
            .where(column == value, Order.status == OrderStatus.PENDING, Order.expires_at > now)
        ).one()
        if count >= limit:
            raise TooManyPendingOrders(message.format(count=count), max(1, int((soonest - now).total_seconds())))


def order_for_submission(submission_token: str | None) -> Order | None:
    """The order a checkout form already made, if this very form was submitted before."""
    if not submission_token:
        return None
    return db.session.scalar(select(Order).filter_by(submission_token=submission_token))


@use_case
def place_order(
    cart_lines: Mapping[int, int] | Iterable[tuple[int, int]], delivery: Delivery, now: datetime,
    submission_token: str | None = None, visitor_id: str | None = None, client_ip: str | None = None,
) -> Order:
    """Reserve stock and create a pending order with price snapshots and the shipping fee as its own line
    (``shipping_fen``, included in ``total_fen``, the amount WeChat Pay is asked for); commit, or roll back wholly.

    ``cart_lines`` is {product_id: quantity} (or its items); prices, names, stock and the active flag
    are read from the database, never from the caller. Raises CheckoutError with nothing written
    (TooManyPendingOrders when the browser or address already holds too many unpaid orders).
    A form submitted twice at once makes one order: the second meets the unique ``submission_token``
    (or finds the stock already taken by the first), rolls back and returns the first one's order.
    """
    items = sorted(dict(cart_lines).items())  # one lock order for every buyer: no deadlocks
    if not items:
        raise CheckoutError("购物车是空的。")
    maximum = current_app.config["CART_MAX_QUANTITY"]
    check_pending_limits(visitor_id, client_ip, now)
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
            visitor_id=visitor_id,
            client_ip=client_ip,
            **delivery.order_columns(),
        )
        for product_id, quantity in items:
            product = products.get(product_id)
            if product is None or not product.on_sale:
                raise CheckoutError("购物车中有商品已下架，请返回购物车查看。")
            if not (type(quantity) is int and 1 <= quantity <= maximum):  # bools and floats too
                raise CheckoutError(f"「{product.name}」的数量须在 1 到 {maximum} 之间。")
            # Snapshot before the UPDATE, which synchronises the in-session product.
            order.items.append(OrderItem(
                product_id=product.id, product_name=product.name,
                unit_price_fen=product.price_fen, quantity=quantity,
            ))
            if not stock.take(product.id, quantity, StockReason.SALE, order=order, on_sale_only=True):
                raise CheckoutError(f"「{product.name}」库存不足，已被其他顾客买走，请返回购物车修改数量。")
        items_fen = sum(item.line_total_fen for item in order.items)
        order.shipping_fen = shipping_for(items_fen).fee_fen
        order.total_fen = items_fen + order.shipping_fen
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
