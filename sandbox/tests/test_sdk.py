"""The unmodified wechatpayv3 SDK against a sandbox over real HTTP on 127.0.0.1."""

import json
import time
import uuid

import pytest
import requests
from wechatpayv3 import WeChatPay, WeChatPayType

from wechatpay_sandbox import crypto


def ok(result):
    status, body = result
    assert 200 <= status < 300, (status, body)
    return json.loads(body) if body else None


def full_flow(client, receiver, out_trade_no: str, pay):
    """pay -> query (both ways) -> customer pays -> notification -> refund -> query_refund -> close."""
    code_url = ok(client.pay(description="青花瓷茶杯", out_trade_no=out_trade_no,
                             amount={"total": 1999, "currency": "CNY"}, attach="token-1"))["code_url"]
    assert code_url.startswith("weixin://wxpay/bizpayurl?pr=")

    unpaid = ok(client.query(out_trade_no=out_trade_no))
    assert unpaid["trade_state"] == "NOTPAY" and unpaid["amount"]["total"] == 1999

    pay(out_trade_no)
    paid = ok(client.query(out_trade_no=out_trade_no))
    assert paid["trade_state"] == "SUCCESS"
    assert paid["trade_type"] == "NATIVE" and paid["attach"] == "token-1"
    assert paid["amount"] == {"total": 1999, "payer_total": 1999, "currency": "CNY", "payer_currency": "CNY"}
    assert paid["payer"]["openid"].startswith("o") and paid["success_time"].endswith("+08:00")
    by_id = ok(client.query(transaction_id=paid["transaction_id"]))
    assert by_id["out_trade_no"] == out_trade_no and by_id["transaction_id"] == paid["transaction_id"]

    first = receiver.wait(1)[0]
    notification = client.callback(first.headers, first.body)
    assert notification["event_type"] == "TRANSACTION.SUCCESS"
    assert notification["resource"]["transaction_id"] == paid["transaction_id"]
    assert notification["resource"]["amount"]["total"] == 1999

    refund = ok(client.refund(out_refund_no=f"R{out_trade_no}", out_trade_no=out_trade_no,
                              amount={"refund": 999, "total": 1999, "currency": "CNY"}, reason="退货"))
    assert refund["status"] == "PROCESSING" and refund["amount"]["refund"] == 999
    deadline = time.monotonic() + 5
    while ok(client.query_refund(out_refund_no=f"R{out_trade_no}"))["status"] != "SUCCESS":
        assert time.monotonic() < deadline, "refund never succeeded"
        time.sleep(0.01)
    refund_notice = client.callback(receiver.wait(2)[1].headers, receiver.received[1].body)
    assert refund_notice["event_type"] == "REFUND.SUCCESS"
    assert refund_notice["resource"]["refund_status"] == "SUCCESS"
    assert refund_notice["resource"]["amount"]["refund"] == 999

    assert ok(client.query(out_trade_no=out_trade_no))["trade_state"] == "REFUND"
    # A paid order cannot be closed.
    status, body = client.close(out_trade_no=out_trade_no)
    assert status == 400 and json.loads(body)["code"] == "ORDERPAID"

    # An unpaid order closes with a signed 204 (the SDK verified it, or it would have raised).
    ok(client.pay(description="另一单", out_trade_no=out_trade_no + "C", amount={"total": 1}))
    assert client.close(out_trade_no=out_trade_no + "C")[0] == 204
    assert ok(client.query(out_trade_no=out_trade_no + "C"))["trade_state"] == "CLOSED"


def test_public_key_mode_full_flow(sb, wxpay, receiver):
    full_flow(wxpay, receiver, "PK_FLOW_0001", sb.pay)
    assert receiver.received[0].headers["Wechatpay-Serial"] == sb.keys.public_key_id


def test_certificate_mode_full_flow(make_sandbox, make_client, receiver):
    running = make_sandbox(SANDBOX_KEY_MODE="certificate")
    client = make_client(running, "certificate")
    assert not (client.cert_dir / f"{running.keys.platform_cert_serial}.pem").exists()
    full_flow(client, receiver, "CERT_FLOW_01", running.pay)
    # The first answer carried an unknown serial, so the SDK fetched /v3/certificates and kept it.
    assert (client.cert_dir / f"{running.keys.platform_cert_serial}.pem").read_text() == \
        running.keys.platform_cert_path.read_text()
    assert receiver.received[0].headers["Wechatpay-Serial"] == running.keys.platform_cert_serial


