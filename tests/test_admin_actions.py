"""The owner's actions against the WeChat Pay sandbox over HTTP: query, close, ship and refund."""
import re

import pytest
from sqlalchemy import select

from extensions import db
from models import PaymentEvent, Product, Refund
from tests.helpers import csrf_token_from, events, flashes, order_row, status_of, wait_for

pytestmark = [pytest.mark.wechatpay, pytest.mark.usefixtures("live_shop")]


def act(client, order, action, **data):
    """POST an action from the order page with the page's CSRF token; follow to the order page.

    A refund is sent as its confirmation page's button sends it (confirmed=1).
    """
    if action == "refund":
        data.setdefault("confirmed", "1")
    page = client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    return client.post(f"/admin/orders/{order.id}/{action}", data={"csrf_token": csrf_token_from(page), **data},
                       follow_redirects=True)


def refunds(app, order):
    with app.app_context():
        return db.session.scalars(select(Refund).filter_by(order_id=order.id).order_by(Refund.id)).all()


# -- query WeChat now -----------------------------------------------------------------------------------

def test_query_now_finds_a_payment_whose_notification_was_lost(app, owner_client, wechat, placed):
    order = placed()
    wechat.fault(target="notify", mode="drop")
    wechat.pay(order.out_trade_no)
    assert status_of(app, order) == "pending"

    response = act(owner_client, order, "query")

    assert response.status_code == 200
    assert "微信支付确认已付款，订单已标记为已支付。" in flashes(response.get_data(as_text=True))
    row = order_row(app, order.id)
    assert row.status == "paid"
    assert row.transaction_id == wechat.order(order.out_trade_no)["transaction_id"]
    assert events(app, order, "owner_query") == [("owner_query", "SUCCESS", "paid")]
    assert "查询微信支付（店主）" in response.get_data(as_text=True)


def test_query_now_on_an_unpaid_order_changes_nothing(app, owner_client, placed):
    order = placed()
    response = act(owner_client, order, "query")
    assert "已向微信支付查询，订单状态没有变化（待支付）。" in flashes(response.get_data(as_text=True))
    assert status_of(app, order) == "pending"
    assert events(app, order, "owner_query") == [("owner_query", "NOTPAY", "unchanged")]


def test_query_now_when_wechat_fails_says_so_and_changes_nothing(app, owner_client, wechat, placed):
    order = placed()
    wechat.fault(target="api", mode="system_error")
    response = act(owner_client, order, "query")
    assert "微信支付暂时不可用，请稍后重试。" in flashes(response.get_data(as_text=True))
    assert status_of(app, order) == "pending"
    assert events(app, order, "owner_query") == [("owner_query", "SYSTEM_ERROR", "error")]


# -- close ----------------------------------------------------------------------------------------------

def test_close_closes_on_wechat_and_releases_the_stock(app, owner_client, wechat, placed):
    order = placed(quantity=2, stock=5)

    response = act(owner_client, order, "close")

    assert "订单已关闭，库存已释放。" in flashes(response.get_data(as_text=True))
    assert wechat.order(order.out_trade_no)["trade_state"] == "CLOSED"
    row = order_row(app, order.id)
    assert (row.status, row.closed_at is not None) == ("closed", True)
    with app.app_context():
        assert db.session.get(Product, order.product_id).stock == 5
    assert events(app, order, "owner_close") == [("owner_close", "CLOSED", "closed")]


def test_close_when_the_customer_paid_just_before_keeps_the_payment(app, owner_client, wechat, placed):
    order = placed(quantity=2, stock=5)
    wechat.fault(target="notify", mode="drop")
    wechat.fault(target="api", mode="pay_on_close")

    response = act(owner_client, order, "close")

    assert "关单前顾客已付款：订单已标记为已支付，没有关闭。" in flashes(response.get_data(as_text=True))
    assert status_of(app, order) == "paid"
    with app.app_context():
        assert db.session.get(Product, order.product_id).stock == 3


def test_close_is_refused_for_a_paid_order(app, owner_client, wechat, paid):
    order = paid()
    response = act(owner_client, order, "close")
    assert "只有待支付的订单可以关闭；这笔订单已支付。" in flashes(response.get_data(as_text=True))
    assert status_of(app, order) == "paid"
    assert wechat.order(order.out_trade_no)["trade_state"] == "SUCCESS"
    assert events(app, order, "owner_close") == []


# -- mark shipped ---------------------------------------------------------------------------------------

