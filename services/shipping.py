"""Couriers and tracking numbers: one order at a time or a pasted list, through the one ship rule.

A paid order that gets its tracking number is shipped by ``fulfilment.ship_order`` (the rule: paid, no
需处理 flag, not fully refunded or being refunded) in the same UPDATE that writes the number. A shipped
order (the ship job marks them in SHIP_MODE=auto) may get or correct its courier and number at any time.
"""
import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from core.vocabulary import Courier, OrderStatus
from extensions import db
from models import Order
from services.fulfilment import ship_order
from services.use_case import use_case

TRACKING_RE = re.compile(r"^[A-Za-z0-9-]{5,40}$")
COURIER_NAME_MAX = 40
MAX_LINES = 500
# What owners type for each courier, besides its label and code.
COURIER_ALIASES = {
    Courier.SF: ("顺丰", "顺丰快递", "sf express"), Courier.ZTO: ("中通",), Courier.YTO: ("圆通", "圆通快递"),
    Courier.STO: ("申通",), Courier.YUNDA: ("韵达", "韵达速递"), Courier.JTEXPRESS: ("极兔", "极兔快递", "j&t", "jt"),
    Courier.EMS: ("ems", "邮政ems", "中国邮政ems"), Courier.JD: ("京东", "京东快递", "jd"),
    Courier.DEPPON: ("德邦", "德邦物流"), Courier.YZPY: ("邮政", "中国邮政", "邮政包裹"),
}


class ShippingRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TrackingOutcome:
    SHIPPED = "shipped"   # was paid: now shipped, with the number
    UPDATED = "updated"   # was shipped already: the number recorded or corrected


def courier_from_text(text: str) -> tuple[Courier, str | None]:
    """'顺丰' / 'SF' / '顺丰速运' -> (Courier.SF, None); anything else -> (Courier.OTHER, the text)."""
    key = re.sub(r"\s+", "", (text or "")).lower()
    for courier in Courier:
        names = {courier.value, courier.label.lower(), *(alias.replace(" ", "") for alias in
                                                         COURIER_ALIASES.get(courier, ()))}
        if key in names:
            return courier, None
    return Courier.OTHER, (text or "").strip()


def clean_tracking(courier: str, courier_name: str | None, tracking_no: str) -> dict:
    """The values to store, or ShippingRefused naming what is wrong."""
    try:
        courier = Courier(courier)
    except ValueError:
        raise ShippingRefused("请选择快递公司。") from None
    tracking_no = re.sub(r"\s+", "", tracking_no or "")
    if not TRACKING_RE.match(tracking_no):
        raise ShippingRefused("运单号应为 5 到 40 位字母、数字或短横线。")
    courier_name = (courier_name or "").strip() if courier == Courier.OTHER else None
    if courier == Courier.OTHER and not courier_name:
        raise ShippingRefused("选择“其他快递”时请填写快递公司名称。")
    if courier_name and len(courier_name) > COURIER_NAME_MAX:
        raise ShippingRefused(f"快递公司名称最多 {COURIER_NAME_MAX} 个字。")
    return {"courier": courier, "courier_name": courier_name, "tracking_no": tracking_no}


@use_case
def record_tracking(order_id: int, courier: str, courier_name: str | None, tracking_no: str, by: str,
                    now: datetime) -> str:
    """Ship a paid order with its courier and number, or record them on a shipped one; commit.

    Returns a TrackingOutcome; raises ShippingRefused (nothing changed) with the reason for the owner.
    """
    values = clean_tracking(courier, courier_name, tracking_no)
    status = db.session.scalar(select(Order.status).where(Order.id == order_id))
    if status == OrderStatus.PAID:
        refusal = ship_order(order_id, now, by=by, tracking=values)
        if refusal is None:
            return TrackingOutcome.SHIPPED
        if db.session.scalar(select(Order.status).where(Order.id == order_id)) != OrderStatus.SHIPPED:
            raise ShippingRefused(refusal)
        # The ship job shipped it just now: record the number on the shipped order below.
    elif status != OrderStatus.SHIPPED:
        db.session.rollback()
        if status is None:
            raise ShippingRefused("订单不存在。")
        raise ShippingRefused(f"订单{OrderStatus.label_of(status)}：只有已支付或已发货的订单可以录入运单号。")
    moved = db.session.execute(
        update(Order).where(Order.id == order_id, Order.status == OrderStatus.SHIPPED).values(**values)
    ).rowcount
    db.session.commit()
    if not moved:
        raise ShippingRefused("订单状态刚刚变化了，请刷新后再试。")
    return TrackingOutcome.UPDATED


# ---- A pasted list or a CSV file: 订单号,快递公司,运单号 ----


@dataclass
class TrackingLine:
    number: int
    text: str
    out_trade_no: str = ""
    courier: str = ""
    courier_name: str | None = None
    tracking_no: str = ""
    error: str | None = None
    outcome: str | None = None


def decode_upload(data: bytes) -> str:
    """CSV from Excel in China is usually GBK; from elsewhere UTF-8 (maybe with a BOM)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ShippingRefused("文件编码无法识别，请另存为 UTF-8 或 GBK 编码的 CSV。")


def parse_lines(text: str) -> list[TrackingLine]:
    """One TrackingLine per non-empty line, each checked alone; a header line is skipped."""
    lines, seen = [], {}
    raw_lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip():
            continue
        normalised = raw.replace("，", ",").replace("\t", ",")
        cells = [cell.strip() for cell in next(csv.reader(io.StringIO(normalised)), [])]
        if not cells or cells[0] in ("订单号", "商户订单号", "out_trade_no"):
            continue
        line = TrackingLine(number=number, text=raw.strip()[:200])
        lines.append(line)
        if len(lines) > MAX_LINES:
            line.error = f"一次最多 {MAX_LINES} 行，这一行及以后没有处理。"
            break
        if len(cells) < 3 and len(cells) == 1 and " " in cells[0]:
            cells = cells[0].split()  # "订单号 顺丰 SF123" separated by spaces
        if len(cells) != 3:
            line.error = "每行应为：订单号,快递公司,运单号"
            continue
        line.out_trade_no, courier_text, tracking_no = cells
        courier, name = courier_from_text(courier_text)
        line.courier, line.courier_name = courier, name
        try:
            values = clean_tracking(courier, name, tracking_no)
        except ShippingRefused as refused:
            line.error = refused.message
            continue
        line.tracking_no = values["tracking_no"]
        if line.out_trade_no in seen:
            line.error = f"与第 {seen[line.out_trade_no]} 行是同一订单，没有处理。"
            continue
        seen[line.out_trade_no] = number
    return lines


def apply_lines(lines: list[TrackingLine], by: str, now: datetime) -> list[TrackingLine]:
    """Apply each valid line in its own transaction: a line is recorded whole or not at all."""
    for line in lines:
        if line.error:
            continue
        order_id = db.session.scalar(select(Order.id).where(Order.out_trade_no == line.out_trade_no))
        if order_id is None:
            line.error = "找不到这个订单号。"
            continue
        try:
            line.outcome = record_tracking(order_id, line.courier, line.courier_name, line.tracking_no, by, now)
        except ShippingRefused as refused:
            line.error = refused.message
    return lines
