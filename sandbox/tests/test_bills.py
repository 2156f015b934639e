"""Trade bills with the unmodified SDK (trade_bill, download_bill): readiness, the CSV layout, hashes,
date rules, faults, and a payment only the bill shows."""

import gzip
import hashlib
import json
from datetime import date, datetime, timedelta

import pytest
import requests
from freezegun import freeze_time
from wechatpayv3 import WeChatPayType

from wechatpay_sandbox import bills, clock

DAY = bills.beijing_date(clock.now()) - timedelta(days=10)  # the bill's day, well inside three months


def at(day: date, hms: str) -> datetime:
    """A Beijing wall time on a day, e.g. at(DAY, "09:30:00")."""
    hour, minute, second = (int(part) for part in hms.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=clock.CHINA)


def ok(result):
    status, body = result
    assert 200 <= status < 300, (status, body)
    return json.loads(body) if isinstance(body, str) and body else body


def error_code(result):
    status, body = result
    assert status == 400, (status, body)
    return json.loads(body)["code"]


def native_paid(sb, client, no, total):
    ok(client.pay(description=f"商品{no}", out_trade_no=no, amount={"total": total}, attach=f"a-{no}"))
    return sb.pay(no)


def parse(text: str) -> tuple[list[dict], dict]:
    """Rows by column name (backticks removed) and the totals, checking the layout on the way."""
    lines = text.split("\r\n")
    assert lines[-1] == "" and lines[0] == bills.DETAIL_HEADER
    header = lines[0].split(",")
    end = lines.index(bills.SUMMARY_HEADER)
    rows = []
    for line in lines[1:end]:
        fields = line.split(",")
        assert len(fields) == len(header) and all(field.startswith("`") for field in fields), line
        rows.append(dict(zip(header, (field[1:] for field in fields))))
    totals = lines[end + 1].split(",")
    assert end + 3 == len(lines) and all(field.startswith("`") for field in totals)
    return rows, dict(zip(bills.SUMMARY_HEADER.split(","), (field[1:] for field in totals)))


@pytest.fixture
def busy_day(sb, wxpay):
    """DAY's trades: two payments, a refund, fee edge cases, a late payment; and the next day's."""
    with freeze_time(at(DAY, "09:30:00")) as frozen:
        tea = native_paid(sb, wxpay, "BILL_TEA01", 1999)
        frozen.move_to(at(DAY, "10:00:00"))
        alice = sb.openid("alice")
        prepay = ok(wxpay.pay(description="茶具", out_trade_no="BILL_JSAPI", amount={"total": 100},
                              payer={"openid": alice}, pay_type=WeChatPayType.JSAPI))["prepay_id"]
        sb.pay_prepay(prepay)
        frozen.move_to(at(DAY, "11:00:00"))
        refund = ok(wxpay.refund(out_refund_no="BILL_R0001", out_trade_no="BILL_TEA01",
                                 amount={"refund": 500, "total": 1999, "currency": "CNY"}))
        frozen.move_to(at(DAY, "12:00:00"))
        for no, total in (("BILL_FEN01", 1), ("BILL_FEN84", 84), ("BILL_FEN83", 83)):
            native_paid(sb, wxpay, no, total)
        ok(wxpay.pay(description="未付", out_trade_no="BILL_UNPAID", amount={"total": 5}))
        frozen.move_to(at(DAY, "23:59:59"))
        native_paid(sb, wxpay, "BILL_LATE1", 1000)
        frozen.move_to(at(DAY + timedelta(days=1), "00:00:00"))
        native_paid(sb, wxpay, "BILL_NEXT1", 300)
        ok(wxpay.refund(out_refund_no="BILL_R0002", out_trade_no="BILL_JSAPI",
                        amount={"refund": 100, "total": 100, "currency": "CNY"}))
    return {"tea": tea, "refund": refund, "alice": alice}


