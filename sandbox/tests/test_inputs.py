"""No input answers 5xx: every field of every endpoint, with a lone UTF-16 surrogate and values of every type.

A 5xx tells a client to retry the same request forever, so a bad request must be a 4xx. A lone surrogate
(half an emoji, e.g. cut by a JavaScript client) in any string is 400 PARAM_ERROR, as on WeChat Pay.
"""

import copy
import json
from datetime import timedelta

import pytest

from wechatpay_sandbox import clock

SURROGATE = "\ud83d"  # the first half of U+1F600
ODD_VALUES = [SURROGATE, "\udc00尾", "", "x" * 5000, 0, -1, 2**70, 1.5, float("nan"), True, None, [], {},
              [SURROGATE], {SURROGATE: 1}, {"x": {"y": [1]}}]

NATIVE = {
    "appid": "<appid>", "mchid": "<mchid>", "description": "青花瓷茶杯", "out_trade_no": "SWEEP_0001",
    "time_expire": "<tomorrow>", "attach": "a", "notify_url": "https://shop.example.com/notify",
    "goods_tag": "WXG", "support_fapiao": False, "amount": {"total": 100, "currency": "CNY"},
    "detail": {"cost_price": 100, "invoice_id": "inv", "goods_detail": [
        {"merchant_goods_id": "g1", "wechatpay_goods_id": "1001", "goods_name": "茶杯", "quantity": 1,
         "unit_price": 100}]},
    "scene_info": {"payer_client_ip": "127.0.0.1", "device_id": "d1",
                   "store_info": {"id": "s1", "name": "店", "area_code": "440305", "address": "路"}},
    "settle_info": {"profit_sharing": False},
}
REFUND = {
    "out_trade_no": "SWEEP_PAID", "out_refund_no": "SWEEP_R001", "reason": "退货",
    "notify_url": "https://shop.example.com/refund", "funds_account": "AVAILABLE",
    "amount": {"refund": 1, "total": 100, "currency": "CNY", "from": [{"account": "AVAILABLE", "amount": 1}]},
    "goods_detail": [{"merchant_goods_id": "g1", "wechatpay_goods_id": "1001", "goods_name": "茶杯",
                      "unit_price": 100, "refund_amount": 1, "refund_quantity": 1}],
}
CLOSE = {"mchid": "<mchid>"}


