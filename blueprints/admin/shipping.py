"""Packing and shipping: the 待发货 list, couriers and tracking numbers (one order or a pasted list),
pick lists and packing slips to print, and marking orders shipped by hand (SHIP_MODE=manual)."""
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from blueprints.admin import bp
from blueprints.admin.products import check_csrf_with_limit
from blueprints.forms import EmptyForm
from core.clock import utcnow
from core.vocabulary import PAID_STATUSES, Courier, OrderStatus, ShipMode, courier_text
from extensions import csrf, db
from models import Order
from services import shipping
from services.fulfilment import ship_order, shippable

LIST_LIMIT = 200
PRINT_LIMIT = 200
BULK_UPLOAD_BYTES = 1024 * 1024


class TrackingForm(FlaskForm):
    courier = SelectField("快递公司",
                          choices=[SelectChoice("", "请选择")] + [SelectChoice(c.value, c.label) for c in Courier])
    courier_name = StringField("其他快递名称", validators=[Optional(), Length(max=40, message="最多 40 个字")],
                               render_kw={"maxlength": 40, "placeholder": "选“其他快递”时填写"})
    tracking_no = StringField("运单号", render_kw={"maxlength": 40, "autocomplete": "off", "inputmode": "text"})


class BulkTrackingForm(FlaskForm):
    lines = TextAreaField("粘贴运单（每行：订单号,快递公司,运单号）",
                          validators=[Optional(), Length(max=100_000, message="内容太长，请分几次提交")],
                          render_kw={"rows": 8, "placeholder": "20261127203000A1B2C3D4E5,顺丰,SF1234567890123\n"
                                                               "20261127203512F6A7B8C9D0E1,中通,78912345678901"})
    file = FileField("或上传 CSV 文件")


def ship_mode() -> ShipMode:
    return ShipMode(current_app.config["SHIP_MODE"])


@bp.get("/ship")
def to_ship():
    """The 待发货 list (paid orders the ship rule lets go) and shipped orders still without a tracking number."""
    waiting = db.session.scalars(
        select(Order).where(*shippable()).options(selectinload(Order.items))
        .order_by(Order.paid_at, Order.id).limit(LIST_LIMIT)
    ).all()
    blocked = db.session.scalars(
        select(Order).where(Order.status == OrderStatus.PAID, Order.id.not_in([o.id for o in waiting]))
        .order_by(Order.paid_at).limit(LIST_LIMIT)
    ).all()
    untracked = db.session.scalars(
        select(Order).where(Order.status == OrderStatus.SHIPPED, Order.tracking_no.is_(None))
        .options(selectinload(Order.items)).order_by(Order.shipped_at.desc(), Order.id.desc()).limit(LIST_LIMIT)
    ).all()
    return render_template("admin/ship.html", waiting=waiting, blocked=blocked, untracked=untracked,
                           mode=ship_mode(), tracking=TrackingForm(formdata=None), form=EmptyForm())


