"""The v3 routes' rules: authentication, signed answers, field limits, order and refund states."""

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from freezegun import freeze_time

from wechatpay_sandbox import clock, crypto


def now_utc():
    return datetime.now(timezone.utc).replace(microsecond=0)


# -- authentication -------------------------------------------------------------------------

def test_authorization_items_in_any_order(v3):
    target = f"/v3/pay/transactions/out-trade-no/NOSUCH001?mchid={v3.keys.mchid}"
    header = crypto.build_authorization(v3.key, mchid=v3.keys.mchid, serial_no=v3.keys.merchant_serial_no,
                                        method="GET", target=target, timestamp=int(now_utc().timestamp()),
                                        nonce="N" * 32)
    scheme, items = header.split(" ", 1)
    for ordering in (items.split(","), list(reversed(items.split(",")))):
        response = v3.client.get(target, headers={"Authorization": scheme + " " + ",".join(ordering)})
        assert response.status_code == 404 and response.json["code"] == "ORDER_NOT_EXIST"


def test_missing_or_garbled_authorization_is_401(v3):
    target = f"/v3/pay/transactions/out-trade-no/NOSUCH001?mchid={v3.keys.mchid}"
    for headers in ({}, {"Authorization": "WECHATPAY2-SHA256-RSA2048 mchid=1"}):
        response = v3.client.get(target, headers=headers)
        assert response.status_code == 401 and response.json["code"] == "SIGN_ERROR"


def test_signature_covers_the_body_as_received(v3):
    body = json.dumps({"mchid": v3.keys.mchid}).encode()
    target = "/v3/pay/transactions/out-trade-no/ANY_ORDER1/close"
    header = crypto.build_authorization(v3.key, mchid=v3.keys.mchid, serial_no=v3.keys.merchant_serial_no,
                                        method="POST", target=target, timestamp=int(now_utc().timestamp()),
                                        nonce="N" * 32, body=body)
    sent_other = v3.client.post(target, data=body.replace(b'": "', b'":"'), headers={"Authorization": header})
    assert sent_other.status_code == 401
    assert sent_other.json["detail"]["sign_information"]["url"] == target
    assert v3.client.post(target, data=body, headers={"Authorization": header}).status_code == 204


def test_sdk_signing_an_unencoded_target_fails_like_the_real_service(wxpay):
    """requests sends '|' as %7C but the SDK signs '|': the raw request-target does not match."""
    status, body = wxpay.query(out_trade_no="AB|CDEF")
    assert status == 401 and json.loads(body)["code"] == "SIGN_ERROR"


# -- signed answers ---------------------------------------------------------------------------

def test_answers_are_signed(v3, signed_by_platform):
    created = v3.native(out_trade_no="SIGNED_001")
    assert created.status_code == 200
    assert created.headers["Content-Type"] == "application/json; charset=utf-8"
    assert created.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert created.headers["Request-ID"]
    assert signed_by_platform(created)
    assert signed_by_platform(v3.query("SIGNED_001"))
    closed = v3.post("/v3/pay/transactions/out-trade-no/SIGNED_001/close", {"mchid": v3.keys.mchid})
    assert closed.status_code == 204 and closed.get_data() == b""
    assert signed_by_platform(closed)


@pytest.mark.parametrize("mode, asked, answered", [
    ("public_key", None, "public_key_id"),  # a client holding only the public key names none
    ("public_key", "public_key_id", "public_key_id"),
    ("public_key", "platform_cert_serial", "platform_cert_serial"),  # a client still on certificates
    ("public_key", "UNKNOWN_SERIAL", "public_key_id"),
    ("certificate", None, "platform_cert_serial"),
    ("certificate", "public_key_id", "public_key_id"),
])
def test_answer_serial_follows_the_request_then_the_merchants_key_mode(make_app, make_v3, signed_by_platform,
                                                                       mode, asked, answered):
    v3 = make_v3(make_app(SANDBOX_KEY_MODE=mode))
    serial = getattr(v3.keys, asked, asked) if asked else None
    response = v3.query("NOSUCH001") if asked is None else \
        v3.get(f"/v3/pay/transactions/out-trade-no/NOSUCH001?mchid={v3.keys.mchid}", serial=serial)
    assert response.status_code == 404  # errors are signed too, under the same rule
    assert response.headers["Wechatpay-Serial"] == getattr(v3.keys, answered)
    assert signed_by_platform(response)


