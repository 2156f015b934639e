"""Paying on a phone: JSAPI inside WeChat (with WeChat's OAuth for the openid), H5 in other phone
browsers, the QR code on computers; switching between them; and an order paid twice kept once."""
import base64
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import select

from blueprints.pay.channels import channels_for
from core.clock import utcnow
from core.vocabulary import PaymentChannel
from extensions import db
from jobs.refunds import follow_up_refunds
from models import Order, PaymentAttempt, Refund
from services.attempts import new_attempt, place
from tests.helpers import buy, csrf_token_from, events, order_row, status_of, wait_for

pytestmark = [pytest.mark.wechatpay, pytest.mark.usefixtures("live_shop")]

IPHONE_WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Mobile/15E148 MicroMessenger/8.0.50(0x1800322c) NetType/WIFI Language/zh_CN")
ANDROID_CHROME = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/126.0.0.0 Mobile Safari/537.36")
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"


def attempts(app, order_id):
    with app.app_context():
        return [(a.channel, a.status, a.out_trade_no) for a in
                db.session.scalars(select(PaymentAttempt).filter_by(order_id=order_id).order_by(PaymentAttempt.id))]


def order_id_of(app, token):
    with app.app_context():
        return db.session.scalar(select(Order.id).filter_by(token=token))


def test_each_browser_gets_the_way_of_paying_that_works_there():
    assert channels_for(IPHONE_WECHAT) == [PaymentChannel.JSAPI, PaymentChannel.NATIVE]
    assert channels_for(IPHONE_WECHAT, jsapi_available=False) == [PaymentChannel.NATIVE]
    assert channels_for(ANDROID_CHROME) == [PaymentChannel.H5, PaymentChannel.NATIVE]
    assert channels_for(DESKTOP) == [PaymentChannel.NATIVE]
    assert channels_for(None) == [PaymentChannel.NATIVE]


def test_a_computer_gets_the_qr_code_and_nothing_else_to_switch_to(client, make_product):
    token = buy(client, make_product(stock=3), visit=False)
    page = client.get(f"/pay/{token}", headers={"User-Agent": DESKTOP}).get_data(as_text=True)
    assert "data:image/png;base64," in page and "换一种方式支付" not in page


# -- H5: other phone browsers -------------------------------------------------------------------------

def test_a_phone_browser_is_sent_to_wechats_cashier_and_back(app, client, wechat, make_product):
    token = buy(client, make_product(price_fen=2500, stock=3), visit=False)
    page = client.get(f"/pay/{token}", headers={"User-Agent": ANDROID_CHROME})
    html = page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "前往微信支付" in html and "data:image/png" not in html
    assert attempts(app, order_id_of(app, token)) == []  # an h5_url lives 5 minutes: made on the tap

    go = client.get(f"/pay/{token}/h5", headers={"User-Agent": ANDROID_CHROME})

    assert go.status_code == 302 and go.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    target = urlsplit(go.headers["Location"])
    assert f"{target.scheme}://{target.netloc}" == wechat.url and target.path == "/cgi-bin/mmpayweb-bin/checkmweb"
    assert parse_qs(target.query)["redirect_url"] == [f"http://localhost/pay/{token}/return"]
    [(channel, status, number)] = attempts(app, order_id_of(app, token))
    assert (channel, status) == ("h5", "open")
    with app.app_context():  # WeChat Pay is told the payer's address, which it wants for H5
        assert db.session.scalar(select(PaymentAttempt.client_ip).filter_by(out_trade_no=number)) == "127.0.0.1"

    back = client.get(f"/pay/{token}/return").get_data(as_text=True)
    assert "是否已完成支付？" in back and "已完成支付" in back and "遇到问题，重新支付" in back
    wechat.fault(target="notify", mode="drop")
    wechat.pay(number)
    checked = client.post(f"/pay/{token}/check", data={"csrf_token": csrf_token_from(back)})
    assert checked.headers["Location"].endswith(f"/pay/{token}/success")  # 已完成支付 asks WeChat Pay at once
    assert wechat.order(number)["trade_type"] == "MWEB"


def test_wechats_own_browser_is_never_sent_to_h5(client, make_product):
    token = buy(client, make_product(stock=3), visit=False)
    go = client.get(f"/pay/{token}/h5", headers={"User-Agent": IPHONE_WECHAT})
    assert go.status_code == 302 and go.headers["Location"].endswith(f"/pay/{token}")


# -- JSAPI: inside WeChat ------------------------------------------------------------------------------