def test_the_bill_of_a_busy_day(sb, wxpay, busy_day):
    with freeze_time(at(DAY + timedelta(days=1), "08:59:59")) as frozen:
        assert error_code(wxpay.trade_bill(bill_date=DAY.isoformat())) == "STATEMENT_CREATING"
        frozen.move_to(at(DAY + timedelta(days=1), "09:00:00"))
        answer = ok(wxpay.trade_bill(bill_date=DAY.isoformat()))  # the SDK asks for GZIP
        assert answer["hash_type"] == "SHA1" and answer["download_url"].startswith(sb.url + "/v3/billdownload/")
        packed = ok(wxpay.download_bill(answer["download_url"]))
        text = gzip.decompress(packed)
        plain = ok(wxpay.trade_bill(bill_date=DAY.isoformat(), tar_type=""))  # no tar_type: the plain file
        assert ok(wxpay.download_bill(plain["download_url"])) == text
    assert hashlib.sha1(text).hexdigest() == answer["hash_value"] == plain["hash_value"]

    rows, totals = parse(text.decode("utf-8"))
    tea, refund = busy_day["tea"], busy_day["refund"]
    assert [(row["商户订单号"], row["交易状态"]) for row in rows] == [
        ("BILL_TEA01", "SUCCESS"), ("BILL_JSAPI", "SUCCESS"), ("BILL_TEA01", "REFUND"), ("BILL_FEN01", "SUCCESS"),
        ("BILL_FEN84", "SUCCESS"), ("BILL_FEN83", "SUCCESS"), ("BILL_LATE1", "SUCCESS")]
    assert rows[0] == {
        "交易时间": f"{DAY} 09:30:00", "公众账号ID": sb.keys.appid, "商户号": sb.keys.mchid, "特约商户号": "0",
        "设备号": "", "微信订单号": tea["transaction_id"], "商户订单号": "BILL_TEA01",
        "用户标识": tea["payer"]["openid"], "交易类型": "NATIVE", "交易状态": "SUCCESS", "付款银行": "OTHERS",
        "货币种类": "CNY", "应结订单金额": "19.99", "代金券金额": "0.00", "微信退款单号": "0", "商户退款单号": "0",
        "退款金额": "0.00", "充值券退款金额": "0.00", "退款类型": "", "退款状态": "", "商品名称": "商品BILL_TEA01",
        "商户数据包": "a-BILL_TEA01", "手续费": "0.12", "费率": "0.60%", "订单金额": "19.99", "申请退款金额": "0.00",
        "费率备注": ""}
    assert rows[2] == {**rows[0], "交易时间": f"{DAY} 11:00:00", "交易状态": "REFUND", "应结订单金额": "0.00",
                       "微信退款单号": refund["refund_id"], "商户退款单号": "BILL_R0001", "退款金额": "5.00",
                       "退款类型": "ORIGINAL", "退款状态": "SUCCESS", "手续费": "-0.03", "订单金额": "0.00",
                       "申请退款金额": "5.00"}
    assert (rows[1]["交易类型"], rows[1]["用户标识"]) == ("JSAPI", busy_day["alice"])
    assert [row["手续费"] for row in rows[3:6]] == ["0.00", "0.01", "0.00"]  # 0.006, 0.504, 0.498 fen: half up
    assert rows[6]["交易时间"] == f"{DAY} 23:59:59"
    assert totals == {"总交易单数": "7", "应结订单总金额": "32.67", "退款总金额": "5.00", "充值券退款总金额": "0.00",
                      "手续费总金额": "0.17", "订单总金额": "32.67", "申请退款总金额": "5.00"}


def test_the_next_day_and_a_day_without_trades(sb, wxpay, busy_day):
    with freeze_time(at(DAY + timedelta(days=2), "10:00:00")):
        text = ok(wxpay.download_bill(ok(wxpay.trade_bill(bill_date=str(DAY + timedelta(days=1)),
                                                          tar_type=""))["download_url"]))
        assert error_code(wxpay.trade_bill(bill_date=str(DAY - timedelta(days=1)))) == "NO_STATEMENT_EXIST"
    rows, totals = parse(text.decode())
    assert [(row["商户订单号"], row["交易状态"], row["交易时间"]) for row in rows] == [
        ("BILL_NEXT1", "SUCCESS", f"{DAY + timedelta(days=1)} 00:00:00"),
        ("BILL_JSAPI", "REFUND", f"{DAY + timedelta(days=1)} 00:00:00")]  # refunded the day after it was paid
    assert (totals["应结订单总金额"], totals["退款总金额"], totals["手续费总金额"]) == ("3.00", "1.00", "0.01")


TODAY = bills.beijing_date(clock.now())


@pytest.mark.parametrize("query, field", [
    ("bill_date=2026-1-5", "bill_date"), ("bill_date=2026-02-30", "bill_date"), ("bill_date=20261120", "bill_date"),
    ("bill_type=ALL", "bill_date"), (f"bill_date={TODAY + timedelta(days=1)}", "bill_date"),
    (f"bill_date={bills.earliest_date(TODAY) - timedelta(days=1)}", "bill_date"),
    (f"bill_date={TODAY}&bill_type=SUCCESS", "bill_type"), (f"bill_date={TODAY}&tar_type=ZIP", "tar_type"),
])
def test_bad_requests_are_param_error(wxpay, query, field):
    status, body = wxpay._core.request("/v3/bill/tradebill?" + query)
    assert (status, json.loads(body)["code"], json.loads(body)["detail"]["field"]) == (400, "PARAM_ERROR", field)


def test_the_oldest_and_the_newest_dates(sb, wxpay):
    today = bills.beijing_date(clock.now())
    assert error_code(wxpay.trade_bill(bill_date=str(bills.earliest_date(today)))) == "NO_STATEMENT_EXIST"
    assert error_code(wxpay.trade_bill(bill_date=str(today))) == "STATEMENT_CREATING"
    assert bills.earliest_date(date(2026, 5, 31)) == date(2026, 2, 28)  # no 31 February
    assert bills.earliest_date(date(2026, 2, 15)) == date(2025, 11, 15)


