"""The shop's named vocabularies, each value with its Chinese label, in one place.

Values are stored in the database as plain strings (the members are ``StrEnum``s), and every page,
flash, timeline and CSV reads the label from here. A test fails if a value has no label.
"""
from enum import StrEnum


class Vocabulary(StrEnum):
    """A StrEnum whose members carry a Chinese label: ``MEMBER = "value", "标签"``."""

    def __new__(cls, value: str, label: str):
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member

    @classmethod
    def label_of(cls, value) -> str:
        """The label of ``value``, or the value itself when it is not in this vocabulary."""
        try:
            return cls(value).label
        except ValueError:
            return "" if value is None else str(value)


class OrderStatus(Vocabulary):
    PENDING = "pending", "待支付"
    PAID = "paid", "已支付"
    SHIPPED = "shipped", "已发货"
    CLOSED = "closed", "已关闭"


# The customer's money arrived and was kept: the one name for "paid or shipped".
PAID_STATUSES = frozenset({OrderStatus.PAID, OrderStatus.SHIPPED})


class PaymentChannel(Vocabulary):
    """How a customer pays: WeChat Pay's three products for a shop's web pages."""

    NATIVE = "native", "微信扫码支付"  # a QR code, for computers (or another device)
    JSAPI = "jsapi", "微信内支付"  # the pay sheet inside WeChat's own browser
    H5 = "h5", "手机浏览器支付"  # WeChat's cashier, from any other phone browser


class AttemptStatus(Vocabulary):
    """One way of paying an order, as WeChat Pay knows it (each attempt has its own out_trade_no)."""

    OPEN = "open", "待支付"
    PAID = "paid", "已支付"
    CLOSED = "closed", "已关闭"


class EventKind(Vocabulary):
    """What kind of step a payment_event records (who asked WeChat Pay what, or what it told us)."""

    CREATE = "create", "向微信支付下单"
    NOTIFICATION = "notification", "微信支付通知"
    QUERY = "query", "查询微信支付"
    POLL_QUERY = "poll_query", "查询微信支付（顾客等待付款时）"
    RECONCILE = "reconcile", "定时查询微信支付"
    OWNER_QUERY = "owner_query", "查询微信支付（店主）"
    CLOSE = "close", "关单"
    EXPIRE = "expire", "超时关单"
    CUSTOMER_CANCEL = "customer_cancel", "关单（顾客取消）"
    SWITCH = "switch", "关单（顾客换一种方式支付）"
    OWNER_CLOSE = "owner_close", "关单（店主）"
    REFUND = "refund", "申请退款"
    REFUND_QUERY = "refund_query", "查询退款"
    SHIP = "ship", "发货"
    BILL = "bill", "对账（微信支付交易账单）"


class NotificationType(Vocabulary):
    """The event_type of a WeChat Pay notification."""

    TRANSACTION_SUCCESS = "TRANSACTION.SUCCESS", "微信支付通知：支付成功"
    REFUND_SUCCESS = "REFUND.SUCCESS", "微信支付通知：退款成功"
    REFUND_ABNORMAL = "REFUND.ABNORMAL", "微信支付通知：退款异常"
    REFUND_CLOSED = "REFUND.CLOSED", "微信支付通知：退款关闭"


class Outcome(Vocabulary):
    """What the shop did with what it learned: the result of one step of the payment state machine."""

    PAID = "paid", "订单已支付"
    ALREADY_PAID = "already_paid", "订单此前已支付，无变化"
    CLOSED = "closed", "订单已关闭，库存已释放"
    ALREADY_CLOSED = "already_closed", "订单此前已关闭，无变化"
    UNCHANGED = "unchanged", "仍未支付，无变化"
    ERROR = "error", "出错，稍后重试"
    CODE_URL = "code_url", "已获得支付二维码"
    PREPAY_ID = "prepay_id", "已获得微信内支付凭证"
    H5_URL = "h5_url", "已获得手机浏览器支付链接"
    DUPLICATE = "duplicate", "重复通知，已忽略"
    IGNORED = "ignored", "与订单无关，已忽略"
    PROCESSING = "processing", "退款处理中"
    PENDING = "pending", "结果待确认，稍后自动查询"
    REFUNDED = "refunded", "退款成功，已计入订单"
    REFUND_FAILED = "refund_failed", "退款失败，需人工处理"
    REFUSED = "refused", "被微信支付拒绝"
    UNKNOWN_REFUND = "unknown_refund", "非本店发起的退款，仅记录"
    EXTRA_PAYMENT = "extra_payment", "重复付款，已自动全额退回"
    SHIPPED = "shipped", "已自动标记发货"
    SHIPPED_BY_OWNER = "shipped_by_owner", "店主标记发货"


