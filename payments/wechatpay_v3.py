"""The API v3 adapter: the PaymentGateway interface on top of the wechatpayv3 SDK.

Public-key mode (WECHATPAY_PUBLIC_KEY_FILE + WECHATPAY_PUBLIC_KEY_ID) is preferred; certificate mode
(WECHATPAY_CERT_DIR) is supported too. The SDK is never given a logger: at debug level it logs the
Authorization header and the decrypted notifications.

The SDK has no base-URL option and, in certificate mode, downloads platform certificates whenever it
meets a serial it does not hold, emptying its list first. Three private attributes of the pinned
version (2.0.4) are therefore touched here and nowhere else: ``_gate_way`` (the base URL),
``_certificates`` (swapped whole, never emptied in place) and the public-key fields (to build the SDK
without its constructor's certificate download going to the real host). A fourth is its core module's
``requests``, the transport (see KeptConnections).
"""
import copy
import gzip
import hashlib
import json
import logging
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import requests
import wechatpayv3.core
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from wechatpayv3 import WeChatPay, WeChatPayType

from core.clock import parse_rfc3339, rfc3339
from core.vocabulary import PaymentChannel, PaymentErrorCode
from payments.gateway import (
    NOTIFICATION_MAX_BYTES,
    Notification,
    NotificationRejected,
    PaymentError,
    PaymentPrompt,
    PaymentRequest,
    RefundResult,
    TradeBill,
    Transaction,
)

log = logging.getLogger(__name__)
# The SDK checks signatures but not their age; WeChat's own SDKs reject anything 5 minutes off.
NOTIFICATION_MAX_AGE = 300
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"
# The only headers a notification is verified with, read by their canonical names: the SDK would also
# accept aliases (HTTP_WECHATPAY_*, lower case) and prefer them, which would let a replay pass our age check.
NOTIFICATION_HEADERS = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial",
                        "Wechatpay-Signature-Type")
# Looking at the certificate folder again for a serial we do not hold: at most this often (seconds).
CERTIFICATE_RELOAD_INTERVAL = 60


def json_object(body) -> dict:
    """The JSON object of an answer's body, or {} (an empty body, or not JSON)."""
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def transaction_from(data: dict) -> Transaction:
    amount = data.get("amount") or {}
    return Transaction(
        out_trade_no=data["out_trade_no"],
        trade_state=data["trade_state"],
        mchid=data.get("mchid", ""),
        appid=data.get("appid", ""),
        total_fen=amount.get("total"),
        currency=amount.get("currency"),
        transaction_id=data.get("transaction_id"),
        success_time=parse_rfc3339(data.get("success_time")),
        payer_openid=(data.get("payer") or {}).get("openid"),
        attach=data.get("attach"),
        trade_state_desc=data.get("trade_state_desc", ""),
    )


def refund_from(data: dict) -> RefundResult:
    amount = data.get("amount") or {}
    return RefundResult(
        out_refund_no=data["out_refund_no"],
        status=data.get("status") or data["refund_status"],  # the notification names it refund_status
        refund_fen=amount.get("refund", 0),
        out_trade_no=data.get("out_trade_no"),
        refund_id=data.get("refund_id"),
        transaction_id=data.get("transaction_id"),
        success_time=parse_rfc3339(data.get("success_time")),
        mchid=data.get("mchid"),
    )


class KeptConnections:
    """What the SDK's core module calls as ``requests``: the same get/post/... on one Session per thread.

    The SDK calls the module-level ``requests.get``, a new session and connection for every call: against
    WeChat Pay a new TLS handshake each time, though its server keeps connections alive. A Session keeps
    them open between calls; one per thread, as requests does not promise a Session is thread-safe.
    Everything else (timeouts, proxies from the environment, exceptions) is requests' own.
    """
    METHODS = ("get", "post", "put", "patch", "delete")

    def __init__(self):
        self._local = threading.local()

    def __getattr__(self, name):
        if name not in self.METHODS:
            raise AttributeError(name)
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return getattr(session, name)


wechatpayv3.core.requests = KeptConnections()


def load_certificates(cert_dir: str | None) -> list[x509.Certificate]:
    """The platform certificates in ``cert_dir`` that are valid now (read from disk only)."""
    if not cert_dir or not Path(cert_dir).is_dir():
        return []
    now = datetime.now(timezone.utc)
    found = []
    for path in sorted(Path(cert_dir).glob("*.pem")):
        try:
            certificate = x509.load_pem_x509_certificate(path.read_bytes())
        except (OSError, ValueError):
            continue
        if certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            found.append(certificate)
    return found


