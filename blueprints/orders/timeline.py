"""The customer's view of one order: its steps (下单, 支付, 发货, 退款, 关闭) and what to do next."""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from core.clock import utcnow
from core.money import format_fen
from core.vocabulary import PAID_STATUSES, OrderStatus, RefundStatus, courier_text
from extensions import db
from models import Order, Refund


@dataclass
class Step:
    name: str
    state: str  # "done", "current" (waiting on it) or "failed"
    at: datetime | None = None
    details: list[str] = field(default_factory=list)


def is_payable(order: Order, now: datetime) -> bool:
    """Pending and before its deadline: the pay page, not the order page, is where it belongs."""
    return order.status == OrderStatus.PENDING and order.expires_at > now


def can_reorder(order: Order, now: datetime) -> bool:
    """再来一单 is offered on every order that can no longer be paid (closed, expired, paid or shipped)."""
    return not is_payable(order, now)


def shipping_details(order: Order) -> list[str]:
    """The courier, once the owner has entered it (the number itself is under 收货信息 on the order page)."""
    return [courier_text(order.courier, order.courier_name)] if order.courier else []


def order_steps(order: Order, refunds: list[Refund], now: datetime) -> list[Step]:
    steps = [Step("下单", "done", order.created_at, [f"应付 {format_fen(order.total_fen)}"])]
    paid = order.status in PAID_STATUSES
    if paid:
        steps.append(Step("支付", "done", order.paid_at, ["微信支付"]))
    elif order.status == OrderStatus.PENDING:
        steps.append(Step("支付", "failed", order.expires_at, ["支付已超时，未产生扣款"]))
    if order.status == OrderStatus.SHIPPED:
        steps.append(Step("发货", "done", order.shipped_at, shipping_details(order)))
    elif paid:
        steps.append(Step("发货", "current", None, ["等待发货"]))
    for refund in refunds:
        label = RefundStatus.label_of(refund.status)
        state = {RefundStatus.SUCCESS: "done", RefundStatus.PROCESSING: "current"}.get(refund.status, "failed")
        steps.append(Step("退款", state, refund.succeeded_at or refund.created_at,
                          [f"{format_fen(refund.amount_fen)} · {label}"]))
    if order.status == OrderStatus.CLOSED:
        steps.append(Step("关闭", "done", order.closed_at, ["订单已关闭，未产生扣款"]))
    return steps


def next_steps(order: Order, refunds: list[Refund]) -> list[str]:
    """What the customer can do or expect now, in order of importance."""
    notes = []
    if any(refund.status in (RefundStatus.SUCCESS, RefundStatus.PROCESSING) for refund in refunds):
        notes.append("退款原路退回您付款的微信账户：零钱通常即时到账，银行卡一般 1–3 个工作日到账。")
    if order.status == OrderStatus.PAID and order.refunded_fen < order.total_fen:
        notes.append("我们会尽快为您发货，发货后这里会显示快递公司和单号。")
    elif order.status == OrderStatus.SHIPPED:
        if getattr(order, "tracking_number", None):
            notes.append("商品已发出，可凭快递单号在快递公司的网站、App 或微信中查询物流。")
        else:
            notes.append("商品已发出，请留意快递员的电话和短信。")
    elif order.status == OrderStatus.CLOSED:
        notes.append("订单已关闭，没有扣款。想要这些商品，可以点“再来一单”重新下单。")
    elif order.status == OrderStatus.PENDING:
        notes.append("支付时间已过，订单即将自动关闭，没有扣款。想要这些商品，可以点“再来一单”重新下单。")
    return notes


def order_page_context(order: Order) -> dict:
    """What the customer's order page shows besides the order: its steps, next steps, 再来一单."""
    now = utcnow()
    refunds = db.session.scalars(select(Refund).filter_by(order_id=order.id).order_by(Refund.id)).all()
    return {"steps": order_steps(order, refunds, now), "next_steps": next_steps(order, refunds),
            "can_reorder": can_reorder(order, now)}