@bp.post("/ship/mark")
def ship_selected():
    """Mark the selected orders shipped (without tracking numbers), each through the one ship rule."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    order_ids = selected_ids()
    if not order_ids:
        flash("请先勾选订单。", "error")
        return redirect(url_for("admin.to_ship"), 303)
    shipped, refused = 0, []
    for order_id in order_ids:
        out_trade_no = db.session.scalar(select(Order.out_trade_no).where(Order.id == order_id))
        refusal = ship_order(order_id, utcnow(), by=current_user.username) if out_trade_no else "订单不存在。"
        if refusal is None:
            shipped += 1
        else:
            refused.append(f"{out_trade_no or order_id}：{refusal}")
    if shipped:
        flash(f"{shipped} 笔订单已标记为已发货。", "success")
    for message in refused:
        flash(message, "error")
    return redirect(url_for("admin.to_ship"), 303)


def selected_ids() -> list[int]:
    ids = []
    for raw in request.values.getlist("id"):
        if raw.isdecimal() and len(raw) < 12 and int(raw) not in ids:
            ids.append(int(raw))
    return ids[:PRINT_LIMIT]


# What the owner is told after recording a tracking number, for every outcome of record_tracking.
TRACKING_MESSAGES = {
    shipping.TrackingOutcome.SHIPPED: "已发货，快递 {courier} 运单号 {number} 已记录，顾客在订单页可以看到。",
    shipping.TrackingOutcome.UPDATED: "快递 {courier} 运单号 {number} 已记录，顾客在订单页可以看到。",
}


@bp.post("/orders/<int:order_id>/tracking")
def order_tracking(order_id):
    """Record the courier and tracking number of one order (shipping it, if it was paid and may ship)."""
    order = db.get_or_404(Order, order_id)
    form = TrackingForm()
    back = request.form.get("back") == "ship" and url_for("admin.to_ship") or url_for("admin.order", order_id=order.id)
    if not form.validate_on_submit():
        flash("；".join(e for errors in form.errors.values() for e in errors) or "表单已过期，请重试。", "error")
        return redirect(back, 303)
    try:
        outcome = shipping.record_tracking(order.id, form.courier.data, form.courier_name.data, form.tracking_no.data,
                                           current_user.username, utcnow())
    except shipping.ShippingRefused as refused:
        flash(f"订单 {order.out_trade_no}：{refused.message}", "error")
        return redirect(back, 303)
    row = db.session.get(Order, order.id, populate_existing=True)
    flash(f"订单 {row.out_trade_no}：" + TRACKING_MESSAGES[outcome].format(
        courier=courier_text(row.courier, row.courier_name), number=row.tracking_no), "success")
    return redirect(back, 303)


# The per-line result of a pasted list, in words.
LINE_OUTCOMES = {
    shipping.TrackingOutcome.SHIPPED: "已发货并记录运单号",
    shipping.TrackingOutcome.UPDATED: "已记录运单号（订单此前已发货）",
}


@bp.route("/ship/tracking", methods=["GET", "POST"])
@csrf.exempt
def tracking_bulk():
    """Tracking numbers for many orders at once: pasted lines or a CSV file of 订单号,快递公司,运单号."""
    if request.method == "GET":
        return render_template("admin/tracking_bulk.html", form=BulkTrackingForm(formdata=None), results=None)
    try:
        check_csrf_with_limit(BULK_UPLOAD_BYTES)
    except RequestEntityTooLarge:
        return render_template("admin/tracking_bulk.html", form=BulkTrackingForm(formdata=None), results=None,
                               error="文件太大（最多 1 MB），请分几次上传。"), 413
    form = BulkTrackingForm()
    if not form.validate():
        return render_template("admin/tracking_bulk.html", form=form, results=None), 400
    text = form.lines.data or ""
    upload = form.file.data
    if upload and upload.filename:
        try:
            text = (text + "\n" if text.strip() else "") + shipping.decode_upload(upload.read())
        except shipping.ShippingRefused as refused:
            form.file.errors.append(refused.message)
            return render_template("admin/tracking_bulk.html", form=form, results=None), 400
    lines = shipping.parse_lines(text)
    if not lines:
        form.lines.errors.append("没有可以处理的行：每行写 订单号,快递公司,运单号。")
        return render_template("admin/tracking_bulk.html", form=form, results=None), 400
    results = shipping.apply_lines(lines, current_user.username, utcnow())
    done = sum(1 for line in results if line.outcome)
    failed = len(results) - done
    return render_template("admin/tracking_bulk.html", form=BulkTrackingForm(formdata=None), results=results,
                           done=done, failed=failed, outcomes=LINE_OUTCOMES), 200


@bp.get("/ship/print")
def print_orders():
    """A pick list (kind=pick) or packing slips (kind=slips) of the selected paid orders, to print."""
    kind = request.args.get("kind")
    if kind not in ("pick", "slips"):
        abort(404)
    order_ids = selected_ids()
    orders = db.session.scalars(
        select(Order).where(Order.id.in_(order_ids)).options(selectinload(Order.items))
        .order_by(Order.paid_at, Order.id)
    ).all() if order_ids else []
    printable = [order for order in orders if order.status in PAID_STATUSES]
    skipped = [order for order in orders if order.status not in PAID_STATUSES]
    picks = {}
    for order in printable:
        for item in order.items:
            line = picks.setdefault(item.product_id, {"name": item.product_name, "quantity": 0, "orders": 0})
            line["quantity"] += item.quantity
            line["orders"] += 1
    return render_template("admin/print.html", kind=kind, orders=printable, skipped=skipped,
                           picks=sorted(picks.values(), key=lambda line: line["name"]), printed_at=utcnow())
