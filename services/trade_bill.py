"""Reading WeChat Pay's trade bill (交易账单, bill_type ALL), by column name, as its documentation lays it out.

A header line; one line per payment or refund whose every field starts with a backtick; then the summary
header (总交易单数,...) and one totals line, backticked too. Amounts are yuan. Older layouts exist, so
columns are found by their names, never by position.
"""
from dataclasses import dataclass

from core.money import yuan_to_fen

SUMMARY_HEADER_START = "总交易单数"
REQUIRED_COLUMNS = ("交易时间", "微信订单号", "商户订单号", "交易状态", "订单金额", "商户退款单号", "申请退款金额",
                    "退款状态")


@dataclass(frozen=True)
class BillRow:
    trade_time: str  # Beijing time, as the bill writes it
    transaction_id: str
    out_trade_no: str
    trade_state: str  # SUCCESS for a payment, REFUND for a refund (a payment and its refund are two rows)
    amount_fen: int  # 订单金额
    out_refund_no: str
    refund_fen: int  # 申请退款金额
    refund_status: str

    @property
    def is_payment(self) -> bool:
        return self.trade_state == "SUCCESS"

    @property
    def is_refund(self) -> bool:
        return self.trade_state == "REFUND"


@dataclass(frozen=True)
class BillTotals:
    count: int  # 总交易单数
    total_fen: int  # 订单总金额
    refunded_fen: int  # 申请退款总金额
    fee_fen: int  # 手续费总金额


def field(value: str) -> str:
    return value.strip().removeprefix("`").strip()


def money(value: str) -> int:
    """A bill amount ('19.99', '0', '-0.03') in fen."""
    value = field(value) or "0"
    negative = value.startswith("-")
    fen = yuan_to_fen(value.removeprefix("-"))
    return -fen if negative else fen


def parse_trade_bill(text: str) -> tuple[list[BillRow], BillTotals]:
    """The bill's rows and totals; ValueError when it is not a trade bill this shop can read."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines:
        raise ValueError("账单是空的")
    header = [field(name) for name in lines[0].split(",")]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise ValueError("账单缺少列：" + "、".join(missing))
    try:
        summary_at = next(n for n, line in enumerate(lines) if field(line.split(",")[0]) == SUMMARY_HEADER_START)
    except StopIteration:
        raise ValueError("账单缺少汇总行") from None
    rows = []
    for line in lines[1:summary_at]:
        values = line.split(",")
        if len(values) != len(header):
            raise ValueError(f"账单第 {len(rows) + 2} 行的列数不对")
        record = dict(zip(header, (field(value) for value in values)))
        rows.append(BillRow(
            trade_time=record["交易时间"], transaction_id=record["微信订单号"], out_trade_no=record["商户订单号"],
            trade_state=record["交易状态"], amount_fen=money(record["订单金额"]),
            out_refund_no=record["商户退款单号"] if record["商户退款单号"] not in ("", "0") else "",
            refund_fen=money(record["申请退款金额"]), refund_status=record["退款状态"],
        ))
    if summary_at + 1 >= len(lines):
        raise ValueError("账单缺少汇总数据")
    summary = dict(zip((field(name) for name in lines[summary_at].split(",")),
                       (field(value) for value in lines[summary_at + 1].split(","))))
    try:
        totals = BillTotals(count=int(summary["总交易单数"]), total_fen=money(summary["订单总金额"]),
                            refunded_fen=money(summary["申请退款总金额"]), fee_fen=money(summary["手续费总金额"]))
    except (KeyError, ValueError):
        raise ValueError("账单汇总行无法读取") from None
    if totals.count != len(rows):
        raise ValueError(f"账单汇总的交易单数 {totals.count} 与明细 {len(rows)} 行不符")
    return rows, totals