def test_certificates_endpoint(v3):
    response = v3.get("/v3/certificates")
    entry = response.json["data"][0]
    assert entry["serial_no"] == v3.keys.platform_cert_serial
    sealed = entry["encrypt_certificate"]
    assert sealed["algorithm"] == "AEAD_AES_256_GCM" and sealed["associated_data"] == "certificate"
    assert len(sealed["nonce"]) == 12
    pem = crypto.aead_decrypt(v3.keys.apiv3_key, sealed["nonce"], sealed["ciphertext"], "certificate")
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert format(cert.serial_number, "X") == entry["serial_no"]
    assert clock.parse_rfc3339(entry["expire_time"]) - clock.parse_rfc3339(entry["effective_time"]) \
        >= timedelta(days=5 * 365)


def test_unknown_v3_path_answers_json(v3):
    response = v3.get("/v3/no/such/thing")
    assert response.status_code == 404 and response.json["code"] == "NOT_FOUND"


# -- Native order fields ----------------------------------------------------------------------

def test_description_limit_counts_utf8_bytes(v3):
    assert v3.native(out_trade_no="DESC_00001", description="茶" * 42).status_code == 200  # 126 bytes
    response = v3.native(out_trade_no="DESC_00002", description="茶" * 43)  # 129 bytes
    assert response.status_code == 400 and response.json["code"] == "PARAM_ERROR"
    assert response.json["detail"] == {"location": "body", "value": 129}
    assert "/body/description" in response.json["message"]
    assert v3.native(out_trade_no="DESC_00003", description="a" * 127).status_code == 200


@pytest.mark.parametrize("fields", [
    {"out_trade_no": "ABC12"}, {"out_trade_no": "A" * 33}, {"out_trade_no": "订单123456"},
    {"out_trade_no": "ABC 123456"}, {"description": ""}, {"description": None},
    {"notify_url": "http://shop.example.com/pay/notify"}, {"notify_url": "https://shop.example.com/n?x=1"},
    {"notify_url": "ftp://shop.example.com/n"}, {"notify_url": None}, {"notify_url": "https://" + "a" * 250},
    {"amount": {"total": 0}}, {"amount": {"total": -1}}, {"amount": {"total": 1.5}},
    {"amount": {"total": "100"}}, {"amount": {"total": True}}, {"amount": None},
    {"amount": {"total": 100, "currency": "USD"}}, {"amount": {"total": 2**31}},
    {"time_expire": "2030-01-01 10:00:00"}, {"time_expire": "2030-01-01T10:00:00"},
    {"attach": "x" * 129}, {"goods_tag": "x" * 33}, {"support_fapiao": "yes"},
    {"scene_info": {"device_id": "1"}}, {"detail": {"goods_detail": "x" * 7000}},
], ids=lambda fields: json.dumps(fields, ensure_ascii=False)[:40])
def test_native_order_rejects_bad_fields(v3, fields):
    response = v3.native(**fields)
    assert response.status_code == 400 and response.json["code"] == "PARAM_ERROR", response.json
    assert v3.query("ORDER_0001").status_code == 404  # nothing was created


@pytest.mark.parametrize("fields", [
    {"out_trade_no": "Ab_-|*1234"}, {"out_trade_no": "A" * 32},
    {"notify_url": "http://127.0.0.1:5000/pay/notify"}, {"notify_url": "http://localhost/pay/notify"},
    {"amount": {"total": 1}}, {"attach": "x" * 128}, {"scene_info": {"payer_client_ip": "127.0.0.1"}},
])
def test_native_order_accepts_good_fields(v3, fields):
    assert v3.native(**fields).status_code == 200