def build_sdk(*, url, mchid, appid, cert_serial_no, private_key, apiv3_key, notify_url, timeout,
              public_key=None, public_key_id=None, cert_dir=None) -> WeChatPay:
    """The SDK pointed at ``url``, holding its verification keys, without any request to another host.

    In certificate mode the SDK's constructor would download the certificates from the real WeChat Pay
    host when ``cert_dir`` holds none; so it is built in public-key mode (no network), pointed at
    ``url``, and only then switched to certificates, loaded from ``cert_dir`` or downloaded from ``url``.
    """
    certificate_mode = not public_key
    if certificate_mode:
        merchant_key = serialization.load_pem_private_key(private_key.encode(), password=None)
        public_key = merchant_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        public_key_id = "BUILDING"
    pay = WeChatPay(
        wechatpay_type=WeChatPayType.NATIVE, mchid=mchid, private_key=private_key, cert_serial_no=cert_serial_no,
        appid=appid, apiv3_key=apiv3_key, notify_url=notify_url, cert_dir=cert_dir, timeout=timeout,
        public_key=public_key, public_key_id=public_key_id,
    )
    core = pay._core
    core._gate_way = url.rstrip("/")
    if certificate_mode:
        core._public_key = core._public_key_id = None
        try:
            core._init_certificates()  # from cert_dir, else GET {url}/v3/certificates
        except Exception as exc:  # the SDK raises a bare Exception when none could be had
            raise PaymentError(PaymentErrorCode.NOT_CONFIGURED, f"没有可用的微信支付平台证书：{exc}") from None
    else:
        core._certificates = load_certificates(cert_dir)  # a merchant moving from certificates to a public key
    return pay