def wechat_login(client, wechat, token, user="payer"):
    """Follow the pay page through WeChat's silent OAuth (the sandbox plays WeChat) back to the shop."""
    first = client.get(f"/pay/{token}", headers={"User-Agent": IPHONE_WECHAT})
    assert first.headers["Location"].endswith(f"/pay/{token}/wechat-login")
    authorize = client.get(first.headers["Location"], headers={"User-Agent": IPHONE_WECHAT}).headers["Location"]
    assert authorize.startswith(f"{wechat.url}/connect/oauth2/authorize?") and "scope=snsapi_base" in authorize
    with requests.Session() as weixin:
        weixin.trust_env = False
        weixin.cookies.set("wxsandbox_user", user)
        answer = weixin.get(authorize, headers={"User-Agent": IPHONE_WECHAT}, allow_redirects=False, timeout=10)
    back = urlsplit(answer.headers["Location"])
    return back.path + "?" + back.query


def jsapi_parameters(html):
    return json.loads(re.search(r"data-jsapi='([^']+)'", html).group(1))


def test_inside_wechat_the_payer_logs_in_silently_and_gets_a_signed_pay_sheet(app, client, wechat, make_product):
    token = buy(client, make_product(price_fen=1800, stock=3), visit=False)
    callback = wechat_login(client, wechat, token)

    to_pay = client.get(callback)
    page = client.get(to_pay.headers["Location"], headers={"User-Agent": IPHONE_WECHAT})

    html = page.get_data(as_text=True)
    assert to_pay.headers["Location"].endswith(f"/pay/{token}")
    sheet = jsapi_parameters(html)
    [(channel, status, number)] = attempts(app, order_id_of(app, token))
    assert (channel, status) == ("jsapi", "open")
    prepay = wechat.order(number)
    assert sheet["package"] == f"prepay_id={prepay['prepay_id']}" and sheet["appId"] == wechat.keys.appid
    assert prepay["jsapi_openid"] == wechat.openid("payer")
    message = "".join(f"{sheet[key]}\n" for key in ("appId", "timeStamp", "nonceStr", "package")).encode()
    public_key = serialization.load_pem_public_key(wechat.keys.merchant_public_key_path.read_bytes())
    public_key.verify(base64.b64decode(sheet["paySign"]), message, padding.PKCS1v15(), hashes.SHA256())
    assert f"{wechat.url}/sandbox/jsbridge.js" in html  # development's bridge, allowed by this page's CSP
    assert wechat.url in page.headers["Content-Security-Policy"]
    assert "微信内支付需要开启 JavaScript" in html  # the no-script line, with the QR code to switch to

    wechat.pay_prepay(prepay["prepay_id"])
    wait_for(lambda: order_row(app, order_id_of(app, token)).status == "paid")
    assert wechat.order(number)["trade_type"] == "JSAPI"


def test_a_forged_state_is_refused(client, wechat, make_product):
    token = buy(client, make_product(stock=3), visit=False)
    callback = wechat_login(client, wechat, token)
    forged = re.sub(r"state=[^&]+", "state=forged", callback)
    answer = client.get(forged)
    assert answer.status_code == 400 and "微信授权已失效或来源不明" in answer.get_data(as_text=True)


def test_a_reused_code_is_refused(client, wechat, make_product):
    token = buy(client, make_product(stock=3), visit=False)
    callback = wechat_login(client, wechat, token)
    assert client.get(callback).status_code == 302
    with client.session_transaction() as session:  # a second visit of the same link, with a state to match
        session["wechat_oauth"] = {"state": parse_qs(urlsplit(callback).query)["state"][0], "token": token}
        session.pop("wechat_openid")

    again = client.get(callback)

    assert again.status_code == 400 and "授权码已被使用" in again.get_data(as_text=True)


# -- switching, and a second payment -------------------------------------------------------------------

def test_switching_from_h5_to_the_qr_closes_the_h5_payment_and_keeps_one(app, client, wechat, make_product):
    token = buy(client, make_product(price_fen=900, stock=3), visit=False)
    client.get(f"/pay/{token}/h5", headers={"User-Agent": ANDROID_CHROME})
    page = client.get(f"/pay/{token}", headers={"User-Agent": ANDROID_CHROME}).get_data(as_text=True)
    assert "换一种方式支付" in page and "显示付款二维码" in page

    switched = client.post(f"/pay/{token}/switch", headers={"User-Agent": ANDROID_CHROME},
                           data={"csrf_token": csrf_token_from(page), "channel": "native"})
    qr_page = client.get(switched.headers["Location"], headers={"User-Agent": ANDROID_CHROME})

    assert switched.headers["Location"].endswith(f"/pay/{token}?via=native")
    assert "data:image/png;base64," in qr_page.get_data(as_text=True)
    (h5, h5_status, h5_number), (native, native_status, native_number) = attempts(app, order_id_of(app, token))
    assert (h5, h5_status, native, native_status) == ("h5", "closed", "native", "open")
    assert native_number.endswith("-2") and wechat.order(h5_number)["trade_state"] == "CLOSED"
    wechat.pay(native_number)
    wait_for(lambda: order_row(app, order_id_of(app, token)).status == "paid")
    assert [status for _, status, _ in attempts(app, order_id_of(app, token))] == ["closed", "paid"]