def test_appid_and_mchid_must_match(v3):
    wrong_appid = v3.native(appid="wx0000000000000000")
    assert wrong_appid.status_code == 400 and wrong_appid.json["code"] == "APPID_MCHID_NOT_MATCH"
    wrong_mchid = v3.native(mchid="1900000001")  # not the mchid that signed the request
    assert wrong_mchid.status_code == 400 and wrong_mchid.json["code"] == "PARAM_ERROR"
    assert wrong_mchid.json["detail"] == {"field": "mchid", "location": "body", "value": "1900000001"}
    assert v3.query("ORDER_0001").status_code == 404


def test_not_json_is_400(v3):
    response = v3.post("/v3/pay/transactions/native", b"{not json")
    assert response.status_code == 400 and response.json["code"] == "PARAM_ERROR"


def test_time_expire_rules(v3, sandbox_app):
    start = now_utc()
    with freeze_time(start):
        early = clock.rfc3339(start + timedelta(seconds=20))
        assert v3.native(out_trade_no="EXPIRE_001", time_expire=early).status_code == 200
        late = clock.rfc3339(start + timedelta(days=15, seconds=1))
        too_late = v3.native(out_trade_no="EXPIRE_002", time_expire=late)
        assert too_late.status_code == 400 and too_late.json["code"] == "PARAM_ERROR"
        assert v3.native(out_trade_no="EXPIRE_003").status_code == 200
        control = sandbox_app.test_client()
        # An expiry under a minute away is raised to +1 min; none given means 7 days.
        assert control.get("/sandbox/api/orders/EXPIRE_001").json["time_expire"] == \
            clock.rfc3339(start + timedelta(minutes=1))
        assert control.get("/sandbox/api/orders/EXPIRE_003").json["time_expire"] == \
            clock.rfc3339(start + timedelta(days=7))


def test_past_time_expire_the_payer_cannot_pay_but_the_order_stays_notpay_until_closed(v3, sandbox_app):
    """WeChat leaves closing to the merchant: time_expire only ends the payer's chance to pay."""
    start = now_utc()
    control = sandbox_app.test_client()
    with freeze_time(start) as frozen:
        expire = clock.rfc3339(start + timedelta(minutes=10))
        assert v3.native(out_trade_no="EXPIRE_010", time_expire=expire).status_code == 200
        frozen.tick(timedelta(minutes=9, seconds=59))
        assert control.post("/sandbox/api/orders/EXPIRE_010/cancel").status_code == 200  # still on the phone
        frozen.tick(timedelta(seconds=1))
        refused = control.post("/sandbox/api/orders/EXPIRE_010/pay")
        assert refused.status_code == 409 and refused.json["error"] == "ORDER_EXPIRED"
        frozen.tick(timedelta(days=30))
        control.get("/")  # the worker's tick (pages run it too) closes nothing
        queried = v3.query("EXPIRE_010").json
        assert (queried["trade_state"], queried["trade_state_desc"]) == ("NOTPAY", "订单未支付")
        again = v3.native(out_trade_no="EXPIRE_010", time_expire=expire)
        assert again.status_code == 400 and again.json["code"] == "ORDER_CLOSED"
        other = v3.native(out_trade_no="EXPIRE_010", time_expire=expire, description="别的")
        assert other.status_code == 403 and other.json["code"] == "OUT_TRADE_NO_USED"

        closed = v3.post("/v3/pay/transactions/out-trade-no/EXPIRE_010/close", {"mchid": v3.keys.mchid})
        assert closed.status_code == 204
        assert v3.query("EXPIRE_010").json["trade_state"] == "CLOSED"
        order = control.get("/sandbox/api/orders/EXPIRE_010").json
        assert (order["close_reason"], order["closed_at"]) == ("merchant", clock.rfc3339(clock.now()))


# -- repeats, code_url, states ------------------------------------------------------------------

def test_same_out_trade_no_same_parameters_gets_a_current_code_url(v3, sandbox_app):
    start = now_utc()
    control = sandbox_app.test_client()
    with freeze_time(start) as frozen:
        first = v3.native(out_trade_no="REPEAT_001").json["code_url"]
        frozen.tick(timedelta(hours=1))
        assert v3.native(out_trade_no="REPEAT_001").json["code_url"] == first
        frozen.tick(timedelta(hours=1, seconds=1))  # the first code_url is now 2 h old
        second = v3.native(out_trade_no="REPEAT_001").json["code_url"]
        assert second != first and second.startswith("weixin://wxpay/bizpayurl?pr=")
        stale = control.post("/sandbox/api/orders/REPEAT_001/pay", json={"code_url": first})
        assert stale.status_code == 409 and stale.json["error"] == "CODE_URL_EXPIRED"
        assert control.post("/sandbox/api/orders/REPEAT_001/pay", json={"code_url": second}).status_code == 200