def paths(value, prefix=()):
    """Every place inside a JSON value, as key/index tuples (the root excluded)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield prefix + (key,)
        yield from paths(child, prefix + (key,))


def replaced(body, path, new):
    body = copy.deepcopy(body)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return body


def filled(body, keys):
    tomorrow = clock.rfc3339(clock.now() + timedelta(days=1))
    text = json.dumps(body).replace("<appid>", keys.appid).replace("<mchid>", keys.mchid)
    return json.loads(text.replace("<tomorrow>", tomorrow))


@pytest.fixture
def endpoints(v3, sandbox_app):
    """(target, complete body) of every v3 endpoint that takes a body; a paid order to refund."""
    keys = v3.keys
    assert v3.native(out_trade_no="SWEEP_PAID").status_code == 200
    assert sandbox_app.test_client().post("/sandbox/api/orders/SWEEP_PAID/pay").status_code == 200
    return [("/v3/pay/transactions/native", filled(NATIVE, keys)),
            ("/v3/refund/domestic/refunds", REFUND),
            ("/v3/pay/transactions/out-trade-no/SWEEP_0001/close", filled(CLOSE, keys))]


def send(v3, target, body):
    """POST the body as JSON with \\u escapes, exactly as clients send a lone surrogate."""
    return v3.post(target, json.dumps(body).encode("ascii"))


def test_complete_bodies_are_accepted(v3, endpoints):
    for target, body in endpoints:
        assert send(v3, target, body).status_code in (200, 204), target


def test_a_lone_surrogate_in_any_string_or_key_is_param_error(v3, endpoints):
    checked = 0
    for target, body in endpoints:
        for path in paths(body):
            value = body
            for key in path:
                value = value[key]
            variants = [replaced(body, path, {**value, SURROGATE: "x"})] if isinstance(value, dict) else []
            if isinstance(value, str):
                variants += [replaced(body, path, SURROGATE), replaced(body, path, value + SURROGATE)]
            for variant in variants:
                response = send(v3, target, variant)
                assert response.status_code == 400 and response.json["code"] == "PARAM_ERROR", (target, path)
                checked += 1
    assert checked > 60  # every string and object of the three bodies


def test_no_value_of_any_type_anywhere_answers_5xx(v3, endpoints):
    for target, body in endpoints:
        for path in paths(body):
            for odd in ODD_VALUES:
                response = send(v3, target, replaced(body, path, odd))
                assert response.status_code < 500, (target, path, odd, response.get_data(as_text=True))


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'"\\ud83d"', b"1e999", b"[" * 100_000,
                                 b'{"a":' * 100_000, b"\xed\xa0\xbd", b"\xff", b'{"description": "\\ud8"}'])
def test_bodies_that_are_not_json_objects_are_param_error(v3, raw):
    for target in ("/v3/pay/transactions/native", "/v3/refund/domestic/refunds",
                   "/v3/pay/transactions/out-trade-no/SWEEP_0001/close"):
        response = v3.post(target, raw)
        assert response.status_code == 400 and response.json["code"] == "PARAM_ERROR", (target, raw[:20])


@pytest.mark.parametrize("segment", ["%ED%A0%BD", "%F0%9F%98", "%00", "%FF", "a" * 2000, "%E8%8C%B6", "x%2Fy"])
def test_odd_path_and_query_values_answer_4xx(v3, segment):
    mchid = v3.keys.mchid
    for target in (f"/v3/pay/transactions/out-trade-no/{segment}?mchid={mchid}",
                   f"/v3/pay/transactions/id/{segment}?mchid={mchid}",
                   f"/v3/pay/transactions/out-trade-no/SWEEP_0001?mchid={segment}",
                   f"/v3/pay/transactions/out-trade-no/SWEEP_0001?mchid={mchid}&mchid={segment}",
                   f"/v3/refund/domestic/refunds/{segment}", f"/v3/bill/tradebill?bill_date={segment}",
                   f"/v3/bill/tradebill?bill_date=2026-01-01&bill_type={segment}&tar_type={segment}",
                   f"/v3/billdownload/file?token={segment}"):
        response = v3.get(target)
        assert 400 <= response.status_code < 500, (target, response.get_data(as_text=True))
    assert send(v3, f"/v3/pay/transactions/out-trade-no/{segment}/close", {"mchid": mchid}).status_code < 500


def test_phone_endpoints_never_answer_5xx(sandbox_app, v3):
    """The pay sheet's calls, OAuth and the H5 cashier, with odd bodies, parameters and forms."""
    client = sandbox_app.test_client()
    sheet = {"params": {"appId": "wx", "timeStamp": "1", "nonceStr": "n", "package": "prepay_id=wx1",
                        "signType": "RSA", "paySign": "c2ln"}, "url": "http://127.0.0.1:5000/pay/x",
             "prepay_id": "wx1", "ticket": "t"}
    for call in ("request", "pay", "cancel"):
        for path in paths(sheet):
            for odd in ODD_VALUES:
                body = json.dumps(replaced(sheet, path, odd)).encode("ascii")
                response = client.post(f"/sandbox/jsbridge/{call}", data=body, content_type="text/plain")
                assert response.status_code == 200 and response.json["ok"] is False, (call, path, odd)
        for raw in (b"", b"[", b"\xff", b"[" * 100_000, b'{"params": "\\ud83d"}'):
            assert client.post(f"/sandbox/jsbridge/{call}", data=raw).json["ok"] is False
    for query in ("appid=%ED%A0%BD&redirect_uri=%FF&scope=%00&response_type=code&state=%ED%A0%BD",
                  "redirect_uri=http%3A%2F%2F127.0.0.1%3Aport%2F", "appid=&redirect_uri=&scope="):
        response = client.get("/connect/oauth2/authorize?" + query, headers={"User-Agent": "MicroMessenger"})
        assert response.status_code in (200, 302), query
    for query in ("appid=%ED%A0%BD&secret=%FF&code=%ED%A0%BD&grant_type=%00", "code=" + "x" * 5000, ""):
        response = client.get("/sns/oauth2/access_token?" + query)
        assert response.status_code == 200 and response.json["errcode"] != 0
    for query in ("prepay_id=%ED%A0%BD&package=%FF&redirect_url=%ED%A0%BD", "prepay_id=", ""):
        assert client.get("/cgi-bin/mmpayweb-bin/checkmweb?" + query, headers={"Referer": "http://127.0.0.1/"}
                          ).status_code == 200
    for raw in (b"prepay_id=%ED%A0%BD&package=1&redirect_url=%FF", b"redirect_url=http%3A%2F%2F127.0.0.1%3Ax", b""):
        for action in ("pay", "cancel"):
            response = client.post(f"/sandbox/h5/{action}", data=raw, content_type="application/x-www-form-urlencoded")
            assert response.status_code < 500, (action, raw)


def test_control_api_and_pages_answer_4xx_to_odd_input(sandbox_app, v3):
    v3.native(out_trade_no="SWEEP_0002")
    client = sandbox_app.test_client()
    fault = {"target": "api", "mode": "hang", "count": 1, "times": 2, "seconds": 1, "path_prefix": "/v3/"}
    setting = {"SANDBOX_TIME_SCALE": 2, "SANDBOX_KEY_MODE": "certificate", "SANDBOX_MERCHANT_NAME": "店",
               "SANDBOX_NOTIFY_TIMEOUT": 3, "SANDBOX_REFUND_NOTIFY_URL": "https://shop.example.com/r",
               "SANDBOX_ALLOWED_HOSTS": ["a.test"], "SANDBOX_PUBLIC_URL": "http://127.0.0.1:1"}
    calls = [("post", "/sandbox/api/faults", fault), ("patch", "/sandbox/api/settings", setting),
             ("post", "/sandbox/api/orders/SWEEP_0002/cancel", {"code_url": "x"})]
    for method, target, body in calls:
        for path in paths(body):
            for odd in ODD_VALUES:
                response = getattr(client, method)(target, data=json.dumps(replaced(body, path, odd)),
                                                   content_type="application/json")
                assert response.status_code < 500, (target, path, odd, response.get_data(as_text=True))
    client.delete("/sandbox/api/faults")
    form = "application/x-www-form-urlencoded"
    for raw in (b"code_url=%ED%A0%BD", b"code_url=%FF&code_url=x", b"", b"%%%"):
        assert client.post("/phone/pay", data=raw, content_type=form).status_code < 500
        assert client.post("/phone/cancel", data=raw, content_type=form).status_code < 500
    for raw in (b"target=api&mode=hang&path_prefix=/%ED%A0%BD", b"target=api&mode=hang&count=%FF", b"mode=%00"):
        assert client.post("/faults", data=raw, content_type=form).status_code < 500
    assert client.get("/phone?code_url=%ED%A0%BD").status_code < 500
    assert client.get("/sandbox/api/orders/%ED%A0%BD").status_code == 404
    assert client.get("/sandbox/api/deliveries?out_trade_no=%ED%A0%BD").status_code == 200