def test_mark_shipped(app, owner_client, paid):
    order = paid()

    response = act(owner_client, order, "ship")

    assert "订单已标记为已发货。" in flashes(response.get_data(as_text=True))
    row = order_row(app, order.id)
    assert row.status == "shipped" and row.shipped_at is not None
    assert events(app, order, "ship") == [("ship", None, "shipped_by_owner")]

    again = act(owner_client, order, "ship")
    assert "只有已支付、未发货的订单可以发货。" in flashes(again.get_data(as_text=True))
    assert events(app, order, "ship") == [("ship", None, "shipped_by_owner")]


def test_an_unpaid_order_cannot_be_shipped(app, owner_client, placed):
    order = placed()
    response = act(owner_client, order, "ship")
    assert "只有已支付、未发货的订单可以发货。" in flashes(response.get_data(as_text=True))
    assert status_of(app, order) == "pending"


# -- refunds --------------------------------------------------------------------------------------------

def test_a_partial_refund_stays_processing_until_wechat_confirms_it(app, owner_client, wechat, paid):
    order = paid(price_fen=2599, quantity=2)
    wechat.fault(target="notify", mode="delay", seconds=2)

    response = act(owner_client, order, "refund", amount="12.50", reason="缺货退一件")

    page = response.get_data(as_text=True)
    [refund] = refunds(app, order)
    assert (refund.amount_fen, refund.reason, refund.status) == (1250, "缺货退一件", "PROCESSING")
    assert f"已向微信支付申请退款 ¥12.50（退款单号 {refund.out_refund_no}），微信支付确认后完成。" in flashes(page)
    assert "退款中" in page
    assert order_row(app, order.id).refunded_fen == 0
    sandbox_refund = wechat.order(order.out_trade_no)["refunds"][0]
    assert (sandbox_refund["out_refund_no"], sandbox_refund["amount"]["refund"]) == (refund.out_refund_no, 1250)

    wait_for(lambda: refunds(app, order)[0].status == "SUCCESS", timeout=10)

    row = order_row(app, order.id)
    assert (row.status, row.refunded_fen, row.status_label) == ("paid", 1250, "部分退款")
    page = owner_client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    assert "退款成功" in page and "部分退款" in page
    assert "可退金额 <strong data-refundable>¥39.48</strong>" in page
    assert ("notification", "SUCCESS", "refunded") in events(app, order, "notification")
    assert wechat.order(order.out_trade_no)["refunds"][0]["status"] == "SUCCESS"


def test_a_refund_notification_delivered_twice_is_applied_once(app, owner_client, wechat, paid):
    order = paid(price_fen=1000)
    wechat.fault(target="notify", mode="duplicate", times=2)

    act(owner_client, order, "refund", amount="10", reason="")

    [delivery] = wechat.wait_deliveries(order.out_trade_no, count=2)[1:]  # [payment, refund]
    assert delivery["event_type"] == "REFUND.SUCCESS"
    assert [entry["status_code"] for entry in delivery["log"]] == [204, 204]
    wait_for(lambda: refunds(app, order)[0].status == "SUCCESS")
    row = order_row(app, order.id)
    assert (row.refunded_fen, row.status_label) == (1000, "已退款")
    with app.app_context():
        refund_events = db.session.scalars(
            select(PaymentEvent).filter_by(order_id=order.id, event_type="REFUND.SUCCESS")).all()
        assert [(e.notification_id, e.outcome) for e in refund_events] == [(delivery["id"], "refunded")]
    page = owner_client.get("/admin/orders", query_string={"q": order.out_trade_no}).get_data(as_text=True)
    assert "已退款" in page


def test_a_refund_over_the_remaining_amount_is_refused_and_changes_nothing(app, owner_client, wechat, paid):
    order = paid(price_fen=1234)
    act(owner_client, order, "refund", amount="10.00", reason="部分退款")
    wait_for(lambda: refunds(app, order)[0].status == "SUCCESS")
    before = (order_row(app, order.id).refunded_fen, len(refunds(app, order)), len(events(app, order)),
              len(wechat.order(order.out_trade_no)["refunds"]))

    page = owner_client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    response = owner_client.post(f"/admin/orders/{order.id}/refund", data={
        "csrf_token": csrf_token_from(page), "amount": "2.35", "reason": "再退一点", "refundable_fen": "234",
        "confirmed": "1"})

    assert response.status_code == 400
    assert "退款金额须在 0.01 到 2.34 元之间" in response.get_data(as_text=True)
    after = (order_row(app, order.id).refunded_fen, len(refunds(app, order)), len(events(app, order)),
             len(wechat.order(order.out_trade_no)["refunds"]))
    assert after == before == (1000, 1, before[2], 1)


