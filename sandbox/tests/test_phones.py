"""JSAPI (inside WeChat) and H5 (other phone browsers) with the unmodified wechatpayv3 SDK over HTTP: the
orders, the pay sheet's checks (as the bridge script calls them) and the H5 cashier's."""

import json
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from freezegun import freeze_time
from wechatpayv3 import WeChatPayType

from helpers import PHONE_UA, WECHAT_UA
from wechatpay_sandbox.testing import USER_COOKIE, SandboxError

PAGE = "http://127.0.0.1:5000/pay/TOKEN123"  # a page in the registered 支付授权目录 127.0.0.1/pay/
SCENE = {"payer_client_ip": "203.0.113.9", "h5_info": {"type": "Wap"}}


def ok(result):
    status, body = result
    assert 200 <= status < 300, (status, body)
    return json.loads(body) if body else None


def refused(result, status=400, code="PARAM_ERROR"):
    got_status, body = result
    assert (got_status, json.loads(body)["code"]) == (status, code), body
    return json.loads(body)


def jsapi(client, no, openid, total=100, **fields):
    return client.pay(description="明前龙井", out_trade_no=no, amount={"total": total}, payer={"openid": openid},
                      pay_type=WeChatPayType.JSAPI, **fields)


def h5(client, no, total=100, scene_info=SCENE, **fields):
    return client.pay(description="明前龙井", out_trade_no=no, amount={"total": total}, scene_info=scene_info,
                      pay_type=WeChatPayType.H5, **fields)


def pay_params(client, prepay_id, appid=None):
    """What a merchant's page passes to getBrandWCPayRequest, paySign made by the SDK's sign()."""
    appid = appid or client._appid
    timestamp, nonce, package = str(int(time.time())), uuid.uuid4().hex, f"prepay_id={prepay_id}"
    return {"appId": appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA",
            "paySign": client.sign([appid, timestamp, nonce, package])}


