"""The owner's order list and order detail, and the actions on an order.

Every action is a CSRF-protected POST that goes through the payment services (and so through the
one state machine); none talks to WeChat Pay or changes an order's status by itself.
"""
import json
import logging
from datetime import datetime

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import select

from blueprints.admin import bp
from blueprints.admin.csv_export import orders_csv
from blueprints.admin.forms import OrderFilterForm, RefundForm
from blueprints.admin.queries import OrderFilter, filtered_orders, order_page
from blueprints.admin.shipping import TrackingForm
from blueprints.forms import EmptyForm
from blueprints.paging import KnownPage, page_number
from core.clock import format_local_time, utcnow
from core.money import format_fen
from core.vocabulary import (
    PAID_STATUSES,
    EventKind,
    NotificationType,
    OrderStatus,
    Outcome,
    RefundStatus,
    state_label,
)
from extensions import db
from models import Order, PaymentEvent, Refund
from payments import PaymentError
from services import stock
from services.fulfilment import ship_order
from services.payment import PaymentMismatch, close_order, refresh_order
from services.refunds import RefundRefused, create_refund, refresh_refund, refundable_fen

log = logging.getLogger("shop.admin")
PAGE_SIZE = 20

DETAIL_LABELS = {
    "trade_state": "交易状态", "trade_state_desc": "说明", "transaction_id": "微信支付单号",
    "total_fen": "金额", "success_time": "完成时间", "out_refund_no": "退款单号", "refund_id": "微信退款单号",
    "status": "退款状态", "refund_fen": "退款金额", "amount_fen": "金额", "message": "信息", "by": "操作人",
    "tracking_no": "运单号",
}
UNAVAILABLE = "微信支付暂时不可用，请稍后重试。"
MISMATCH = "微信支付返回的信息与本订单不符（金额或商户号），未做任何更改，请联系技术人员核对。"


def payment_error_message(error: PaymentError) -> str:
    if error.retryable:
        return UNAVAILABLE
    return f"微信支付拒绝了请求：{error.message}（{error.code}）"


@bp.get("/")
def index():
    """Go to the order list."""
    return redirect(url_for("admin.orders"))


def read_filters():
    """The filter form bound to the query string, and its filter (None when invalid)."""
    form = OrderFilterForm(request.args)
    if not form.validate():
        return form, None
    return form, OrderFilter(form.status.data, form.date_from.data, form.date_to.data, (form.q.data or "").strip())