class WeChatPayV3Gateway:
    def __init__(self, *, url, mchid, appid, cert_serial_no, private_key, apiv3_key, notify_url,
                 timeout, currency, public_key=None, public_key_id=None, cert_dir=None):
        self.mchid = mchid
        self.appid = appid
        self.currency = currency
        self.notify_url = notify_url
        self._public_key_id = public_key_id if public_key else None
        self._cert_dir = cert_dir
        self._reloaded_at = 0.0
        self._reload_lock = threading.Lock()
        self._pay = build_sdk(
            url=url, mchid=mchid, appid=appid, cert_serial_no=cert_serial_no, private_key=private_key,
            apiv3_key=apiv3_key, notify_url=notify_url, timeout=timeout, public_key=public_key,
            public_key_id=public_key_id, cert_dir=cert_dir,
        )
        # When an answer carries a serial it does not hold, the SDK downloads certificates after emptying
        # its list, so a concurrent verification fails; swap a full list in instead.
        self._pay._core._update_certificates = self.refresh_certificates

    @classmethod
    def from_config(cls, config):
        """The gateway for the app's settings (keys are read from their files here, once)."""
        def read(name):
            path = config.get(name)
            return Path(path).read_text(encoding="utf-8").strip() if path else None

        return cls(
            url=config["WECHATPAY_URL"], mchid=config["WECHATPAY_MCHID"], appid=config["WECHATPAY_APPID"],
            cert_serial_no=config["WECHATPAY_CERT_SERIAL_NO"],
            private_key=read("WECHATPAY_PRIVATE_KEY_FILE"), apiv3_key=read("WECHATPAY_APIV3_KEY_FILE"),
            notify_url=config["WECHATPAY_NOTIFY_URL"], timeout=config["WECHATPAY_TIMEOUT"],
            currency=config["CURRENCY"],
            public_key=read("WECHATPAY_PUBLIC_KEY_FILE"), public_key_id=config.get("WECHATPAY_PUBLIC_KEY_ID"),
            cert_dir=config.get("WECHATPAY_CERT_DIR"),
        )

    def _call_raw(self, what, method, *args, expected=(), **kwargs) -> tuple[int, str | bytes]:
        """Run one SDK call; turn every failure into PaymentError, log without secrets. The body as sent.

        Error codes in ``expected`` (a bill not made yet, say) are ordinary answers: logged at INFO.
        """
        try:
            status, body = method(*args, **kwargs)
        except requests.Timeout:
            log.warning("wechatpay %s: timeout", what)
            raise PaymentError(PaymentErrorCode.TIMEOUT) from None
        except requests.RequestException as exc:
            log.warning("wechatpay %s: %s", what, type(exc).__name__)
            raise PaymentError(PaymentErrorCode.NETWORK_ERROR) from None
        except Exception as exc:  # the SDK raises bare Exception for a bad response signature
            log.error("wechatpay %s: response rejected: %s", what, exc)
            raise PaymentError(PaymentErrorCode.INVALID_RESPONSE) from None
        if not 200 <= status < 300:
            data = json_object(body)
            code, message = data.get("code", f"HTTP_{status}"), data.get("message", "微信支付返回错误")
            log.log(logging.INFO if code in expected else logging.WARNING, "wechatpay %s: HTTP %s %s", what,
                    status, code)
            raise PaymentError(code, message, status)
        return status, body

    def _call(self, what, method, *args, expected=(), **kwargs) -> tuple[int, dict]:
        """Run one SDK call that answers JSON (see _call_raw)."""
        status, body = self._call_raw(what, method, *args, expected=expected, **kwargs)
        return status, json_object(body)

    def create_payment(self, request: PaymentRequest) -> PaymentPrompt:
        pay_type, answer_field, extra = {
            PaymentChannel.NATIVE: (WeChatPayType.NATIVE, "code_url", {}),
            PaymentChannel.JSAPI: (WeChatPayType.JSAPI, "prepay_id", {"payer": {"openid": request.openid}}),
            PaymentChannel.H5: (WeChatPayType.H5, "h5_url", {
                "scene_info": {"payer_client_ip": request.client_ip, "h5_info": {"type": "Wap"}}}),
        }[request.channel]
        _, data = self._call(
            f"{request.channel} {request.out_trade_no}", self._pay.pay, pay_type=pay_type,
            description=request.description, out_trade_no=request.out_trade_no,
            amount={"total": request.total_fen, "currency": self.currency},
            time_expire=rfc3339(request.time_expire), attach=request.attach, notify_url=request.notify_url, **extra,
        )
        if not data.get(answer_field):
            raise PaymentError(PaymentErrorCode.INVALID_RESPONSE, f"微信支付未返回 {answer_field}", 200)
        return PaymentPrompt(request.channel, data[answer_field])

    def jsapi_parameters(self, prepay_id: str, timestamp: int, nonce: str) -> dict:
        """getBrandWCPayRequest's parameters; paySign signs appId, timeStamp, nonceStr and package."""
        parameters = {"appId": self.appid, "timeStamp": str(timestamp), "nonceStr": nonce,
                      "package": f"prepay_id={prepay_id}", "signType": "RSA"}
        parameters["paySign"] = self._pay.sign(
            [parameters["appId"], parameters["timeStamp"], parameters["nonceStr"], parameters["package"]])
        return parameters

    def query(self, out_trade_no: str) -> Transaction:
        _, data = self._call(f"query {out_trade_no}", self._pay.query, out_trade_no=out_trade_no)
        return transaction_from(data)

    def close(self, out_trade_no: str) -> None:
        self._call(f"close {out_trade_no}", self._pay.close, out_trade_no=out_trade_no)

    def refund(self, out_trade_no, out_refund_no, refund_fen, total_fen, reason) -> RefundResult:
        _, data = self._call(
            f"refund {out_refund_no}", self._pay.refund, out_refund_no=out_refund_no,
            out_trade_no=out_trade_no, reason=reason or None,
            amount={"refund": refund_fen, "total": total_fen, "currency": self.currency},
        )
        return refund_from(data)

    def query_refund(self, out_refund_no: str) -> RefundResult:
        _, data = self._call(f"query_refund {out_refund_no}", self._pay.query_refund, out_refund_no=out_refund_no)
        return refund_from(data)

    # -- trade bills ------------------------------------------------------------------------------

    def trade_bill(self, bill_date: date) -> TradeBill:
        day = bill_date.isoformat()
        _, data = self._call(f"tradebill {day}", self._pay.trade_bill, bill_date=day, bill_type="ALL",
                             tar_type="GZIP", expected=(PaymentErrorCode.STATEMENT_CREATING,
                                                        PaymentErrorCode.NO_STATEMENT_EXIST))
        url = data.get("download_url") or ""
        # The download is signed with the merchant key: only ever to WeChat Pay's own host.
        if not url.startswith(self._pay._core._gate_way + "/"):
            raise PaymentError(PaymentErrorCode.INVALID_RESPONSE, "账单下载地址不是微信支付的", 200)
        _, content = self._call_raw(f"billdownload {day}", self._pay.download_bill, url)
        if content[:2] == b"\x1f\x8b":  # gzip, as asked for
            try:
                content = gzip.decompress(content)
            except (OSError, EOFError):
                raise PaymentError(PaymentErrorCode.BILL_HASH_MISMATCH, "账单文件无法解压", 200) from None
        expected = (data.get("hash_value") or "").lower()
        if data.get("hash_type", "SHA1") != "SHA1" or hashlib.sha1(content).hexdigest() != expected:
            log.error("tradebill %s: the file's SHA1 does not match hash_value", day)
            raise PaymentError(PaymentErrorCode.BILL_HASH_MISMATCH, http_status=200)
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PaymentError(PaymentErrorCode.BILL_HASH_MISMATCH, "账单文件不是 UTF-8", 200) from None
        return TradeBill(bill_date=bill_date, hash_value=expected, text=text)

    # -- platform certificates (certificate mode) --------------------------------------------------

    def refresh_certificates(self) -> int:
        """Download the platform certificates from the configured URL and swap them in whole.

        Certificate mode only (the jobs process calls this on a schedule); returns how many are held.
        The list is replaced, never emptied first, so a verification running meanwhile still works.
        """
        if not self._cert_dir:
            return 0
        core = self._pay._core
        fresh = copy.copy(core)
        fresh._certificates = []
        fresh._update_certificates = type(core)._update_certificates.__get__(fresh)
        fresh._update_certificates()  # GET {url}/v3/certificates; new ones are also written to cert_dir
        if fresh._certificates:
            core._certificates = fresh._certificates
        return len(core._certificates)

    def _holds_serial(self, serial: str) -> bool:
        if self._public_key_id and serial == self._public_key_id:
            return True
        try:
            number = int(serial, 16)
        except ValueError:
            return False
        return any(certificate.serial_number == number for certificate in self._pay._core._certificates)

    def _knows_serial(self, serial: str) -> bool:
        """Whether a notification's serial names a key we hold: never a reason to download anything.

        A serial we do not hold may be a certificate the jobs process has just downloaded: look at the
        certificate folder again (disk only), at most once a minute.
        """
        if self._holds_serial(serial):
            return True
        if not self._cert_dir or len(serial) > 40:
            return False
        with self._reload_lock:
            if time.monotonic() - self._reloaded_at < CERTIFICATE_RELOAD_INTERVAL:
                return False
            self._reloaded_at = time.monotonic()
            on_disk = load_certificates(self._cert_dir)
            if on_disk:
                self._pay._core._certificates = on_disk
        return self._holds_serial(serial)

    # -- notifications ---------------------------------------------------------------------------

    def parse_notification(self, headers, body: bytes, now: datetime) -> Notification:
        if len(body) > NOTIFICATION_MAX_BYTES:
            raise NotificationRejected("body too large")
        headers = {name: headers.get(name, "") for name in NOTIFICATION_HEADERS}
        if headers["Wechatpay-Signature"].startswith(SIGNTEST_PREFIX):
            raise NotificationRejected("signature probe")
        try:
            timestamp = int(headers["Wechatpay-Timestamp"])
        except ValueError:
            raise NotificationRejected("missing timestamp") from None
        if abs(now.replace(tzinfo=timezone.utc).timestamp() - timestamp) > NOTIFICATION_MAX_AGE:
            raise NotificationRejected("timestamp outside the 5-minute window")
        if not self._knows_serial(headers["Wechatpay-Serial"]):
            raise NotificationRejected("unknown Wechatpay-Serial")
        try:
            data = self._pay.callback(headers, body)
        except Exception as exc:  # missing signature type, bad JSON, unsupported algorithm
            raise NotificationRejected(f"unverifiable: {type(exc).__name__}") from None
        if not data:
            raise NotificationRejected("signature or decryption failed")
        try:
            event_type = data["event_type"]
            resource = data["resource"]
            if event_type.startswith("TRANSACTION."):
                resource = transaction_from(resource)
            elif event_type.startswith("REFUND."):
                resource = refund_from(resource)
            return Notification(
                id=str(data["id"]), event_type=event_type, create_time=data.get("create_time", ""),
                summary=data.get("summary", ""), resource=resource, raw=data,
            )
        except (KeyError, TypeError, AttributeError):
            raise NotificationRejected("malformed resource") from None
