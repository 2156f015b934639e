"""In headless Chromium: the WeixinJSBridge script in a merchant page with a strict CSP, the H5 cashier's
Referer checks, and web OAuth with two WeChat users."""

import json
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests
from playwright.sync_api import expect
from wechatpayv3 import WeChatPayType

from helpers import PHONE_UA, WECHAT_UA

pytestmark = pytest.mark.browser

PAGE_SCRIPT = """
document.getElementById("at-load").textContent = typeof WeixinJSBridge;
document.addEventListener("WeixinJSBridgeReady", function () {
  document.getElementById("ready").textContent = typeof WeixinJSBridge.invoke;
}, false);
document.getElementById("go").addEventListener("click", function () {
  fetch("params.json").then(function (r) { return r.json(); }).then(function (params) {
    WeixinJSBridge.invoke("getBrandWCPayRequest", params, function (res) {
      document.getElementById("result").textContent = res.err_msg;
    });
  });
});
"""


def merchant_page(site, sb, directory, params):
    """A JSAPI page like a shop's: the bridge from the sandbox, its own script, a strict CSP."""
    csp = (f"default-src 'self'; script-src 'self' {sb.url}; connect-src 'self' {sb.url}; style-src 'self'; "
           "img-src 'self'")
    html = (f'<!doctype html><html><head><meta charset="utf-8"><title>pay</title>'
            f'<script src="{sb.url}/sandbox/jsbridge.js"></script></head><body>'
            '<p id="at-load"></p><p id="ready"></p><p id="result"></p><button id="go">pay</button>'
            f'<script src="{directory}page.js"></script></body></html>')
    site.page(directory + "page.js", PAGE_SCRIPT, "text/javascript")
    site.page(directory + "params.json", json.dumps(params), "application/json")
    return site.page(directory + "jsapi", html, **{"Content-Security-Policy": csp})