@pytest.mark.parametrize("change", [{"amount": {"total": 101}}, {"description": "别的"},
                                    {"attach": "x"}, {"notify_url": "https://shop.example.com/other"}])
def test_same_out_trade_no_other_parameters_is_out_trade_no_used(v3, change):
    assert v3.native(out_trade_no="REUSED_001").status_code == 200
    response = v3.native(out_trade_no="REUSED_001", **change)
    assert response.status_code == 403 and response.json["code"] == "OUT_TRADE_NO_USED"


def test_closed_and_paid_orders_refuse_a_new_code_url(v3, sandbox_app):
    v3.native(out_trade_no="STATE_0001")
    v3.post("/v3/pay/transactions/out-trade-no/STATE_0001/close", {"mchid": v3.keys.mchid})
    closed = v3.native(out_trade_no="STATE_0001")
    assert closed.status_code == 400 and closed.json["code"] == "ORDER_CLOSED"
    v3.native(out_trade_no="STATE_0002")
    sandbox_app.test_client().post("/sandbox/api/orders/STATE_0002/pay")
    paid = v3.native(out_trade_no="STATE_0002")
    assert paid.status_code == 400 and paid.json["code"] == "ORDERPAID"


def test_the_control_api_lists_the_newest_orders_up_to_a_limit(v3, sandbox_app):
    for n in range(3):
        v3.native(out_trade_no=f"LIST_00{n}01")
    control = sandbox_app.test_client()
    listed = control.get("/sandbox/api/orders?limit=2").json["orders"]
    assert [order["out_trade_no"] for order in listed] == ["LIST_00201", "LIST_00101"]
    assert len(control.get("/sandbox/api/orders").json["orders"]) == 3
    for bad in ("0", "x", "100001"):
        assert control.get(f"/sandbox/api/orders?limit={bad}").status_code == 400


def test_query_and_close_need_the_signers_mchid(v3):
    v3.native(out_trade_no="QUERY_0001")
    for response in (v3.get("/v3/pay/transactions/out-trade-no/QUERY_0001"),
                     v3.get("/v3/pay/transactions/out-trade-no/QUERY_0001?mchid=1900000001"),
                     v3.get("/v3/pay/transactions/id/4200000000202601011234567890?mchid=1900000001"),
                     v3.post("/v3/pay/transactions/out-trade-no/QUERY_0001/close", {"mchid": "1900000001"})):
        assert response.status_code == 400 and response.json["code"] == "PARAM_ERROR", response.json
    assert v3.query("QUERY_0001").json["trade_state"] == "NOTPAY"  # the refused close changed nothing


def test_query_by_transaction_id_only_once_paid(v3, sandbox_app):
    v3.native(out_trade_no="QUERY_0002")
    before = v3.get(f"/v3/pay/transactions/id/4200000000202601011234567890?mchid={v3.keys.mchid}")
    assert before.status_code == 404 and before.json["code"] == "ORDER_NOT_EXIST"
    assert "transaction_id" not in v3.query("QUERY_0002").json
    paid = sandbox_app.test_client().post("/sandbox/api/orders/QUERY_0002/pay").json
    assert len(paid["transaction_id"]) == 28 and paid["transaction_id"].isdigit()
    by_id = v3.get(f"/v3/pay/transactions/id/{paid['transaction_id']}?mchid={v3.keys.mchid}")
    assert by_id.status_code == 200 and by_id.json["out_trade_no"] == "QUERY_0002"
    assert by_id.json["trade_state_desc"] == "支付成功" and by_id.json["bank_type"]