def bridge(sb, call, body):
    """What /sandbox/jsbridge.js sends: text/plain JSON, from another origin, without cookies."""
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(f"{sb.url}/sandbox/jsbridge/{call}", data=json.dumps(body), timeout=5,
                             headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://127.0.0.1:5000"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    return response.json()


def sheet(sb, client, prepay_id, page=PAGE, **changes):
    return bridge(sb, "request", {"params": {**pay_params(client, prepay_id), **changes}, "url": page})


def fail_text(answer):
    assert (answer["ok"], answer["err_msg"]) == (False, "get_brand_wcpay_request:fail"), answer
    return answer["message"]


# -- JSAPI -------------------------------------------------------------------------------------------

def test_jsapi_orders_need_an_openid_issued_for_the_appid(sb, wxpay, v3_http):
    refused(jsapi(wxpay, "JSAPI_0001", "o" + "x" * 27))
    body = {"appid": sb.keys.appid, "mchid": sb.keys.mchid, "description": "x", "out_trade_no": "JSAPI_0001",
            "notify_url": "https://shop.example.cn/notify", "amount": {"total": 1}}
    for payer in (None, {}, {"openid": ""}, {"openid": 1}, "o1"):
        answer = v3_http("/v3/pay/transactions/jsapi", {**body, "payer": payer} if payer is not None else body)
        assert (answer.status_code, answer.json()["code"]) == (400, "PARAM_ERROR"), payer
    prepay_id = ok(jsapi(wxpay, "JSAPI_0001", sb.openid("alice")))["prepay_id"]
    assert re.fullmatch(r"wx\d{14}[0-9a-f]{20}", prepay_id)


def test_jsapi_flow_pay_sheet_notification_query_refund(sb, wxpay, receiver):
    alice = sb.openid("alice")
    prepay_id = ok(jsapi(wxpay, "JSAPI_0002", alice, total=1999, attach="tk"))["prepay_id"]
    assert ok(wxpay.query(out_trade_no="JSAPI_0002"))["trade_state"] == "NOTPAY"

    opened = sheet(sb, wxpay, prepay_id)
    assert opened["ok"] and (opened["merchant_name"], opened["amount"], opened["description"]) == \
        ("演示小店", "¥19.99", "明前龙井")
    assert bridge(sb, "pay", {"prepay_id": prepay_id, "ticket": opened["ticket"]}) == {"ok": True}

    paid = ok(wxpay.query(out_trade_no="JSAPI_0002"))
    assert (paid["trade_state"], paid["trade_type"], paid["payer"]["openid"]) == ("SUCCESS", "JSAPI", alice)
    note = wxpay.callback(receiver.wait(1)[0].headers, receiver.received[0].body)
    assert note["resource"]["trade_type"] == "JSAPI" and note["resource"]["payer"]["openid"] == alice
    assert note["resource"]["attach"] == "tk"
    refund = ok(wxpay.refund(out_refund_no="RJSAPI0002", out_trade_no="JSAPI_0002",
                             amount={"refund": 1999, "total": 1999, "currency": "CNY"}))
    assert refund["status"] == "PROCESSING"
    assert refused(wxpay.close(out_trade_no="JSAPI_0002"), code="ORDERPAID")
    assert fail_text(sheet(sb, wxpay, prepay_id)) == "该订单已支付，请勿重复支付"


def test_the_pay_sheet_checks_what_wechat_checks(sb, wxpay):
    prepay_id = ok(jsapi(wxpay, "JSAPI_0003", sb.openid()))["prepay_id"]
    params = pay_params(wxpay, prepay_id)
    tampered = {**params, "paySign": params["paySign"][:-8] + ("A" * 8 if params["paySign"][-8:] != "A" * 8
                                                                 else "B" * 8)}
    answer = lambda page=PAGE, **changes: bridge(sb, "request", {"params": {**params, **changes}, "url": page})  # noqa
    assert fail_text(bridge(sb, "request", {"params": tampered, "url": PAGE})) == "支付验证签名失败"
    assert fail_text(answer(timeStamp=str(int(params["timeStamp"]) + 1))) == "支付验证签名失败"  # not what was signed
    assert fail_text(answer(signType="MD5")) == "支付验证签名失败"
    for name in ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign"):
        assert fail_text(answer(**{name: ""})) == f"调用支付JSAPI缺少参数：{name}"
    assert fail_text(answer(appId="wx0000000000000000")) == "appId参数错误"
    other_dir = "http://127.0.0.1:5000/pay/TOKEN123/jsapi?x=1#frag"  # directory /pay/TOKEN123/
    assert fail_text(answer(page=other_dir)) == "当前页面的URL未注册：http://127.0.0.1:5000/pay/TOKEN123/jsapi?x=1"
    assert fail_text(answer(page="http://shop.example.cn/pay/x")) == "当前页面的URL未注册：http://shop.example.cn/pay/x"
    assert fail_text(bridge(sb, "request", {"params": params})).startswith("当前页面的URL未注册")
    assert fail_text(sheet(sb, wxpay, "wx00000000000000000000000000000000")) == "prepay_id无效，请重新下单"
    assert answer()["ok"]  # the genuine call, from a registered directory
    sb.configure(SANDBOX_JSAPI_PAY_DIRS="127.0.0.1/")  # the domain root: every page of it
    assert answer(page=other_dir)["ok"]
    assert sb.order("JSAPI_0003")["trade_state"] == "NOTPAY"  # opening the sheet pays nothing


def test_the_sheet_pays_only_what_it_opened(sb, wxpay):
    prepay_id = ok(jsapi(wxpay, "JSAPI_0004", sb.openid()))["prepay_id"]
    assert fail_text(bridge(sb, "pay", {"prepay_id": prepay_id, "ticket": "guess"})) == "支付会话已失效，请重新发起支付"
    ticket = sheet(sb, wxpay, prepay_id)["ticket"]
    assert bridge(sb, "cancel", {"prepay_id": prepay_id, "ticket": ticket}) == {"ok": True}
    order = sb.order("JSAPI_0004")
    assert order["trade_state"] == "NOTPAY" and order["cancelled_at"]
    assert not bridge(sb, "pay", {"prepay_id": prepay_id, "ticket": ticket})["ok"]  # that sheet is gone
    for body in ("[]", "not json", json.dumps({"prepay_id": ["x"], "ticket": {}})):
        with requests.Session() as http:
            http.trust_env = False
            assert http.post(f"{sb.url}/sandbox/jsbridge/pay", data=body, timeout=5).json()["ok"] is False
    ticket = sheet(sb, wxpay, prepay_id)["ticket"]
    assert bridge(sb, "pay", {"prepay_id": prepay_id, "ticket": ticket}) == {"ok": True}


def test_the_sheet_refuses_closed_expired_and_stale_orders(sb, wxpay):
    openid = sb.openid()
    closed = ok(jsapi(wxpay, "JSAPI_0005", openid))["prepay_id"]
    wxpay.close(out_trade_no="JSAPI_0005")
    assert fail_text(sheet(sb, wxpay, closed)) == "订单已关闭"
    start = datetime.now(timezone.utc).replace(microsecond=0)
    with freeze_time(start) as frozen:
        soon = ok(jsapi(wxpay, "JSAPI_0006", openid, time_expire=(start + timedelta(minutes=1)).isoformat()))
        later = ok(jsapi(wxpay, "JSAPI_0007", openid))
        frozen.tick(timedelta(minutes=1))
        assert fail_text(sheet(sb, wxpay, soon["prepay_id"])) == "订单已过期，无法支付"
        frozen.tick(timedelta(hours=2))
        assert fail_text(sheet(sb, wxpay, later["prepay_id"])) == "支付请求已失效，请重新发起支付"
        renewed = ok(jsapi(wxpay, "JSAPI_0007", openid))["prepay_id"]  # the same order: a fresh prepay_id
        assert renewed != later["prepay_id"] and sheet(sb, wxpay, renewed)["ok"]


def test_repeat_rules_as_native(sb, wxpay):
    alice, bob = sb.openid("alice"), sb.openid("bob")
    first = ok(jsapi(wxpay, "JSAPI_0008", alice))["prepay_id"]
    assert ok(jsapi(wxpay, "JSAPI_0008", alice))["prepay_id"] == first
    refused(jsapi(wxpay, "JSAPI_0008", bob), 403, "OUT_TRADE_NO_USED")
    refused(jsapi(wxpay, "JSAPI_0008", alice, total=101), 403, "OUT_TRADE_NO_USED")
    refused(wxpay.pay(description="明前龙井", out_trade_no="JSAPI_0008", amount={"total": 100}), 403,
            "OUT_TRADE_NO_USED")  # the same number as another trade type
    refused(h5(wxpay, "JSAPI_0008"), 403, "OUT_TRADE_NO_USED")
    assert wxpay.close(out_trade_no="JSAPI_0008")[0] == 204
    refused(jsapi(wxpay, "JSAPI_0008", alice), 400, "ORDER_CLOSED")
    assert [order["out_trade_no"] for order in sb.orders("JSAPI")] == ["JSAPI_0008"]


def test_bridge_fault(sb, wxpay):
    prepay_id = ok(jsapi(wxpay, "JSAPI_0009", sb.openid()))["prepay_id"]
    sb.fault(target="bridge", mode="fail")
    assert fail_text(sheet(sb, wxpay, prepay_id)) == "系统繁忙，请稍后再试"
    assert sheet(sb, wxpay, prepay_id)["ok"]


# -- H5 ------------------------------------------------------------------------------------------------

def test_h5_orders(sb, wxpay, v3_http):
    h5_url = ok(h5(wxpay, "H5_0000001"))["h5_url"]
    match = re.fullmatch(re.escape(sb.url) + r"/cgi-bin/mmpayweb-bin/checkmweb\?prepay_id=(wx\d{14}[0-9a-f]{20})"
                         r"&package=(\d{10})", h5_url)
    assert match
    assert ok(h5(wxpay, "H5_0000001"))["h5_url"] == h5_url
    body = {"appid": sb.keys.appid, "mchid": sb.keys.mchid, "description": "x", "out_trade_no": "H5_0000002",
            "notify_url": "https://shop.example.cn/notify", "amount": {"total": 1}}
    ip = "1.2.3.4"
    for scene in (None, {}, {"h5_info": {"type": "Wap"}}, {"payer_client_ip": ip},
                  {"payer_client_ip": ip, "h5_info": {}}, {"payer_client_ip": ip, "h5_info": {"type": "PC"}}):
        answer = v3_http("/v3/pay/transactions/h5", {**body, "scene_info": scene} if scene is not None else body)
        assert (answer.status_code, answer.json()["code"]) == (400, "PARAM_ERROR"), scene
    for kind in ("iOS", "Android"):
        ok(h5(wxpay, f"H5_{kind}_01", scene_info={"payer_client_ip": "::1", "h5_info": {"type": kind}}))


def test_an_h5_url_lives_five_minutes(sb, wxpay):
    start = datetime.now(timezone.utc)
    with freeze_time(start) as frozen:
        first = ok(h5(wxpay, "H5_0000003"))["h5_url"]
        frozen.tick(timedelta(minutes=4, seconds=59))
        assert ok(h5(wxpay, "H5_0000003"))["h5_url"] == first
        frozen.tick(timedelta(seconds=1))
        assert cashier(first, referer="http://127.0.0.1:5000/pay/x") == ("error", "支付请求已失效，请重新发起支付")
        second = ok(h5(wxpay, "H5_0000003"))["h5_url"]
        assert second != first and cashier(second, referer="http://127.0.0.1:5000/pay/x")[0] == "cashier"


def cashier(url, referer=None, user_agent=PHONE_UA, user=None, redirect_url=None):
    """Open an h5_url in a phone browser; return ("cashier", page) or ("error", WeChat's text)."""
    headers = {"User-Agent": user_agent}
    if referer:
        headers["Referer"] = referer
    if user:
        headers["Cookie"] = f"{USER_COOKIE}={user}"
    if redirect_url:
        url += "&redirect_url=" + quote(redirect_url, safe="")
    with requests.Session() as http:
        http.trust_env = False
        page = http.get(url, headers=headers, timeout=5).text
    error = re.search(r'id="h5-error">([^<]*)<', page)
    return ("error", error.group(1)) if error else ("cashier", page)


def test_the_h5_cashier_checks_what_wechat_checks(sb, wxpay):
    url = ok(h5(wxpay, "H5_0000004", total=2500))["h5_url"]
    shop = "http://127.0.0.1:5000/pay/TOKEN"
    back = "http://127.0.0.1:5000/pay/TOKEN/back"
    assert cashier(url, referer=shop, user_agent=WECHAT_UA) == ("error", "请在微信外打开订单，进行支付")
    assert cashier(url) == ("error", "商家参数格式有误，请联系商家解决")  # no Referer
    assert cashier(url, referer="https://evil.example/pay") == ("error", "商家存在未配置的参数，请联系商家解决")
    assert cashier(url, referer=shop, redirect_url="https://evil.example/back") == \
        ("error", "商家存在未配置的参数，请联系商家解决")
    assert cashier(url.replace("package=", "package=1"), referer=shop) == ("error", "商家参数格式有误，请联系商家解决")
    kind, page = cashier(url, referer=shop, redirect_url=back)
    assert kind == "cashier" and "¥25.00" in page and 'id="h5-pay"' in page and 'id="h5-cancel"' in page
    assert f'name="redirect_url" value="{back}"' in page
    sb.configure(SANDBOX_H5_DOMAINS="127.0.0.1:5000")
    other_port = cashier(url, referer="http://127.0.0.1:5001/", redirect_url=back)
    assert other_port == ("error", "商家存在未配置的参数，请联系商家解决")
    assert sb.order("H5_0000004")["trade_state"] == "NOTPAY"


def test_h5_pay_and_cancel_return_to_redirect_url(sb, wxpay, receiver):
    url = ok(h5(wxpay, "H5_0000005"))["h5_url"]
    query = parse_qs(urlsplit(url).query)
    form = {"prepay_id": query["prepay_id"][0], "package": query["package"][0],
            "redirect_url": "http://127.0.0.1:5000/pay/TOKEN/back"}
    with requests.Session() as http:
        http.trust_env = False
        cancelled = http.post(sb.url + "/sandbox/h5/cancel", data=form, allow_redirects=False, timeout=5)
        assert (cancelled.status_code, cancelled.headers["Location"]) == (303, form["redirect_url"])
        assert sb.order("H5_0000005")["trade_state"] == "NOTPAY"
        paid = http.post(sb.url + "/sandbox/h5/pay", data=form, allow_redirects=False, timeout=5,
                         headers={"Cookie": f"{USER_COOKIE}=carol"})
        assert (paid.status_code, paid.headers["Location"]) == (303, form["redirect_url"])
        again = http.post(sb.url + "/sandbox/h5/pay", data={**form, "redirect_url": ""}, timeout=5)
        assert re.search(r'id="h5-error">订单已支付，请勿重复支付<', again.text)
    order = ok(wxpay.query(out_trade_no="H5_0000005"))
    assert (order["trade_state"], order["trade_type"]) == ("SUCCESS", "MWEB")
    assert order["payer"]["openid"] == sb.openid("carol")  # whoever held the phone
    note = wxpay.callback(receiver.wait(1)[0].headers, receiver.received[0].body)
    assert note["resource"]["trade_type"] == "MWEB"


@pytest.mark.parametrize("mode, status", [("system_error", 500), ("frequency_limited", 429)])
def test_api_faults_cover_the_phone_orders(sb, wxpay, mode, status):
    openid = sb.openid()
    sb.fault(target="api", mode=mode, count=2)
    assert jsapi(wxpay, "FAULTJSAPI", openid)[0] == status and h5(wxpay, "FAULTH5001")[0] == status
    assert sb.order("FAULTJSAPI") is None and sb.order("FAULTH5001") is None


def test_tamper_and_hang_on_the_phone_orders(sb, make_client):
    client = make_client(sb)
    openid = sb.openid()
    sb.fault(target="api", mode="tamper", count=2)
    with pytest.raises(Exception, match="failed to verify the signature"):
        jsapi(client, "TAMPERJSAP", openid)
    with pytest.raises(Exception, match="failed to verify the signature"):
        h5(client, "TAMPERH5001")
    client._core._timeout = (2, 0.3)
    sb.fault(target="api", mode="hang", seconds=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        jsapi(client, "HANGJSAPI1", openid)
    client._core._timeout = (2, 5)
    assert ok(jsapi(client, "HANGJSAPI1", openid))["prepay_id"] == sb.order("HANGJSAPI1")["prepay_id"]


def test_control_api_pays_by_prepay_id(sb, wxpay):
    prepay_id = ok(jsapi(wxpay, "CTRLJSAPI1", sb.openid("dave")))["prepay_id"]
    paid = sb.pay_prepay(prepay_id, user="erin")  # JSAPI: payer.openid pays, whoever holds the phone
    assert paid["payer"]["openid"] == sb.openid("dave") and paid["trade_type"] == "JSAPI"
    with pytest.raises(SandboxError) as unknown:
        sb.pay_prepay("wx0")
    assert unknown.value.status == 404
    with pytest.raises(SandboxError) as bad_user:
        sb.pay("CTRLJSAPI1", user="no spaces")
    assert bad_user.value.status == 400