class TradeState(Vocabulary):
    """WeChat Pay's trade_state of a payment."""

    SUCCESS = "SUCCESS", "支付成功"
    REFUND = "REFUND", "转入退款"
    NOTPAY = "NOTPAY", "未支付"
    CLOSED = "CLOSED", "已关闭"
    REVOKED = "REVOKED", "已撤销"
    USERPAYING = "USERPAYING", "用户支付中"
    PAYERROR = "PAYERROR", "支付失败"


# SUCCESS, and SUCCESS later moved to refund: the customer's money arrived either way.
PAID_TRADE_STATES = frozenset({TradeState.SUCCESS, TradeState.REFUND})


class RefundStatus(Vocabulary):
    """WeChat Pay's status of a refund (and the shop's copy of it)."""

    PROCESSING = "PROCESSING", "退款中"
    SUCCESS = "SUCCESS", "退款成功"
    CLOSED = "CLOSED", "退款关闭"
    ABNORMAL = "ABNORMAL", "退款异常"


FINAL_REFUND_STATUSES = frozenset({RefundStatus.SUCCESS, RefundStatus.CLOSED, RefundStatus.ABNORMAL})


class PaymentErrorCode(Vocabulary):
    """Why a call to WeChat Pay failed: its own error codes, and the shop's for no answer at all."""

    TIMEOUT = "TIMEOUT", "微信支付响应超时"
    NETWORK_ERROR = "NETWORK_ERROR", "无法连接微信支付"
    INVALID_RESPONSE = "INVALID_RESPONSE", "微信支付应答无法验证"
    NOT_CONFIGURED = "NOT_CONFIGURED", "未配置微信支付"
    ORDER_NOT_EXIST = "ORDER_NOT_EXIST", "微信支付没有这笔订单"
    SYSTEM_ERROR = "SYSTEM_ERROR", "微信支付系统繁忙"
    FREQUENCY_LIMITED = "FREQUENCY_LIMITED", "请求过于频繁"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE", "微信支付暂不可用"
    PARAM_ERROR = "PARAM_ERROR", "参数错误"
    INVALID_REQUEST = "INVALID_REQUEST", "请求不符合要求"
    SIGN_ERROR = "SIGN_ERROR", "签名错误"
    NO_AUTH = "NO_AUTH", "商户无权限"
    MCH_NOT_EXISTS = "MCH_NOT_EXISTS", "商户号不存在"
    OUT_TRADE_NO_USED = "OUT_TRADE_NO_USED", "商户订单号重复"
    ORDER_CLOSED = "ORDER_CLOSED", "订单已关闭"
    ORDERPAID = "ORDERPAID", "订单已支付"
    NOT_ENOUGH = "NOT_ENOUGH", "商户余额不足"
    USER_ACCOUNT_ABNORMAL = "USER_ACCOUNT_ABNORMAL", "用户账户异常"
    RESOURCE_NOT_EXISTS = "RESOURCE_NOT_EXISTS", "微信支付没有这笔退款"
    STATEMENT_CREATING = "STATEMENT_CREATING", "账单生成中"
    NO_STATEMENT_EXIST = "NO_STATEMENT_EXIST", "当日没有交易，无账单"
    BILL_HASH_MISMATCH = "BILL_HASH_MISMATCH", "账单文件校验失败（摘要不符）"


class BillRunStatus(Vocabulary):
    """Where one day's reconciliation against WeChat Pay's trade bill stands."""

    MATCHED = "matched", "一致"
    DIFFERENCES = "differences", "有差异"
    NOT_READY = "not_ready", "账单未生成，稍后重试"
    NO_BILL = "no_bill", "当日无交易"
    FAILED = "failed", "账单获取失败，稍后重试"


FINAL_BILL_RUN_STATUSES = frozenset({BillRunStatus.MATCHED, BillRunStatus.DIFFERENCES, BillRunStatus.NO_BILL})


