"""The filtered order list as CSV: UTF-8 with a BOM so Excel shows the Chinese text.

Streamed: the orders are read YIELD_PER at a time (a server-side cursor on PostgreSQL, SQLite's own
stepping cursor), each batch with its lines in one more SELECT, and written out as they come, so the web
worker holds one batch however many orders there are (100,000 orders are about 25 MiB of CSV).

Long numbers (订单号, 微信支付单号) are written as ="…", which Excel, WPS, LibreOffice and Numbers read
as text: a bare 28-digit 微信支付单号 would otherwise become 4.2E+27 and lose its last digits for good.
"""
import csv
import io
from collections.abc import Iterator

from sqlalchemy import Select
from sqlalchemy.orm import selectinload

from core.clock import format_local_time
from core.money import fen_to_yuan
from extensions import db
from models import Order

HEADER = [
    "订单号", "下单时间", "状态", "订单金额(元)", "已退款(元)", "收货人", "手机号", "收货地址", "备注",
    "商品", "支付时间", "发货时间", "关闭时间", "微信支付单号", "需处理", "运费(元)",
]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
YIELD_PER = 500
# Spreadsheets keep 15 significant digits and show 12 or more in scientific notation (an 11-digit mobile is fine).
LONG_NUMBER_DIGITS = 12
# A cell starting with one of these is a formula to Excel; customers write names, notes and addresses.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def number_as_text(value) -> str:
    """A long run of digits as ="…" so spreadsheets keep every digit (and a leading zero); anything else as is."""
    text = "" if value is None else str(value)
    return f'="{text}"' if len(text) >= LONG_NUMBER_DIGITS and text.isdigit() and text.isascii() else cell(text)


def order_row(order) -> list[str]:
    status = order.status_name
    if order.refunded_fen:
        status += "（" + order.status_label + "）"
    items = "；".join(f"{item.product_name}×{item.quantity}" for item in order.items)
    return [
        number_as_text(order.out_trade_no), *(cell(value) for value in (
            format_local_time(order.created_at, TIME_FORMAT), status, fen_to_yuan(order.total_fen),
            fen_to_yuan(order.refunded_fen), order.contact_name, order.mobile,
            order.address, order.note, items, format_local_time(order.paid_at, TIME_FORMAT),
            format_local_time(order.shipped_at, TIME_FORMAT), format_local_time(order.closed_at, TIME_FORMAT))),
        number_as_text(order.transaction_id), cell(order.attention), fen_to_yuan(order.shipping_fen),
    ]


def orders_csv(statement: Select) -> Iterator[str]:
    """Every order the statement selects, as CSV text starting with a BOM, in pieces of YIELD_PER rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(HEADER)
    yield buffer.getvalue()
    statement = statement.options(selectinload(Order.items)).execution_options(yield_per=YIELD_PER)
    for orders in db.session.scalars(statement).partitions():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(order_row(order) for order in orders)
        yield buffer.getvalue()