def test_certificate_mode_sdk_refuses_a_sandbox_with_other_keys(make_sandbox, make_client, tmp_path):
    """The downloaded certificate must decrypt under the APIv3 key: a wrong key finds no certificate."""
    running = make_sandbox(SANDBOX_KEY_MODE="certificate")
    client = make_client(running, "certificate")
    client._core._apiv3_key = "x" * 32  # what a shop configured with the wrong APIv3 key would hold
    with pytest.raises(Exception, match="failed to verify the signature"):
        client.pay(description="x", out_trade_no="ANY_ORDER_1", amount={"total": 1})


def test_callback_rejects_a_notification_signed_by_someone_else(sb, wxpay, receiver):
    ok(wxpay.pay(description="x", out_trade_no="FORGED_001", amount={"total": 5}))
    sb.pay("FORGED_001")
    real = receiver.wait(1)[0]
    assert wxpay.callback(real.headers, real.body) is not None
    forged = dict(real.headers)
    forged["Wechatpay-Signature"] = crypto.sign(
        crypto.load_private_key(sb.keys.merchant_private_key_path.read_bytes()),  # not the platform key
        crypto.response_message(forged["Wechatpay-Timestamp"], forged["Wechatpay-Nonce"], real.body))
    assert wxpay.callback(forged, real.body) is None


def test_wrong_merchant_key_is_401(sb, wxpay, receiver, sandbox_dir):
    other = WeChatPay(wechatpay_type=WeChatPayType.NATIVE, notify_url=receiver.url,
                      **{**sb.sdk_kwargs(), "private_key": _other_private_key_pem()})
    other._core._gate_way = sb.url
    status, body = other.pay(description="x", out_trade_no="WRONGKEY01", amount={"total": 1})
    assert status == 401
    error = json.loads(body)
    assert error["code"] == "SIGN_ERROR" and error["message"] == "错误的签名，验签失败"
    assert error["detail"]["sign_information"]["url"] == "/v3/pay/transactions/native"
    assert sb.order("WRONGKEY01") is None


def _other_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _signed_get(sb, target: str, timestamp: int, **overrides):
    key = crypto.load_private_key(sb.keys.merchant_private_key_path.read_bytes())
    items = {"mchid": sb.keys.mchid, "serial_no": sb.keys.merchant_serial_no, **overrides}
    authorization = crypto.build_authorization(key, method="GET", target=target, timestamp=timestamp,
                                               nonce=uuid.uuid4().hex, **items)
    return requests.get(sb.url + target, headers={"Authorization": authorization}, timeout=5)


# +310, not +301: the client's timestamp is truncated to the second and the call takes time, so a future
# stamp 301 s ahead can arrive less than 300 s ahead of the server's clock.
@pytest.mark.parametrize("offset", [-301, 310, -3600])
def test_stale_or_future_timestamp_is_401(sb, offset):
    target = f"/v3/pay/transactions/out-trade-no/NOSUCH001?mchid={sb.keys.mchid}"
    assert _signed_get(sb, target, int(time.time())).status_code == 404  # the same call, fresh: fine
    response = _signed_get(sb, target, int(time.time()) + offset)
    assert response.status_code == 401 and response.json()["code"] == "SIGN_ERROR"


@pytest.mark.parametrize("override", [{"mchid": "1900000001"}, {"serial_no": "ABCDEF0123"}])
def test_wrong_mchid_or_serial_is_401(sb, override):
    target = f"/v3/pay/transactions/out-trade-no/NOSUCH001?mchid={sb.keys.mchid}"
    response = _signed_get(sb, target, int(time.time()), **override)
    assert response.status_code == 401 and response.json()["code"] == "SIGN_ERROR"


def test_response_tampered_in_transit_is_rejected_by_the_sdk(sb, wxpay):
    ok(wxpay.pay(description="x", out_trade_no="TAMPER_001", amount={"total": 1}))
    sb.fault(target="api", mode="tamper", count=2)
    with pytest.raises(Exception, match="failed to verify the signature"):
        wxpay.query(out_trade_no="TAMPER_001")
    with pytest.raises(Exception, match="failed to verify the signature"):
        wxpay.close(out_trade_no="TAMPER_001")  # the 204 case: its signed timestamp was changed
    assert ok(wxpay.query(out_trade_no="TAMPER_001"))["trade_state"] == "CLOSED"


def test_sdk_query_for_unknown_order_is_404(wxpay):
    status, body = wxpay.query(out_trade_no="UNKNOWN_001")
    assert status == 404 and json.loads(body)["code"] == "ORDER_NOT_EXIST"


def test_sdk_threads_share_one_client(sb, wxpay):
    """Concurrent calls through one public-key-mode client all verify (the shop shares its client)."""
    import concurrent.futures

    def create(i):
        return ok(wxpay.pay(description=f"并发{i}", out_trade_no=f"PAR_{i:06d}", amount={"total": i + 1}))

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(create, range(16)))
    assert len({result["code_url"] for result in results}) == 16