class DifferenceKind(Vocabulary):
    """One way the trade bill and the shop disagree about a day."""

    MISSING_PAYMENT = "missing_payment", "微信支付有收款，本店未记为已支付"
    UNKNOWN_PAYMENT = "unknown_payment", "账单中的商户订单号本店没有"
    AMOUNT_MISMATCH = "amount_mismatch", "收款金额与订单不符"
    TRANSACTION_MISMATCH = "transaction_mismatch", "微信支付单号与本店记录不符"
    MISSING_IN_BILL = "missing_in_bill", "本店记为已支付，账单中没有"
    MISSING_REFUND = "missing_refund", "微信支付有退款，本店未记"
    REFUND_MISMATCH = "refund_mismatch", "退款金额或状态与本店记录不符"
    REFUND_MISSING_IN_BILL = "refund_missing_in_bill", "本店记为退款成功，账单中没有"


class DifferenceAction(Vocabulary):
    """What the reconciliation did about a difference."""

    APPLIED = "applied", "已查询确认并补记"
    RECORDED = "recorded", "已记录"
    FLAGGED = "flagged", "需店主核对"


def state_label(value: str | None, *, refund: bool = False) -> str:
    """The label of a state a payment_event recorded: a trade state (or a refund status when ``refund``),
    or an error code. A code WeChat Pay added after this list was written shows as itself.
    """
    for vocabulary in (RefundStatus if refund else TradeState, PaymentErrorCode):
        try:
            return vocabulary(value).label
        except ValueError:
            continue
    return "" if value is None else str(value)


# ---- The owner runs the shop (issue 13): stock, shipping, alerts ----


class StockReason(Vocabulary):
    """Why a product's stock changed: one row of the stock log each time."""

    INITIAL = "initial", "新建商品"
    SALE = "sale", "下单占用"
    RELEASE = "release", "订单关闭，退回库存"
    REPAID = "repaid", "关闭后收到付款，重新占用"
    REFUND_RETURN = "refund_return", "退款退回库存"
    RESTOCK = "restock", "补货"
    WRITE_OFF = "write_off", "报损出库"
    CORRECTION = "correction", "盘点更正"
    SET = "set", "修改库存数"


# What the owner may pick for a relative change (+N / -N); the rest are written by the shop itself.
OWNER_STOCK_REASONS = (StockReason.RESTOCK, StockReason.WRITE_OFF, StockReason.CORRECTION)


class Courier(Vocabulary):
    """Couriers most small shops in China ship with; OTHER takes a name the owner types."""

    SF = "sf", "顺丰速运"
    ZTO = "zto", "中通快递"
    YTO = "yto", "圆通速递"
    STO = "sto", "申通快递"
    YUNDA = "yunda", "韵达快递"
    JTEXPRESS = "jtexpress", "极兔速递"
    EMS = "ems", "EMS 邮政特快"
    JD = "jd", "京东物流"
    DEPPON = "deppon", "德邦快递"
    YZPY = "yzpy", "邮政快递包裹"
    OTHER = "other", "其他快递"


class ShipMode(Vocabulary):
    """SHIP_MODE: who marks paid orders shipped."""

    AUTO = "auto", "自动标记发货（定时任务）"
    MANUAL = "manual", "店主手动发货"


class AlertKind(Vocabulary):
    """What the owner is told about, through the outbox."""

    ORDER_PAID = "order_paid", "新订单已支付"
    ATTENTION = "attention", "订单需处理"
    REFUND_FAILED = "refund_failed", "退款失败"
    BILL_DIFFERENCES = "bill_differences", "对账发现差异"
    TEST = "test", "测试提醒"


class AlertChannel(Vocabulary):
    WECOM = "wecom", "企业微信群机器人"
    EMAIL = "email", "邮件"


class AlertStatus(Vocabulary):
    PENDING = "pending", "待发送"
    SENT = "sent", "已发送"
    FAILED = "failed", "发送失败，已放弃"


VOCABULARIES = (OrderStatus, PaymentChannel, AttemptStatus, EventKind, NotificationType, Outcome, TradeState,
                RefundStatus, PaymentErrorCode, BillRunStatus, DifferenceKind, DifferenceAction, StockReason, Courier,
                ShipMode, AlertKind, AlertChannel, AlertStatus)


def courier_text(courier: str | None, courier_name: str | None = None) -> str:
    """What to show for an order's courier: the label, or the name the owner typed for "other"."""
    if not courier:
        return ""
    if courier == Courier.OTHER and courier_name:
        return courier_name
    return Courier.label_of(courier)
