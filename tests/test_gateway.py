"""The API v3 adapter against the sandbox over HTTP: both key modes, typed results, errors as PaymentError."""
import shutil
import threading
from datetime import timedelta

import pytest
from urllib3.connectionpool import HTTPConnectionPool

from core.clock import rfc3339, utcnow
from core.vocabulary import PaymentChannel
from payments import PaymentError, PaymentRequest
from payments.wechatpay_v3 import WeChatPayV3Gateway


def gateway(wechat, tmp_path, mode, timeout=(2, 3)):
    keys = wechat.keys
    options = dict(
        url=wechat.url, mchid=keys.mchid, appid=keys.appid, cert_serial_no=keys.merchant_serial_no,
        private_key=keys.merchant_private_key_path.read_text(), apiv3_key=keys.apiv3_key,
        notify_url="http://127.0.0.1:9/pay/notify", timeout=timeout, currency="CNY",
    )
    if mode == "public_key":
        options.update(public_key=keys.platform_public_key_path.read_text(), public_key_id=keys.public_key_id)
    else:
        cert_dir = tmp_path / "certs"
        cert_dir.mkdir()
        shutil.copy(keys.platform_cert_path, cert_dir / f"{keys.platform_cert_serial}.pem")
        options.update(cert_dir=str(cert_dir))
    return WeChatPayV3Gateway(**options)


def native_request(out_trade_no, total_fen=1999, channel=PaymentChannel.NATIVE, **extra):
    return PaymentRequest(
        channel=channel, out_trade_no=out_trade_no, description="测试商品×1", total_fen=total_fen,
        time_expire=utcnow() + timedelta(minutes=30), attach="token", notify_url="http://127.0.0.1:9/pay/notify",
        **extra,
    )


@pytest.mark.parametrize("mode", ["public_key", "certificate"])
def test_order_query_close_refund_in_both_key_modes(wechat, tmp_path, mode):
    wechat.configure(SANDBOX_KEY_MODE=mode)  # the merchant's mode signs answers to a client that names no key
    gw = gateway(wechat, tmp_path, mode)
    number = f"GW{mode[:4].upper()}{utcnow():%H%M%S%f}"

    request = native_request(number)
    code_url = gw.create_payment(request).value
    assert code_url.startswith("weixin://wxpay/bizpayurl?pr=")
    assert gw.create_payment(request).value == code_url  # same parameters, same code
    txn = gw.query(number)
    assert (txn.trade_state, txn.paid, txn.mchid, txn.appid) == ("NOTPAY", False, wechat.keys.mchid, wechat.keys.appid)

    wechat.pay(number)
    paid = gw.query(number)
    assert paid.paid and paid.total_fen == 1999 and paid.currency == "CNY" and paid.transaction_id
    assert paid.success_time is not None

    refund = gw.refund(number, f"R{number}", 500, 1999, "测试退款")
    assert (refund.status, refund.refund_fen, refund.out_trade_no) == ("PROCESSING", 500, number)
    assert gw.query_refund(f"R{number}").out_refund_no == f"R{number}"

    other = f"GWC{number}"[:32]
    gw.create_payment(native_request(other))
    gw.close(other)
    assert gw.query(other).trade_state == "CLOSED"


def test_errors_carry_wechats_code_and_message(wechat, tmp_path):
    gw = gateway(wechat, tmp_path, "public_key")
    with pytest.raises(PaymentError) as unknown:
        gw.query("NOSUCHORDER42")
    assert (unknown.value.code, unknown.value.http_status, unknown.value.retryable) == ("ORDER_NOT_EXIST", 404, False)

    number = f"GWE{utcnow():%H%M%S%f}"
    gw.create_payment(native_request(number))
    with pytest.raises(PaymentError) as reused:
        gw.create_payment(native_request(number, total_fen=1))
    assert reused.value.code == "OUT_TRADE_NO_USED" and reused.value.http_status == 403


@pytest.mark.parametrize("mode, code, retryable", [
    ("system_error", "SYSTEM_ERROR", True), ("frequency_limited", "FREQUENCY_LIMITED", True),
    ("hang", "TIMEOUT", True), ("tamper", "INVALID_RESPONSE", True),
])
def test_faults_become_payment_errors(wechat, tmp_path, mode, code, retryable):
    gw = gateway(wechat, tmp_path, "public_key", timeout=(2, 0.3))  # a hang outlasts the 0.3 s read timeout
    wechat.fault(target="api", mode=mode, count=1, seconds=2)
    with pytest.raises(PaymentError) as error:
        gw.create_payment(native_request(f"GWF{utcnow():%H%M%S%f}"))
    assert (error.value.code, error.value.retryable) == (code, retryable)


def test_a_threads_calls_keep_one_connection_alive(wechat, tmp_path, monkeypatch):
    """WeChat Pay keeps connections open: a thread's calls share one, not a new TCP (and TLS) handshake each."""
    opened, new_connection = [], HTTPConnectionPool._new_conn

    def counted(pool):  # only this test's threads: the sandbox's notifier and others run in this process too
        if threading.current_thread().name.startswith("keep-alive-"):
            opened.append(threading.current_thread().name)
        return new_connection(pool)

    monkeypatch.setattr(HTTPConnectionPool, "_new_conn", counted)
    gw = gateway(wechat, tmp_path, "public_key")
    number = f"GWK{utcnow():%H%M%S%f}"
    states = []

    def calls(queries):
        states.extend(gw.query(number).trade_state for _ in range(queries))

    first = threading.Thread(target=lambda: (gw.create_payment(native_request(number)), calls(3)),
                             name="keep-alive-1")
    first.start()
    first.join(timeout=30)
    assert states == ["NOTPAY"] * 3 and opened == ["keep-alive-1"]
    second = threading.Thread(target=calls, args=(2,), name="keep-alive-2")  # requests' sessions are per thread
    second.start()
    second.join(timeout=30)
    assert states == ["NOTPAY"] * 5 and opened == ["keep-alive-1", "keep-alive-2"]


def test_jsapi_and_h5_payments_give_their_prompts_and_a_signed_pay_sheet(wechat, tmp_path):
    gw = gateway(wechat, tmp_path, "public_key")
    openid = wechat.openid("payer")
    jsapi = gw.create_payment(native_request(f"GWJ{utcnow():%H%M%S%f}", channel=PaymentChannel.JSAPI, openid=openid))
    h5 = gw.create_payment(native_request(f"GWH{utcnow():%H%M%S%f}", channel=PaymentChannel.H5,
                                          client_ip="203.0.113.7"))

    assert jsapi.channel == PaymentChannel.JSAPI and jsapi.value.startswith("wx")
    assert h5.channel == PaymentChannel.H5 and "/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=" in h5.value
    sheet = gw.jsapi_parameters(jsapi.value, 1764000000, "nonce123")
    assert sheet["package"] == f"prepay_id={jsapi.value}" and sheet["signType"] == "RSA"
    assert sheet["appId"] == wechat.keys.appid and sheet["timeStamp"] == "1764000000" and sheet["paySign"]


def test_time_expire_is_rfc3339_in_beijing_time():
    from datetime import datetime

    assert rfc3339(datetime(2026, 11, 27, 12, 30, 15, 999)) == "2026-11-27T20:30:15+08:00"