def test_the_download_url_lives_five_minutes_and_needs_a_signature(sb, wxpay):
    native_paid(sb, wxpay, "BILL_TTL01", 100)
    sb.configure(SANDBOX_BILL_READY_HOURS=0)  # today's bill, so far
    start = clock.now()
    with freeze_time(start) as frozen:
        url = ok(wxpay.trade_bill(bill_date=str(bills.beijing_date(start))))["download_url"]
        with requests.Session() as http:
            http.trust_env = False
            assert http.get(url, timeout=5).status_code == 401
        frozen.tick(timedelta(minutes=4, seconds=59))
        status, _ = wxpay.download_bill(url)
        assert status == 200
        frozen.tick(timedelta(seconds=1))
        assert error_code(wxpay.download_bill(url)) == "PARAM_ERROR"
    assert error_code(wxpay.download_bill(url.replace("token=", "token=x"))) == "PARAM_ERROR"


def test_the_file_is_not_signed(sb, wxpay):
    native_paid(sb, wxpay, "BILL_SIGN1", 100)
    sb.configure(SANDBOX_BILL_READY_HOURS=0)
    url = ok(wxpay.trade_bill(bill_date=str(bills.beijing_date(clock.now()))))["download_url"]
    response = requests.get(url, timeout=5, headers={"Authorization": wxpay_authorization(wxpay, url)})
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/octet-stream"
    assert "Wechatpay-Signature" not in response.headers


def wxpay_authorization(client, url: str) -> str:
    from wechatpayv3.utils import build_authorization

    path = url[len(client._core._gate_way):]
    return build_authorization(path, "GET", client._core._mchid, client._core._cert_serial_no,
                               client._core._private_key)


def test_bill_faults(sb, wxpay):
    native_paid(sb, wxpay, "BILL_FAULT", 100)
    sb.configure(SANDBOX_BILL_READY_HOURS=0)
    today = str(bills.beijing_date(clock.now()))
    sb.fault(target="bill", mode="not_ready")
    assert error_code(wxpay.trade_bill(bill_date=today)) == "STATEMENT_CREATING"
    answer = ok(wxpay.trade_bill(bill_date=today))
    sb.fault(target="bill", mode="corrupt")
    damaged = gzip.decompress(ok(wxpay.download_bill(answer["download_url"])))
    assert hashlib.sha1(damaged).hexdigest() != answer["hash_value"]
    intact = gzip.decompress(ok(wxpay.download_bill(answer["download_url"])))
    assert hashlib.sha1(intact).hexdigest() == answer["hash_value"]
    sb.fault(target="api", mode="system_error", path_prefix="/v3/bill/")
    assert wxpay.trade_bill(bill_date=today)[0] == 500


def test_a_payment_only_the_bill_shows(sb, wxpay, receiver):
    ok(wxpay.pay(description="悄悄付", out_trade_no="BILL_QUIET", amount={"total": 880}))
    paid = sb.pay_silently("BILL_QUIET")
    assert paid["trade_state"] == "SUCCESS" and paid["merchant_view"] == "NOTPAY" and paid["silent"] is True
    assert sb.deliveries("BILL_QUIET") == []  # no notification
    assert ok(wxpay.query(out_trade_no="BILL_QUIET"))["trade_state"] == "NOTPAY"
    assert wxpay.query(transaction_id=paid["transaction_id"])[0] == 404
    assert wxpay.close(out_trade_no="BILL_QUIET")[0] == 204  # the merchant, believing it unpaid, closes it
    closed = ok(wxpay.query(out_trade_no="BILL_QUIET"))
    assert closed["trade_state"] == "CLOSED" and "transaction_id" not in closed
    assert "商户不知情：查单显示 CLOSED" in requests.get(sb.url + "/", timeout=5).text  # the overview tells

    sb.configure(SANDBOX_BILL_READY_HOURS=0)
    bill = ok(wxpay.trade_bill(bill_date=str(bills.beijing_date(clock.now())), tar_type=""))
    rows, _ = parse(ok(wxpay.download_bill(bill["download_url"])).decode())
    assert [(row["商户订单号"], row["微信订单号"], row["应结订单金额"]) for row in rows] == \
        [("BILL_QUIET", paid["transaction_id"], "8.80")]

    sb.reveal("BILL_QUIET")  # lifted: a confirming query now sees the payment
    confirmed = ok(wxpay.query(out_trade_no="BILL_QUIET"))
    assert (confirmed["trade_state"], confirmed["transaction_id"]) == ("SUCCESS", paid["transaction_id"])
    assert wxpay.close(out_trade_no="BILL_QUIET")[0] == 400  # ORDERPAID, as for any paid order
    assert receiver.received == []