def test_switching_when_the_first_way_was_already_paid_keeps_that_payment(app, client, wechat, make_product):
    token = buy(client, make_product(stock=3), visit=False)
    client.get(f"/pay/{token}/h5", headers={"User-Agent": ANDROID_CHROME})
    [(_, _, h5_number)] = attempts(app, order_id_of(app, token))
    wechat.fault(target="notify", mode="drop")
    wechat.pay(h5_number)  # paid in WeChat's cashier, the notification lost, then the customer switches
    page = client.get(f"/pay/{token}?via=h5", headers={"User-Agent": ANDROID_CHROME}).get_data(as_text=True)

    switched = client.post(f"/pay/{token}/switch", headers={"User-Agent": ANDROID_CHROME},
                           data={"csrf_token": csrf_token_from(page), "channel": "native"}, follow_redirects=True)

    assert "支付成功" in switched.get_data(as_text=True)
    assert attempts(app, order_id_of(app, token)) == [("h5", "paid", h5_number)]


def test_an_order_paid_twice_keeps_one_payment_and_refunds_the_other_in_full(app, wechat, placed):
    order = placed(price_fen=3300)
    with app.app_context():  # two ways open at once: as when two devices raced to start paying
        second = place(new_attempt(db.session.get(Order, order.id), PaymentChannel.NATIVE, utcnow()), utcnow())
        second_number = second.out_trade_no
    wechat.pay(order.out_trade_no)
    wait_for(lambda: status_of(app, order) == "paid")
    wechat.pay(second_number)
    wait_for(lambda: ("notification", "SUCCESS", "extra_payment") in events(app, order))

    with app.app_context():
        follow_up_refunds(utcnow())  # the refunds job sends the automatic refund to WeChat Pay
    wait_for(lambda: refund_of(app, order).status == "SUCCESS")

    row = order_row(app, order.id)
    assert (row.status, row.refunded_fen, row.transaction_id) == ("paid", 0, wechat.order(order.out_trade_no)
                                                                  ["transaction_id"])
    refund = refund_of(app, order)
    assert (refund.extra_payment, refund.amount_fen, refund.attempt.out_trade_no) == (True, 3300, second_number)
    assert wechat.order(second_number)["refunds"][0]["amount"]["refund"] == 3300
    assert [status for _, status, _ in attempts(app, order.id)] == ["paid", "paid"]


def refund_of(app, order):
    with app.app_context():
        refund = db.session.scalar(select(Refund).filter_by(order_id=order.id))
        refund.attempt  # load it while the session is open
        return refund


def test_the_owner_sees_each_way_of_paying_and_the_automatic_refund(app, owner_client, wechat, placed):
    order = placed(price_fen=1200)
    with app.app_context():
        extra = place(new_attempt(db.session.get(Order, order.id), PaymentChannel.NATIVE, utcnow()), utcnow())
        extra_number = extra.out_trade_no
    wechat.pay(order.out_trade_no)
    wait_for(lambda: status_of(app, order) == "paid")
    wechat.pay(extra_number)
    wait_for(lambda: ("notification", "SUCCESS", "extra_payment") in events(app, order))

    page = owner_client.get(f"/admin/orders/{order.id}").get_data(as_text=True)

    assert order.out_trade_no in page and extra_number in page and "微信扫码支付" in page
    assert "重复付款" in page and "重复付款，已自动全额退回" in page


def test_switching_from_the_qr_to_h5_leaves_one_paid_attempt(app, client, wechat, make_product):
    token = buy(client, make_product(stock=3), visit=False)
    page = client.get(f"/pay/{token}", headers={"User-Agent": ANDROID_CHROME}).get_data(as_text=True)
    client.post(f"/pay/{token}/switch", headers={"User-Agent": ANDROID_CHROME},
                data={"csrf_token": csrf_token_from(page), "channel": "native"})
    qr_page = client.get(f"/pay/{token}?via=native", headers={"User-Agent": ANDROID_CHROME}).get_data(as_text=True)
    assert "data:image/png;base64," in qr_page and "前往微信支付" in qr_page  # the way back to H5 is offered

    client.post(f"/pay/{token}/switch", headers={"User-Agent": ANDROID_CHROME},
                data={"csrf_token": csrf_token_from(qr_page), "channel": "h5"})
    client.get(f"/pay/{token}/h5", headers={"User-Agent": ANDROID_CHROME})

    (native, native_status, _), (h5, h5_status, h5_number) = attempts(app, order_id_of(app, token))
    assert (native, native_status, h5, h5_status) == ("native", "closed", "h5", "open")
    wechat.pay(h5_number)
    wait_for(lambda: order_row(app, order_id_of(app, token)).status == "paid")
    assert [status for _, status, _ in attempts(app, order_id_of(app, token))] == ["closed", "paid"]
