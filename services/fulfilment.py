"""Fulfilment: the one rule for whether an order may ship, and shipping it (the ship job or the owner)."""
from datetime import datetime

from sqlalchemy import case, select

from core.vocabulary import EventKind, OrderStatus, Outcome
from extensions import db
from models import Order
from services.payment import record_event, transition
from services.refunds import committed_refunds_fen
from services.use_case import use_case

# Every condition an order must meet to ship, with what the owner is told when it does not. The job
# selects with all of them, the owner's button explains the first that fails, and the UPDATE that
# ships checks them again, so a refund or a flag set meanwhile stops the shipment.
SHIP_RULE = (
    (Order.status == OrderStatus.PAID, "只有已支付、未发货的订单可以发货。"),
    (Order.attention.is_(None), "订单有需处理的问题（见页面顶部），处理后才能发货。"),
    (Order.total_fen > committed_refunds_fen(), "订单已全额退款（或全额退款处理中），不能发货。"),
)


def shippable() -> list:
    """SQL conditions true for exactly the orders that may ship now."""
    return [condition for condition, _ in SHIP_RULE]


def ship_refusal(order_id: int) -> str | None:
    """Why the order may not ship now, for the owner; None when it may."""
    checks = select(*[case((condition, 1), else_=0) for condition, _ in SHIP_RULE]).where(Order.id == order_id)
    results = db.session.execute(checks).one()
    return next((message for ok, (_, message) in zip(results, SHIP_RULE) if not ok), None)


@use_case
def ship_order(order_id: int, now: datetime, by: str | None = None, tracking: dict | None = None) -> str | None:
    """Mark one order shipped if the rule allows it; commit. Returns None when shipped, else the reason.

    ``tracking`` (courier, courier_name, tracking_no: services/shipping.py) is written by the same UPDATE.
    """
    refusal = ship_refusal(order_id)
    tracking = tracking or {}
    if refusal is None and transition(order_id, OrderStatus.SHIPPED, where=shippable(), shipped_at=now, **tracking):
        outcome = Outcome.SHIPPED_BY_OWNER if by else Outcome.SHIPPED
        detail = {"by": by, "tracking_no": tracking.get("tracking_no")} if by else None
        record_event(order_id, EventKind.SHIP, now, outcome=outcome, detail=detail)
        db.session.commit()
        return None
    db.session.rollback()
    return refusal or "订单状态刚刚发生了变化，未标记发货，请刷新后查看。"


@use_case
def ship_paid_orders(now: datetime, paid_before: datetime, limit: int) -> tuple[int, int]:
    """Ship up to ``limit`` orders paid before ``paid_before`` that the rule allows; one transaction.

    Returns (candidates, shipped). Two runs at once ship an order once: the move is the state
    machine's conditional UPDATE, and on PostgreSQL they also skip each other's locked rows.
    """
    candidates = (
        select(Order.id).where(*shippable(), Order.paid_at <= paid_before)
        .order_by(Order.paid_at, Order.id).limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    order_ids = list(db.session.scalars(candidates))
    shipped = 0
    for order_id in order_ids:
        if transition(order_id, OrderStatus.SHIPPED, where=shippable(), shipped_at=now):
            record_event(order_id, EventKind.SHIP, now, outcome=Outcome.SHIPPED)
            shipped += 1
    db.session.commit()
    return len(order_ids), shipped