def test_a_refund_of_more_than_was_paid_is_refused_before_wechat_hears_of_it(app, owner_client, wechat, paid):
    order = paid(price_fen=1234)
    response = act(owner_client, order, "refund", amount="12.35", reason="")
    assert response.status_code == 400
    assert "退款金额须在 0.01 到 12.34 元之间" in response.get_data(as_text=True)
    assert refunds(app, order) == []
    assert wechat.order(order.out_trade_no)["refunds"] == []
    assert order_row(app, order.id).refunded_fen == 0


@pytest.mark.parametrize(("amount", "message"), [
    ("", "请输入退款金额"), ("abc", "请输入金额"), ("1.234", "最多两位小数"), ("-1", "请输入金额"),
    ("0", "退款金额须大于 0"), ("0.00", "退款金额须大于 0"), ("1e3", "请输入金额"), ("12.3.4", "请输入金额"),
])
def test_a_refund_amount_that_is_not_money_is_refused(app, owner_client, wechat, paid, amount, message):
    order = paid()
    response = act(owner_client, order, "refund", amount=amount, reason="")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert refunds(app, order) == []


def test_a_refund_reason_over_80_characters_is_refused(app, owner_client, paid):
    order = paid()
    response = act(owner_client, order, "refund", amount="1.00", reason="很" * 81)
    assert response.status_code == 400
    assert "退款原因最多 80 个字" in response.get_data(as_text=True)
    assert refunds(app, order) == []


def test_the_same_refund_form_sent_twice_refunds_once(app, owner_client, paid):
    order = paid(price_fen=1000)
    page = owner_client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    form = {"csrf_token": csrf_token_from(page), "amount": "3.00", "reason": "", "confirmed": "1",
            "refundable_fen": re.search(r'name="refundable_fen" value="(\d+)"', page).group(1)}

    first = owner_client.post(f"/admin/orders/{order.id}/refund", data=form)
    second = owner_client.post(f"/admin/orders/{order.id}/refund", data=form)

    assert first.status_code == 303
    assert second.status_code == 409
    assert "可退金额已变化" in second.get_data(as_text=True)
    assert [r.amount_fen for r in refunds(app, order)] == [300]


def test_an_unpaid_order_cannot_be_refunded(app, owner_client, wechat, placed):
    order = placed()
    response = act(owner_client, order, "refund", amount="1.00", reason="")
    assert response.status_code == 400
    assert "只有已支付的订单可以退款" in response.get_data(as_text=True)
    assert refunds(app, order) == []


def test_a_refund_wechat_cannot_answer_is_settled_by_query_now(app, owner_client, wechat, paid):
    order = paid(price_fen=800)
    wechat.fault(target="notify", mode="drop")
    wechat.fault(target="api", mode="system_error", path_prefix="/v3/refund")

    response = act(owner_client, order, "refund", amount="8.00", reason="")

    assert "微信支付暂时没有答复，退款申请已记录，系统会自动向微信支付确认结果，请勿重复提交。" in flashes(
        response.get_data(as_text=True))
    [refund] = refunds(app, order)
    assert refund.status == "PROCESSING"
    assert wechat.order(order.out_trade_no)["refunds"] == []  # the request never reached WeChat

    response = act(owner_client, order, "query")  # re-sends the refund with the same out_refund_no

    assert refunds(app, order)[0].status in ("PROCESSING", "SUCCESS")
    assert [r["out_refund_no"] for r in wechat.order(order.out_trade_no)["refunds"]] == [refund.out_refund_no]
    wait_for(lambda: wechat.order(order.out_trade_no)["refunds"][0]["status"] == "SUCCESS")
    response = act(owner_client, order, "query")
    assert f"退款 {refund.out_refund_no} 已成功。" in flashes(response.get_data(as_text=True))
    assert order_row(app, order.id).refunded_fen == 800
    assert refunds(app, order)[0].status == "SUCCESS"


def test_the_refund_form_is_empty_and_asks_to_confirm_the_amount_before_refunding(app, owner_client, wechat, paid):
    order = paid(price_fen=2599)
    page = owner_client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    amount_input = re.search(r'<input[^>]*name="amount"[^>]*>', page).group(0)
    assert 'value="' not in amount_input or 'value=""' in amount_input  # not pre-filled with the whole amount

    response = owner_client.post(f"/admin/orders/{order.id}/refund", data={
        "csrf_token": csrf_token_from(page), "amount": "12.50", "reason": "缺货",
        "refundable_fen": "2599"})

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<strong data-confirm-amount>¥12.50</strong>' in html and "确认退款 ¥12.50" in html
    assert 'name="confirmed" value="1"' in html and 'name="amount" value="12.50"' in html
    assert refunds(app, order) == [] and wechat.order(order.out_trade_no)["refunds"] == []
