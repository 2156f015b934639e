"""Trade bills (交易账单, bill_type=ALL) made from the sandbox's own records.

A day's bill (Beijing date) has a row per payment whose success_time falls on it and a row per refund
accepted on it; a payment and its refund are two rows. Every field, totals too, starts with a backtick;
amounts are yuan with two decimals; the fee (手续费) is 0.6 % of the amount rounded half up to the fen, and a
refund's row gives back the fee of the refunded part (a negative fee).
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import clock
from .models import REFUND, SUCCESS, Order, Refund
from .money import decimal_text as yuan

DETAIL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
                 "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
                 "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")
SUMMARY_HEADER = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
FEE_RATE_PER_MILLE = 6  # 0.6 %
FEE_RATE_TEXT = "0.60%"
SUB_MCHID = "0"  # 特约商户号 of an ordinary (direct) merchant
LINE_END = "\r\n"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HISTORY_MONTHS = 3  # bills of the last three months can be had


def fee_fen(amount_fen: int) -> int:
    """0.6 % of an amount, rounded half up to the fen (a 1-fen payment pays no fee)."""
    return (amount_fen * FEE_RATE_PER_MILLE + 500) // 1000


def parse_date(text) -> date | None:
    """A YYYY-MM-DD date, or None."""
    if not isinstance(text, str) or not DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def beijing_date(moment: datetime) -> date:
    return moment.astimezone(clock.CHINA).date()


def day_start(day: date) -> datetime:
    """00:00 Beijing time of the day, as an aware datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=clock.CHINA)


def earliest_date(today: date) -> date:
    """The oldest bill date still available: the same day three calendar months back."""
    month = today.month - HISTORY_MONTHS
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, min(today.day, calendar.monthrange(year, month)[1]))


def _line(fields) -> str:
    return ",".join("`" + ("" if field is None else str(field)) for field in fields)


def _payment_row(order: Order) -> list:
    return [clock.beijing_text(order.success_time), order.appid, order.mchid, SUB_MCHID, "",
            order.transaction_id, order.out_trade_no, order.payer_openid, order.trade_type, SUCCESS,
            order.bank_type, order.currency, yuan(order.total_fen), "0.00", "0", "0", "0.00", "0.00", "", "",
            order.description, order.attach, yuan(fee_fen(order.total_fen)), FEE_RATE_TEXT,
            yuan(order.total_fen), "0.00", ""]


def _refund_row(refund: Refund) -> list:
    order = refund.order
    return [clock.beijing_text(refund.created_at), order.appid, order.mchid, SUB_MCHID, "",
            order.transaction_id, order.out_trade_no, order.payer_openid, order.trade_type, REFUND,
            order.bank_type, order.currency, "0.00", "0.00", refund.refund_id, refund.out_refund_no,
            yuan(refund.refund_fen), "0.00", "ORIGINAL", refund.status, order.description, order.attach,
            yuan(-fee_fen(refund.refund_fen)), FEE_RATE_TEXT, "0.00", yuan(refund.refund_fen), ""]


def build(session: Session, day: date) -> str | None:
    """The day's ALL bill as text, or None when the day had no payment and no refund."""
    start = day_start(day)
    end = start + timedelta(days=1)
    payments = session.scalars(select(Order).where(Order.success_time >= start, Order.success_time < end)
                               .order_by(Order.success_time, Order.id)).all()
    refunds = session.scalars(select(Refund).where(Refund.created_at >= start, Refund.created_at < end)
                              .order_by(Refund.created_at, Refund.id)).all()
    if not payments and not refunds:
        return None
    timed = [(order.success_time, _payment_row(order)) for order in payments]
    timed += [(refund.created_at, _refund_row(refund)) for refund in refunds]
    rows = [row for _, row in sorted(timed, key=lambda pair: pair[0])]
    settled = sum(order.total_fen for order in payments)
    refunded = sum(refund.refund_fen for refund in refunds)
    fees = sum(fee_fen(order.total_fen) for order in payments) - sum(fee_fen(refund.refund_fen) for refund in refunds)
    totals = [len(rows), yuan(settled), yuan(refunded), "0.00", yuan(fees), yuan(settled), yuan(refunded)]
    lines = [DETAIL_HEADER, *(_line(row) for row in rows), SUMMARY_HEADER, _line(totals)]
    return LINE_END.join(lines) + LINE_END