@pytest.fixture
def phone(browser):
    """A phone-sized page in WeChat's browser; CSP violations are collected in page.csp_errors."""
    context = browser.new_context(user_agent=WECHAT_UA, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.csp_errors = []
    page.on("console", lambda message: "Content Security Policy" in message.text
            and page.csp_errors.append(message.text))
    yield page
    context.close()


def jsapi_order(sb, client, no, total=1999):
    status, body = client.pay(description="明前龙井", out_trade_no=no, amount={"total": total},
                              payer={"openid": sb.openid()}, pay_type=WeChatPayType.JSAPI)
    assert status == 200, body
    return json.loads(body)["prepay_id"]


def pay_params(client, prepay_id):
    timestamp, nonce, package = "1700000000", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS", f"prepay_id={prepay_id}"
    return {"appId": client._appid, "timeStamp": timestamp, "nonceStr": nonce, "package": package,
            "signType": "RSA", "paySign": client.sign([client._appid, timestamp, nonce, package])}


def test_the_bridge_is_ready_asynchronously_and_its_sheet_pays(sb, wxpay, receiver, site, phone):
    prepay_id = jsapi_order(sb, wxpay, "BROWSER_01")
    phone.goto(merchant_page(site, sb, "/pay/", pay_params(wxpay, prepay_id)))
    expect(phone.locator("#ready")).to_have_text("function")  # (no eval under the page's CSP)
    assert phone.text_content("#at-load") == "undefined"  # not there while the page's scripts first run
    phone.click("#go")
    phone.wait_for_selector("#wxsandbox-pay")
    assert phone.text_content("#wxsandbox-merchant") == "演示小店"
    assert phone.text_content("#wxsandbox-amount") == "¥19.99"
    assert phone.is_visible("#wxsandbox-cancel")
    assert sb.order("BROWSER_01")["trade_state"] == "NOTPAY"
    phone.click("#wxsandbox-pay")
    expect(phone.locator("#result")).to_have_text("get_brand_wcpay_request:ok")
    assert phone.query_selector("#wxsandbox-sheet") is None
    assert sb.order("BROWSER_01")["trade_state"] == "SUCCESS"
    assert wxpay.callback(receiver.wait(1)[0].headers, receiver.received[0].body)["resource"]["trade_type"] == "JSAPI"
    assert phone.csp_errors == []


def test_cancel_in_the_sheet(sb, wxpay, site, phone):
    prepay_id = jsapi_order(sb, wxpay, "BROWSER_02")
    phone.goto(merchant_page(site, sb, "/pay/", pay_params(wxpay, prepay_id)))
    expect(phone.locator("#ready")).to_have_text("function")  # (no eval under the page's CSP)
    phone.click("#go")
    phone.click("#wxsandbox-cancel")
    expect(phone.locator("#result")).to_have_text("get_brand_wcpay_request:cancel")
    assert sb.order("BROWSER_02")["trade_state"] == "NOTPAY"


@pytest.mark.parametrize("case", ["unregistered directory", "tampered paySign"])
def test_a_refused_call_shows_wechats_text_and_fails(sb, wxpay, site, phone, case):
    prepay_id = jsapi_order(sb, wxpay, "BROWSER_03")
    params = pay_params(wxpay, prepay_id)
    if case == "tampered paySign":
        params["nonceStr"] += "X"
    url = merchant_page(site, sb, "/shop/" if case == "unregistered directory" else "/pay/", params)
    phone.goto(url)
    expect(phone.locator("#ready")).to_have_text("function")  # (no eval under the page's CSP)
    phone.click("#go")
    phone.wait_for_selector("#wxsandbox-error-text")
    expected = f"当前页面的URL未注册：{url}" if case == "unregistered directory" else "支付验证签名失败"
    assert phone.text_content("#wxsandbox-error-text") == expected
    expect(phone.locator("#result")).to_have_text("get_brand_wcpay_request:fail")
    phone.click("#wxsandbox-error-ok")
    assert phone.query_selector("#wxsandbox-error") is None and phone.query_selector("#wxsandbox-sheet") is None
    assert sb.order("BROWSER_03")["trade_state"] == "NOTPAY"


# -- H5 ------------------------------------------------------------------------------------------------

def h5_link_page(site, h5_url, back, referrer_policy=None):
    """A shop page (outside the sandbox) whose link sends the payer to the h5_url."""
    site.page("/shop/back", '<!doctype html><p id="back">back at the shop</p>')
    target = h5_url + "&redirect_url=" + quote(back, safe="")
    headers = {"Referrer-Policy": referrer_policy} if referrer_policy else {}
    return site.page("/shop/order", f'<!doctype html><a id="to-cashier" href="{target}">去支付</a>', **headers)


@pytest.fixture
def phone_browser(browser):
    """A phone browser outside WeChat (H5 is for those)."""
    context = browser.new_context(user_agent=PHONE_UA, viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def h5_order(client, no, total=2500):
    status, body = client.pay(description="明前龙井", out_trade_no=no, amount={"total": total},
                              scene_info={"payer_client_ip": "127.0.0.1", "h5_info": {"type": "Wap"}},
                              pay_type=WeChatPayType.H5)
    assert status == 200, body
    return json.loads(body)["h5_url"]


def test_h5_cashier_pays_and_returns_to_the_shop(sb, wxpay, site, phone_browser):
    back = site.url + "/shop/back"
    phone_browser.goto(h5_link_page(site, h5_order(wxpay, "H5BROWSE01"), back))
    phone_browser.click("#to-cashier")
    phone_browser.wait_for_selector("#h5-pay")
    assert phone_browser.text_content("#h5-amount") == "¥25.00"
    phone_browser.click("#h5-pay")
    phone_browser.wait_for_selector("#back")
    assert phone_browser.url == back
    assert sb.order("H5BROWSE01")["trade_state"] == "SUCCESS"


def test_h5_cancel_returns_to_the_shop_unpaid(sb, wxpay, site, phone_browser):
    back = site.url + "/shop/back"
    phone_browser.goto(h5_link_page(site, h5_order(wxpay, "H5BROWSE02"), back))
    phone_browser.click("#to-cashier")
    phone_browser.click("#h5-cancel")
    phone_browser.wait_for_selector("#back")
    assert sb.order("H5BROWSE02")["trade_state"] == "NOTPAY"


@pytest.mark.parametrize("how, expected", [
    ("typed in", "商家参数格式有误，请联系商家解决"),  # no Referer
    ("Referrer-Policy: same-origin", "商家参数格式有误，请联系商家解决"),  # the shop's page sent none
    ("Referrer-Policy: no-referrer", "商家参数格式有误，请联系商家解决"),
    ("inside WeChat", "请在微信外打开订单，进行支付"),
])
def test_h5_cashier_refusals(sb, wxpay, site, browser, how, expected):
    context = browser.new_context(user_agent=WECHAT_UA if how == "inside WeChat" else PHONE_UA)
    page = context.new_page()
    h5_url = h5_order(wxpay, "H5BROWSE03")
    policy = how.split(": ")[1] if how.startswith("Referrer-Policy") else None
    page.goto(h5_link_page(site, h5_url, site.url + "/shop/back", policy))
    if how == "typed in":
        page.goto(h5_url)
    else:
        page.click("#to-cashier")
    page.wait_for_selector("#h5-error")
    assert page.text_content("#h5-error") == expected and page.query_selector("#h5-pay") is None
    context.close()


# -- OAuth ---------------------------------------------------------------------------------------------

def test_oauth_in_wechats_browser_with_two_users(sb, site, browser):
    site.page("/pay/openid", '<!doctype html><p id="landed">ok</p>')
    back = site.url + "/pay/openid"
    authorize = (f"{sb.url}/connect/oauth2/authorize?appid={sb.keys.appid}&redirect_uri={quote(back, safe='')}"
                 "&response_type=code&scope=snsapi_base&state=s1#wechat_redirect")
    openids = []
    for user in (None, "bob"):
        context = browser.new_context(user_agent=WECHAT_UA)
        page = context.new_page()
        if user:  # hand the phone to bob on the sandbox's phone page
            page.goto(sb.url + "/phone")
            page.fill("#phone-user", user)
            page.click("#phone-user-switch")
            expect(page.locator("#phone-user")).to_have_value(user)
        page.goto(authorize)
        page.wait_for_selector("#landed")
        query = parse_qs(urlsplit(page.url).query)
        assert query["state"] == ["s1"]
        openids.append(sb.oauth_code()["openid"] if user is None else sb.openid(user))
        context.close()
        code = query["code"][0]
        with requests.Session() as http:
            http.trust_env = False
            token = http.get(f"{sb.url}/sns/oauth2/access_token", timeout=5, params={
                "appid": sb.keys.appid, "secret": sb.keys.app_secret, "code": code,
                "grant_type": "authorization_code"}).json()
        assert token["openid"] == openids[-1]
    assert openids[0] != openids[1]