def test_close_semantics(v3, sandbox_app):
    close = lambda no, body=None: v3.post(  # noqa: E731
        f"/v3/pay/transactions/out-trade-no/{no}/close", {"mchid": v3.keys.mchid} if body is None else body)
    assert close("NEVER_SEEN1").status_code == 204  # unknown: 204, as the real service does
    v3.native(out_trade_no="CLOSE_0001")
    assert close("CLOSE_0001").status_code == 204
    assert close("CLOSE_0001").status_code == 204  # already closed: 204 again
    assert close("CLOSE_0001", {}).status_code == 400  # mchid is required
    v3.native(out_trade_no="CLOSE_0002")
    sandbox_app.test_client().post("/sandbox/api/orders/CLOSE_0002/pay")
    paid = close("CLOSE_0002")
    assert paid.status_code == 400 and paid.json == {"code": "ORDERPAID", "message": "订单已支付"}
    assert v3.query("CLOSE_0002").json["trade_state"] == "SUCCESS"


def test_customer_cancel_leaves_the_order_unpaid(v3, sandbox_app):
    v3.native(out_trade_no="CANCEL_001")
    control = sandbox_app.test_client()
    assert control.post("/sandbox/api/orders/CANCEL_001/cancel").status_code == 200
    assert v3.query("CANCEL_001").json["trade_state"] == "NOTPAY"
    assert control.post("/sandbox/api/orders/CANCEL_001/pay").status_code == 200  # may still pay later
    assert control.post("/sandbox/api/orders/CANCEL_001/pay").status_code == 409
    assert control.post("/sandbox/api/orders/NOSUCH_001/pay").status_code == 404


# -- refunds ----------------------------------------------------------------------------------

def refund(v3, out_refund_no="REFUND_001", refund=100, total=100, **fields):
    body = {"out_trade_no": "PAID_00001", "out_refund_no": out_refund_no,
            "amount": {"refund": refund, "total": total, "currency": "CNY"}, **fields}
    return v3.post("/v3/refund/domestic/refunds", {k: v for k, v in body.items() if v is not None})


@pytest.fixture
def paid_order(v3, sandbox_app):
    v3.native(out_trade_no="PAID_00001", amount={"total": 100})
    return sandbox_app.test_client().post("/sandbox/api/orders/PAID_00001/pay").json


def test_refund_amounts_are_checked(v3, paid_order):
    over = refund(v3, refund=101)
    assert over.status_code == 400 and over.json["code"] == "INVALID_REQUEST"
    wrong_total = refund(v3, refund=10, total=99)
    assert wrong_total.status_code == 400
    assert refund(v3, "REFUND_001", refund=60).status_code == 200
    assert refund(v3, "REFUND_002", refund=30).status_code == 200
    remaining_exceeded = refund(v3, "REFUND_003", refund=11)
    assert remaining_exceeded.status_code == 400 and remaining_exceeded.json["code"] == "INVALID_REQUEST"
    assert refund(v3, "REFUND_003", refund=10).status_code == 200
    assert refund(v3, "REFUND_004", refund=1).status_code == 400  # nothing left


def test_refund_repeat_is_idempotent(v3, paid_order):
    first = refund(v3, refund=50).json
    again = refund(v3, refund=50, out_trade_no=None, transaction_id=paid_order["transaction_id"]).json
    assert again["refund_id"] == first["refund_id"]
    changed = refund(v3, refund=40)
    assert changed.status_code == 400 and changed.json["code"] == "INVALID_REQUEST"


@pytest.mark.parametrize("fields", [
    {"out_refund_no": "R 1"}, {"out_refund_no": "R" * 65}, {"amount": {"refund": 1, "total": 100}},
    {"amount": {"refund": 0, "total": 100, "currency": "CNY"}}, {"reason": "因" * 27},
    {"funds_account": "OTHER"}, {"notify_url": "http://shop.example.com/refund"},
])
def test_refund_rejects_bad_fields(v3, paid_order, fields):
    body = {"out_trade_no": "PAID_00001", "out_refund_no": "REFUND_001",
            "amount": {"refund": 1, "total": 100, "currency": "CNY"}, **fields}
    response = v3.post("/v3/refund/domestic/refunds", body)
    assert response.status_code == 400 and response.json["code"] == "PARAM_ERROR"


