"""The sandbox's pages: overview, the customer's phone, fault injection forms."""

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from freezegun import freeze_time

from wechatpay_sandbox import clock


def text(response) -> str:
    return response.get_data(as_text=True)


def create(v3, out_trade_no="PHONE_0001", total=1999, description="青花瓷茶杯"):
    response = v3.native(out_trade_no=out_trade_no, description=description, amount={"total": total})
    assert response.status_code == 200
    return response.json["code_url"]


def test_phone_without_code_offers_a_paste_form(sandbox_app):
    page = text(sandbox_app.test_client().get("/phone"))
    assert 'name="code_url"' in page and "扫码" in page
    assert "<html lang=\"zh-CN\">" in page and "<style>" in page
    assert not re.search(r'(src|href)="https?://', page)  # no external assets


def test_phone_shows_the_order_and_pays(sandbox_app, v3):
    code_url = create(v3)
    client = sandbox_app.test_client()
    page = text(client.get("/phone?code_url=" + quote(code_url)))
    assert "演示小店" in page and "青花瓷茶杯" in page and "¥19.99" in page
    assert 'action="/phone/pay"' in page and 'action="/phone/cancel"' in page
    assert page.count('method="post"') == 3 and 'action="/phone/user"' in page  # pay, cancel, switch user

    paid = client.post("/phone/pay", data={"code_url": code_url})
    assert paid.status_code == 303
    after = text(client.get(paid.headers["Location"]))
    assert "支付成功" in after and 'action="/phone/pay"' not in after
    assert v3.query("PHONE_0001").json["trade_state"] == "SUCCESS"
    deliveries = client.get("/sandbox/api/deliveries?out_trade_no=PHONE_0001").json["deliveries"]
    assert [d["event_type"] for d in deliveries] == ["TRANSACTION.SUCCESS"]

    again = client.post("/phone/pay", data={"code_url": code_url})
    assert "订单已支付" in text(client.get(again.headers["Location"]))


def test_phone_cancel_keeps_the_order_unpaid(sandbox_app, v3):
    code_url = create(v3)
    client = sandbox_app.test_client()
    cancelled = client.post("/phone/cancel", data={"code_url": code_url})
    page = text(client.get(cancelled.headers["Location"]))
    assert "已取消支付" in page and 'action="/phone/pay"' in page  # may still pay afterwards
    assert v3.query("PHONE_0001").json["trade_state"] == "NOTPAY"
    assert client.get("/sandbox/api/orders/PHONE_0001").json["cancelled_at"]


def test_phone_unknown_and_expired_codes(sandbox_app, v3):
    client = sandbox_app.test_client()
    assert "二维码无效" in text(client.get("/phone?code_url=weixin%3A%2F%2Fwxpay%2Fbizpayurl%3Fpr%3Dnope"))
    unknown = client.post("/phone/pay", data={"code_url": "weixin://wxpay/bizpayurl?pr=nope"})
    assert "二维码无效" in text(client.get(unknown.headers["Location"]))

    start = datetime.now(timezone.utc)
    with freeze_time(start) as frozen:
        code_url = create(v3, "PHONE_0002")
        frozen.tick(timedelta(hours=2, seconds=1))
        page = text(client.get("/phone?code_url=" + quote(code_url)))
        assert "二维码已过期" in page and 'action="/phone/pay"' not in page
        refused = client.post("/phone/pay", data={"code_url": code_url})
        assert "二维码已过期" in text(client.get(refused.headers["Location"]))
        assert v3.query("PHONE_0002").json["trade_state"] == "NOTPAY"


def test_phone_closed_order(sandbox_app, v3):
    code_url = create(v3, "PHONE_0003")
    v3.post("/v3/pay/transactions/out-trade-no/PHONE_0003/close", {"mchid": v3.keys.mchid})
    client = sandbox_app.test_client()
    assert "订单已关闭" in text(client.get("/phone?code_url=" + quote(code_url)))
    refused = client.post("/phone/pay", data={"code_url": code_url})
    assert "订单已关闭" in text(client.get(refused.headers["Location"]))


def test_phone_and_overview_past_time_expire(sandbox_app, v3):
    client = sandbox_app.test_client()
    start = datetime.now(timezone.utc).replace(microsecond=0)
    with freeze_time(start) as frozen:
        code_url = v3.native(out_trade_no="PHONE_0005", time_expire=clock.rfc3339(start + timedelta(minutes=5))
                             ).json["code_url"]
        frozen.tick(timedelta(minutes=5))
        page = text(client.get("/phone?code_url=" + quote(code_url)))
        assert "订单已过期" in page and 'action="/phone/pay"' not in page
        refused = client.post("/phone/pay", data={"code_url": code_url})
        assert "订单已过期" in text(client.get(refused.headers["Location"]))
        assert "已过期，待商户关单" in text(client.get("/"))
        assert v3.query("PHONE_0005").json["trade_state"] == "NOTPAY"


def test_overview_lists_orders_refunds_and_deliveries(sandbox_app, v3, receiver):
    client = sandbox_app.test_client()
    assert "还没有订单" in text(client.get("/"))
    receiver.statuses = [500]
    response = v3.native(out_trade_no="OVERVIEW01", description="紫砂壶", amount={"total": 500},
                         notify_url=receiver.url)
    assert response.status_code == 200
    client.post("/sandbox/api/orders/OVERVIEW01/pay")
    v3.post("/v3/refund/domestic/refunds", {"out_trade_no": "OVERVIEW01", "out_refund_no": "OVREFUND01",
                                            "amount": {"refund": 200, "total": 500, "currency": "CNY"}})
    client.post("/sandbox/api/deliveries/run")
    page = text(client.get("/"))
    for expected in ("OVERVIEW01", "紫砂壶", "¥5.00", "OVREFUND01", "¥2.00", "TRANSACTION.SUCCESS",
                     receiver.url, v3.keys.mchid, "#1 normal → 500"):
        assert expected in page, expected


def test_faults_page_arms_and_clears(sandbox_app):
    client = sandbox_app.test_client()
    page = text(client.get("/faults"))
    for mode in ("system_error", "frequency_limited", "hang", "pay_on_close", "drop", "duplicate",
                 "concurrent", "delay", "bad_signature"):
        assert f'value="{mode}"' in page
    armed = client.post("/faults", data={"target": "notify", "mode": "duplicate", "count": "2", "times": "3",
                                         "seconds": ""})
    assert armed.status_code == 303
    faults = client.get("/sandbox/api/faults").json["faults"]
    assert [(f["mode"], f["count"], f["times"]) for f in faults] == [("duplicate", 2, 3)]
    assert "duplicate" in text(client.get("/faults"))

    client.post("/faults", data={"target": "api", "mode": "system_error", "rate": "0.05"})
    rate = client.get("/sandbox/api/faults").json["faults"][-1]
    assert (rate["mode"], rate["rate"], rate["count"]) == ("system_error", 0.05, None)
    assert "不限" in text(client.get("/faults"))
    bad = client.post("/faults", data={"target": "api", "mode": "hang", "seconds": "-3"})
    assert "seconds must be between" in text(client.get(bad.headers["Location"]))
    client.post("/faults/clear")
    assert client.get("/sandbox/api/faults").json["faults"] == []


def test_pages_only_change_state_on_post(sandbox_app, v3):
    code_url = create(v3, "PHONE_0004")
    client = sandbox_app.test_client()
    assert client.get("/phone/pay?code_url=" + quote(code_url)).status_code == 405
    assert client.get("/faults/clear").status_code == 405
    assert v3.query("PHONE_0004").json["trade_state"] == "NOTPAY"
