"""The payment gateway interface: what the shop asks WeChat Pay and the typed answers it gets.

Views, services and jobs talk to this interface only; the SDK stays inside the adapter.
"""
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from core.vocabulary import PAID_TRADE_STATES, PaymentChannel, PaymentErrorCode

# The largest notification body the shop reads; WeChat Pay's are a few KiB.
NOTIFICATION_MAX_BYTES = 64 * 1024


class PaymentError(Exception):
    """WeChat Pay said no, or could not be reached. ``code`` is WeChat's error code when it answered."""

    def __init__(self, code: str, message: str | None = None, http_status: int | None = None):
        message = message or PaymentErrorCode.label_of(code)
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.http_status = http_status

    @property
    def retryable(self) -> bool:
        """Timeouts, 5xx and rate limits: the same request may succeed later."""
        return self.http_status is None or self.http_status >= 500 or self.http_status == 429


class NotificationRejected(Exception):
    """A notification that is not provably from WeChat Pay, or is malformed."""


@dataclass(frozen=True)
class PaymentRequest:
    """One payment to place on WeChat Pay, by any channel (the same out_trade_no: the same parameters)."""

    channel: PaymentChannel
    out_trade_no: str
    description: str
    total_fen: int
    time_expire: datetime  # aware or naive UTC; sent as RFC 3339 in +08:00
    attach: str
    notify_url: str
    openid: str | None = None  # JSAPI: the payer's openid under the merchant's AppID
    client_ip: str | None = None  # H5: the payer's IP address


@dataclass(frozen=True)
class PaymentPrompt:
    """What the customer pays with: a code_url (Native), a prepay_id (JSAPI) or an h5_url (H5)."""

    channel: PaymentChannel
    value: str


@dataclass(frozen=True)
class Transaction:
    out_trade_no: str
    trade_state: str
    mchid: str
    appid: str
    total_fen: int | None = None
    currency: str | None = None
    transaction_id: str | None = None
    success_time: datetime | None = None  # naive UTC
    payer_openid: str | None = None
    attach: str | None = None
    trade_state_desc: str = ""

    @property
    def paid(self) -> bool:
        return self.trade_state in PAID_TRADE_STATES


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    status: str
    refund_fen: int
    out_trade_no: str | None = None
    refund_id: str | None = None
    transaction_id: str | None = None
    success_time: datetime | None = None  # naive UTC
    mchid: str | None = None


@dataclass(frozen=True)
class TradeBill:
    """One day's trade bill (交易账单), downloaded and checked against its SHA1."""

    bill_date: date
    hash_value: str
    text: str  # the uncompressed CSV


@dataclass(frozen=True)
class Notification:
    id: str
    event_type: str
    create_time: str
    summary: str
    # Transaction for TRANSACTION.*, RefundResult for REFUND.*, the raw dict for anything else.
    resource: object = field(default=None)
    raw: dict = field(default_factory=dict, repr=False)


class PaymentGateway(Protocol):
    mchid: str
    appid: str
    currency: str

    def create_payment(self, request: PaymentRequest) -> PaymentPrompt:
        """Place the payment on WeChat Pay by its channel; return the prompt the customer pays with."""

    def jsapi_parameters(self, prepay_id: str, timestamp: int, nonce: str) -> dict:
        """The signed parameters of WeixinJSBridge's getBrandWCPayRequest for a JSAPI prepay_id."""

    def query(self, out_trade_no: str) -> Transaction:
        """Return the order's current state; PaymentError ORDER_NOT_EXIST when WeChat never saw it."""

    def close(self, out_trade_no: str) -> None:
        """Close an unpaid order."""

    def refund(self, out_trade_no: str, out_refund_no: str, refund_fen: int, total_fen: int,
               reason: str) -> RefundResult:
        """Ask for a refund; it is usually PROCESSING at first."""

    def query_refund(self, out_refund_no: str) -> RefundResult:
        """Return a refund's current state."""

    def parse_notification(self, headers, body: bytes, now: datetime) -> Notification:
        """Verify, decrypt and type a notification, or raise NotificationRejected. Never calls out."""

    def trade_bill(self, bill_date: date) -> TradeBill:
        """Apply for the day's ALL trade bill, download it (gzip) and check its SHA1; PaymentError otherwise
        (STATEMENT_CREATING before it is ready, NO_STATEMENT_EXIST for a day without trades)."""

    def refresh_certificates(self) -> int:
        """Download WeChat Pay's platform certificates (certificate mode); return how many are held."""