@bp.get("/orders")
def orders():
    """List orders newest first, filtered, paginated, with totals of the whole filtered list."""
    form, filters = read_filters()
    if filters is None:
        return render_template("admin/orders.html", form=form, page=None, totals=None, args={}), 400
    number = page_number()
    ids, (count, paid_count, paid_fen, refunded_fen) = order_page(filters, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    page = KnownPage(page=number, per_page=PAGE_SIZE, error_out=False, items=ids, total=count)
    page.items = db.session.scalars(filtered_orders([Order.id.in_(ids)])).all() if ids else []
    totals = {"count": count, "paid_count": paid_count, "paid_fen": paid_fen, "refunded_fen": refunded_fen,
              "net_fen": paid_fen - refunded_fen}
    return render_template("admin/orders.html", form=form, page=page, totals=totals, args=form.query_args())


@bp.get("/orders/export.csv")
def export_orders():
    """Download the filtered order list as CSV (UTF-8 with BOM), streamed as it is read."""
    form, filters = read_filters()
    if filters is None:
        abort(400, description="筛选条件有误：" + "；".join(e for errors in form.errors.values() for e in errors))
    filename = f"orders-{format_local_time(utcnow(), '%Y%m%d-%H%M%S')}.csv"
    return Response(
        stream_with_context(orders_csv(filtered_orders(filters.conditions()))), mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def is_refund_event(event: PaymentEvent) -> bool:
    return event.kind in (EventKind.REFUND, EventKind.REFUND_QUERY) or (event.event_type or "").startswith("REFUND.")


def event_rows(order_id: int) -> list[dict]:
    """The order's payment events, oldest first, in words the owner reads (codes kept in titles)."""
    rows = []
    events = db.session.scalars(
        select(PaymentEvent).filter_by(order_id=order_id).order_by(PaymentEvent.created_at, PaymentEvent.id)
    )
    for event in events:
        try:
            detail = json.loads(event.detail or "{}")
        except ValueError:
            detail = {"信息": event.detail}
        if not isinstance(detail, dict):
            detail = {"信息": detail}
        refund = is_refund_event(event)
        rows.append({
            "event": event,
            "kind": NotificationType.label_of(event.event_type) if event.event_type else EventKind.label_of(event.kind),
            # A notification's type already says its state ("通知：支付成功").
            "state": state_label(event.state, refund=refund) if event.state and not event.event_type else "",
            "outcome": Outcome.label_of(event.outcome) if event.outcome else "",
            "detail": [(DETAIL_LABELS.get(key, key), detail_value(key, value, refund))
                       for key, value in detail.items() if value not in (None, "")],
        })
    return rows


def detail_value(key: str, value, refund: bool = False) -> str:
    if key.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
        return format_fen(value)
    if key.endswith("_time") and isinstance(value, str):
        try:
            return format_local_time(datetime.fromisoformat(value), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return value
    if key in ("trade_state", "status") and isinstance(value, str):
        return state_label(value, refund=refund or key == "status")
    return str(value)


def render_order(order: Order, refund_form: RefundForm | None = None, status: int = 200, confirm_refund=False):
    """The order page; with ``confirm_refund`` its refund form asks to confirm the amount entered."""
    refunds = db.session.scalars(select(Refund).filter_by(order_id=order.id).order_by(Refund.id)).all()
    can_refund = order.status in PAID_STATUSES
    refundable = refundable_fen(order.id) if can_refund else 0
    if refund_form is None:
        # Never pre-filled: the owner types the amount, so a refund of everything is never one click away.
        refund_form = RefundForm(formdata=None)
    returnable = {pid: left for pid, left in stock.returnable_units(order.id).items() if left > 0} if can_refund else {}
    return render_template(
        "admin/order.html", order=order, items=order.items, refunds=refunds, events=event_rows(order.id),
        attempts=order.attempts,
        refundable_fen=refundable, can_refund=can_refund and refundable > 0, refund_form=refund_form,
        form=EmptyForm(), tracking=TrackingForm(formdata=None), returnable=returnable, confirm_refund=confirm_refund,
    ), status


@bp.get("/orders/<int:order_id>")
def order(order_id):
    """Show an order: items, contact, amounts, timestamps, refunds and its payment timeline."""
    return render_order(db.get_or_404(Order, order_id))


def order_for_action(order_id: int) -> Order:
    order = db.get_or_404(Order, order_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return order


def back_to(order: Order):
    return redirect(url_for("admin.order", order_id=order.id), 303)


# What the owner is told after asking WeChat Pay, for every outcome of refresh_order.
QUERY_MESSAGES = {
    Outcome.PAID: ("微信支付确认已付款，订单已标记为已支付。", "success"),
    Outcome.CLOSED: ("微信支付显示订单已关闭，库存已释放。", "info"),
    Outcome.ALREADY_PAID: ("微信支付确认已付款，订单此前已是已支付。", "info"),
    Outcome.ALREADY_CLOSED: ("微信支付显示订单已关闭，本店订单此前已关闭。", "info"),
    Outcome.UNCHANGED: ("已向微信支付查询，订单状态没有变化（{status}）。", "info"),
}
# ... and after 关闭订单, for every outcome of close_order.
CLOSE_MESSAGES = {
    Outcome.CLOSED: ("订单已关闭，库存已释放。", "success"),
    Outcome.ALREADY_CLOSED: ("订单此前已经关闭。", "info"),
    Outcome.PAID: ("关单前顾客已付款：订单已标记为已支付，没有关闭。", "info"),
    Outcome.ALREADY_PAID: ("顾客已付款，订单是已支付状态，不能关闭。", "info"),
    Outcome.UNCHANGED: ("微信支付暂未完成关单，订单仍为待支付，请稍后再试。", "error"),
}
# ... and for each refund followed up on the same button, by refresh_refund's outcome.
REFUND_QUERY_MESSAGES = {
    Outcome.REFUNDED: ("退款 {} 已成功。", "success"),
    Outcome.REFUND_FAILED: ("退款 {} 失败，请人工处理。", "error"),
    Outcome.PROCESSING: ("退款 {} 仍在处理中。", "info"),
    Outcome.DUPLICATE: ("退款 {} 此前已有结果。", "info"),
}


@bp.post("/orders/<int:order_id>/query")
def query_order(order_id):
    """Ask WeChat Pay about the order (and its refunds still processing) and apply the answers."""
    order = order_for_action(order_id)
    now = utcnow()
    try:
        message, category = QUERY_MESSAGES[refresh_order(order, now, source=EventKind.OWNER_QUERY)]
        flash(message.format(status=order.status_label), category)
    except PaymentError as error:
        flash(payment_error_message(error), "error")
        return back_to(order)
    except PaymentMismatch:
        flash(MISMATCH, "error")
        return back_to(order)

    processing = db.session.scalars(
        select(Refund).filter_by(order_id=order_id, status=RefundStatus.PROCESSING).order_by(Refund.id)
    ).all()
    for refund in processing:
        out_refund_no = refund.out_refund_no
        try:
            message, category = REFUND_QUERY_MESSAGES[refresh_refund(refund, now)]
        except PaymentError as error:
            flash(f"退款 {out_refund_no}：{payment_error_message(error)}", "error")
            continue
        flash(message.format(out_refund_no), category)
    return back_to(order)


@bp.post("/orders/<int:order_id>/close")
def close(order_id):
    """Close a pending order: query WeChat Pay, close it there, release the stock. Paid wins."""
    order = order_for_action(order_id)
    if order.status != OrderStatus.PENDING:
        flash(f"只有待支付的订单可以关闭；这笔订单{order.status_label}。", "error")
        return back_to(order)
    try:
        flash(*CLOSE_MESSAGES[close_order(order, utcnow(), source=EventKind.OWNER_CLOSE)])
    except PaymentError as error:
        flash(payment_error_message(error), "error")
    except PaymentMismatch:
        flash(MISMATCH, "error")
    return back_to(order)


@bp.post("/orders/<int:order_id>/ship")
def ship(order_id):
    """Mark a paid order shipped, if the one ship rule allows it."""
    order = order_for_action(order_id)
    refusal = ship_order(order.id, utcnow(), by=current_user.username)
    if refusal:
        flash(refusal, "error")
    else:
        flash("订单已标记为已发货。", "success")
    return back_to(order)


@bp.post("/orders/<int:order_id>/refund")
def refund(order_id):
    """Refund part or all of a paid order through WeChat Pay; it completes when WeChat confirms."""
    order = db.get_or_404(Order, order_id)
    form = RefundForm()
    if not form.validate_on_submit():
        return render_order(order, form, 400)
    expected = request.form.get("refundable_fen", type=int)
    if order.status in PAID_STATUSES and expected is not None \
            and expected != refundable_fen(order.id):
        # The page was out of date (another refund, or the same form sent twice): ask again.
        form.amount.errors.append("可退金额已变化（可能刚有另一笔退款），请核对后重新提交。")
        return render_order(order, form, 409)
    units = units_to_return(order)
    if units is None:
        form.amount.errors.append("退回库存的件数须是 0 到该商品还能退回的件数之间的整数。")
        return render_order(order, form, 400)
    if order.status in PAID_STATUSES and request.form.get("confirmed") != "1":
        # Ask first, showing the amount: the confirmation's button sends the same form with confirmed=1.
        return render_order(order, form, confirm_refund=True)
    try:
        refund = create_refund(order, form.amount_fen, (form.reason.data or "").strip(), utcnow())
    except RefundRefused as refused:
        form.amount.errors.append(str(refused))
        return render_order(order, form, 400)
    except PaymentError as error:
        if error.retryable:
            flash("微信支付暂时没有答复，退款申请已记录，系统会自动向微信支付确认结果，请勿重复提交。", "error")
            return_units(order, units)  # the refund is recorded: the units the owner has back go back too
        else:
            flash(payment_error_message(error) + " 退款没有发生，库存也没有变。", "error")
        return back_to(order)
    return_units(order, units)
    amount = format_fen(refund.amount_fen)
    if refund.status == RefundStatus.SUCCESS:
        flash(f"退款 {amount} 已成功（退款单号 {refund.out_refund_no}）。", "success")
    elif refund.status == RefundStatus.PROCESSING:
        flash(f"已向微信支付申请退款 {amount}（退款单号 {refund.out_refund_no}），微信支付确认后完成。", "success")
    else:
        flash(f"退款 {amount} 未成功（{RefundStatus.label_of(refund.status)}），请人工处理。", "error")
    return back_to(order)


def units_to_return(order: Order) -> dict[int, int] | None:
    """The refund form's 退回库存 inputs (product id -> units); None if one is not a whole number in range."""
    returnable = stock.returnable_units(order.id)
    units = {}
    for product_id, left in returnable.items():
        raw = (request.form.get(f"return_{product_id}") or "0").strip()
        if not raw.isdecimal() or int(raw) > left:
            return None
        if int(raw):
            units[product_id] = int(raw)
    return units


def return_units(order: Order, units: dict[int, int]) -> None:
    """Put the refunded units back into stock (logged), and say so."""
    if not units:
        return
    try:
        count = stock.return_refunded_units(order.id, units, current_user.username, utcnow())
    except stock.StockRefused as refused:
        flash(f"库存没有退回：{refused.message}", "error")
        return
    flash(f"已把 {count} 件商品放回库存。", "success")