def test_refund_needs_a_paid_order(v3):
    unknown = refund(v3)
    assert unknown.status_code == 404 and unknown.json["code"] == "RESOURCE_NOT_EXISTS"
    v3.native(out_trade_no="PAID_00001", amount={"total": 100})
    unpaid = refund(v3)
    assert unpaid.status_code == 400 and unpaid.json["code"] == "INVALID_REQUEST"


def test_refund_processing_then_success_with_notification(v3, sandbox_app, paid_order):
    start = now_utc()
    control = sandbox_app.test_client()
    with freeze_time(start) as frozen:
        created = refund(v3, "REFUND_001", refund=40, notify_url="https://shop.example.com/refund-notify").json
        assert created["status"] == "PROCESSING" and "success_time" not in created
        assert created["amount"]["refund"] == 40 and created["amount"]["total"] == 100
        frozen.tick(timedelta(seconds=4))  # time scale 1: five real seconds
        assert v3.get("/v3/refund/domestic/refunds/REFUND_001").json["status"] == "PROCESSING"
        frozen.tick(timedelta(seconds=2))
        done = v3.get("/v3/refund/domestic/refunds/REFUND_001").json
        assert done["status"] == "SUCCESS" and done["success_time"]
        deliveries = control.get("/sandbox/api/deliveries?out_trade_no=PAID_00001").json["deliveries"]
    [notice] = [d for d in deliveries if d["event_type"] == "REFUND.SUCCESS"]
    assert notice["notify_url"] == "https://shop.example.com/refund-notify"
    envelope = json.loads(notice["body"])
    resource = json.loads(crypto.aead_decrypt(v3.keys.apiv3_key, envelope["resource"]["nonce"],
                                              envelope["resource"]["ciphertext"], "refund"))
    assert resource["refund_status"] == "SUCCESS" and resource["amount"]["refund"] == 40
    assert resource["out_trade_no"] == "PAID_00001" and resource["refund_id"] == created["refund_id"]


def test_refund_without_notify_url_notifies_the_merchants_refund_callback_or_nobody(v3, sandbox_app, paid_order):
    """Never the payment's notify_url: WeChat uses the refund callback set on the merchant platform."""
    control = sandbox_app.test_client()
    start = now_utc()
    with freeze_time(start) as frozen:
        refund(v3, "REFUND_001", refund=40)  # no callback configured: nobody is told
        configured = control.patch("/sandbox/api/settings",
                                   json={"SANDBOX_REFUND_NOTIFY_URL": "https://shop.example.com/refunds"})
        assert configured.json["settings"]["SANDBOX_REFUND_NOTIFY_URL"] == "https://shop.example.com/refunds"
        refund(v3, "REFUND_002", refund=60)
        frozen.tick(timedelta(seconds=6))
        control.get("/")  # the overview settles due refunds, as the worker does
        assert control.get("/sandbox/api/refunds/REFUND_001").json["status"] == "SUCCESS"
        deliveries = control.get("/sandbox/api/deliveries?out_trade_no=PAID_00001").json["deliveries"]
    assert [(d["event_type"], d["out_refund_no"], d["notify_url"]) for d in deliveries] == [
        ("TRANSACTION.SUCCESS", None, "https://shop.example.com/pay/notify"),
        ("REFUND.SUCCESS", "REFUND_002", "https://shop.example.com/refunds"),
    ]
    bad = control.patch("/sandbox/api/settings", json={"SANDBOX_REFUND_NOTIFY_URL": "http://shop.example.com/r"})
    assert bad.status_code == 400 and bad.json["error"] == "INVALID_SETTING"


def test_unknown_refund_query_is_404(v3):
    response = v3.get("/v3/refund/domestic/refunds/NOPE")
    assert response.status_code == 404 and response.json["code"] == "RESOURCE_NOT_EXISTS"


def test_refund_makes_the_order_refund_state(v3, paid_order):
    refund(v3, refund=1)
    assert v3.query("PAID_00001").json["trade_state"] == "REFUND"


def test_uuid_like_notification_ids(v3, sandbox_app, paid_order):
    deliveries = sandbox_app.test_client().get("/sandbox/api/deliveries").json["deliveries"]
    assert uuid.UUID(json.loads(deliveries[0]["body"])["id"])
