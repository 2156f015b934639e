"""Packing and shipping: SHIP_MODE, couriers and tracking numbers (one by one, pasted, CSV), pick lists and
packing slips; the customer's order page shows the courier and number."""
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from core.clock import utcnow
from core.vocabulary import OrderStatus
from extensions import db
from jobs.ship import ship_orders
from models import Order, Refund
from services import shipping
from tests.helpers import DELIVERY, csrf, flashes, order_row


@pytest.fixture
def paid_order(app, make_order):
    """Factory: an order already paid (set in the database: shipping does not talk to WeChat Pay)."""
    def make(**kwargs):
        order = make_order(**kwargs)
        with app.app_context():
            db.session.execute(update(Order).where(Order.id == order.id).values(
                status=OrderStatus.PAID, paid_at=utcnow() - timedelta(minutes=5), transaction_id=f"42{order.id:010d}"))
            db.session.commit()
        return order

    return make


def test_in_auto_mode_the_job_ships_paid_orders_and_in_manual_mode_they_wait(app, paid_order):
    first = paid_order()
    with app.app_context():
        assert ship_orders(utcnow()).shipped == 1
    assert order_row(app, first.id).status == "shipped"

    app.config["SHIP_MODE"] = "manual"
    second = paid_order()
    with app.app_context():
        summary = ship_orders(utcnow())
    assert (summary.checked, summary.shipped) == (0, 0)
    assert order_row(app, second.id).status == "paid"

    app.config["SHIP_MODE"] = "sometimes"
    with app.app_context(), pytest.raises(ValueError):  # a wrong value fails the run (the scheduler logs it)
        ship_orders(utcnow())
    assert order_row(app, second.id).status == "paid"


def test_the_waiting_list_shows_paid_orders_with_their_items_and_the_blocked_ones_apart(
        app, owner_client, paid_order):
    app.config["SHIP_MODE"] = "manual"
    ready = paid_order(quantity=2)
    flagged = paid_order()
    with app.app_context():
        db.session.execute(update(Order).where(Order.id == flagged.id).values(attention="关闭后收到付款，库存不足"))
        db.session.commit()
    page = owner_client.get("/admin/ship").get_data(as_text=True)
    waiting = page[page.index('id="waiting-title"'):page.index("已支付但暂不能发货")]
    assert ready.out_trade_no in waiting and "订单商品 ×2" in waiting and flagged.out_trade_no not in waiting
    assert "店主手动发货" in page
    assert flagged.out_trade_no in page[page.index("已支付但暂不能发货"):]


def record(client, order, courier, number, name="", back=""):
    return client.post(f"/admin/orders/{order.id}/tracking", data={
        "csrf_token": csrf(client), "courier": courier, "courier_name": name, "tracking_no": number, "back": back},
        follow_redirects=True)


def test_a_tracking_number_ships_a_paid_order_by_the_one_rule_and_the_customer_sees_it(
        app, owner_client, client, paid_order):
    app.config["SHIP_MODE"] = "manual"
    order = paid_order()

    response = record(owner_client, order, "sf", " SF 1234 5678 9012 ")

    assert (f"订单 {order.out_trade_no}：已发货，快递 顺丰速运 运单号 SF123456789012 已记录，顾客在订单页可以看到。"
            in flashes(response.get_data(as_text=True)))
    row = order_row(app, order.id)
    assert (row.status, row.courier, row.tracking_no) == ("shipped", "sf", "SF123456789012")
    customer = client.get(f"/orders/{order.token}").get_data(as_text=True)
    assert re.search(r"data-tracking>顺丰速运 SF123456789012<", customer)
    timeline = owner_client.get(f"/admin/orders/{order.id}").get_data(as_text=True).split('class="timeline"')[1]
    assert "店主标记发货" in timeline and "运单号" in timeline and "tracking_no" not in timeline

    corrected = record(owner_client, order, "other", "ABC-778899", name="安能物流")
    assert "快递 安能物流 运单号 ABC-778899 已记录" in flashes(corrected.get_data(as_text=True))[0]
    assert "安能物流 ABC-778899" in client.get(f"/orders/{order.token}").get_data(as_text=True)


@pytest.mark.parametrize("state, message", [
    ("attention", "订单有需处理的问题"), ("refunding", "全额退款"), ("pending", "订单待支付：只有已支付或已发货的订单"),
])
def test_the_ship_rule_stops_a_tracking_number_on_an_order_that_may_not_ship(
        app, owner_client, paid_order, make_order, state, message):
    order = make_order() if state == "pending" else paid_order()
    with app.app_context():
        if state == "attention":
            db.session.execute(update(Order).where(Order.id == order.id).values(attention="退款失败"))
        if state == "refunding":
            db.session.add(Refund(order_id=order.id, out_refund_no=f"R{order.id}", amount_fen=order.total_fen,
                                  status="PROCESSING"))
        db.session.commit()
    response = record(owner_client, order, "zto", "7891234567890")
    assert any(message in text for text in flashes(response.get_data(as_text=True)))
    row = order_row(app, order.id)
    assert row.tracking_no is None and row.status != "shipped"


def test_bad_tracking_input_is_refused_with_the_reason(app, owner_client, paid_order):
    order = paid_order()
    assert "运单号应为 5 到 40 位" in flashes(record(owner_client, order, "sf", "12").get_data(as_text=True))[0]
    assert "请选择快递公司" in flashes(record(owner_client, order, "", "SF12345678").get_data(as_text=True))[0]
    assert "请填写快递公司名称" in flashes(record(owner_client, order, "other", "SF12345678").get_data(as_text=True))[0]
    assert order_row(app, order.id).status == "paid"


def test_pasted_lines_are_checked_and_applied_one_by_one_with_a_result_each(app, owner_client, paid_order,
                                                                            make_order):
    app.config["SHIP_MODE"] = "manual"
    first, second, shipped_already = paid_order(), paid_order(), paid_order()
    unpaid = make_order()
    with app.app_context():
        db.session.execute(update(Order).where(Order.id == shipped_already.id).values(status="shipped",
                                                                                     shipped_at=utcnow()))
        db.session.commit()
    text = "\n".join([
        "订单号,快递公司,运单号",
        f"{first.out_trade_no},顺丰,SF1111111111",
        f"{second.out_trade_no}，中通快递，78922222222",
        f"{shipped_already.out_trade_no}\t极兔\tJT3333333333",
        f"{unpaid.out_trade_no},韵达,4444444444",
        "20990101000000NOSUCHORDER,圆通,YT5555555555",
        f"{first.out_trade_no},顺丰,SF9999999999",
        "only two,cells",
        f"{second.out_trade_no},EMS,!",
    ])
    page = owner_client.post("/admin/ship/tracking", data={"csrf_token": csrf(owner_client), "lines": text})
    html = page.get_data(as_text=True)

    assert page.status_code == 200 and "结果：成功 3 行，未处理 5 行" in html
    rows = dict(re.findall(r'data-line="(\d+)">.*?<td data-label="结果">(.*?)</td>', html, re.S))
    assert "已发货并记录运单号" in rows["2"] and "已发货并记录运单号" in rows["3"]
    assert "已记录运单号（订单此前已发货）" in rows["4"]
    assert "订单待支付" in rows["5"] and "找不到这个订单号" in rows["6"] and "与第 2 行是同一订单" in rows["7"]
    assert "每行应为" in rows["8"] and "运单号应为" in rows["9"]
    assert [(order_row(app, o.id).status, order_row(app, o.id).tracking_no) for o in (first, second, unpaid)] == [
        ("shipped", "SF1111111111"), ("shipped", "78922222222"), ("pending", None)]
    assert order_row(app, second.id).courier == "zto"
    assert order_row(app, shipped_already.id).courier == "jtexpress"


def test_a_csv_file_from_excel_in_gbk_is_read(app, owner_client, paid_order):
    order = paid_order()
    data = f"订单号,快递公司,运单号\r\n{order.out_trade_no},申通快递,STO77777777\r\n".encode("gbk")
    response = owner_client.post("/admin/ship/tracking", data={
        "csrf_token": csrf(owner_client), "file": (io.BytesIO(data), "运单.csv")}, content_type="multipart/form-data")
    assert "结果：成功 1 行，未处理 0 行" in response.get_data(as_text=True)
    assert (order_row(app, order.id).courier, order_row(app, order.id).tracking_no) == ("sto", "STO77777777")


def test_courier_names_owners_type_are_recognised():
    assert shipping.courier_from_text("顺丰") == ("sf", None)
    assert shipping.courier_from_text(" SF ") == ("sf", None)
    assert shipping.courier_from_text("京东快递") == ("jd", None)
    assert shipping.courier_from_text("跨越速运") == ("other", "跨越速运")


def test_marking_selected_orders_shipped_by_hand(app, owner_client, paid_order, make_order):
    app.config["SHIP_MODE"] = "manual"
    order, unpaid = paid_order(), make_order()
    response = owner_client.post("/admin/ship/mark", data={"csrf_token": csrf(owner_client),
                                                           "id": [str(order.id), str(unpaid.id)]},
                                 follow_redirects=True)
    messages = flashes(response.get_data(as_text=True))
    assert "1 笔订单已标记为已发货。" in messages
    assert f"{unpaid.out_trade_no}：只有已支付、未发货的订单可以发货。" in messages
    assert order_row(app, order.id).status == "shipped"


def test_pick_list_and_packing_slips_for_selected_paid_orders(app, owner_client, make_product, make_order):
    from services.checkout import place_order

    product_id = make_product(name="订单商品", stock=10)
    delivery = DELIVERY
    with app.app_context():
        first, second = (place_order({product_id: n}, delivery, utcnow()).id for n in (2, 3))
        db.session.execute(update(Order).values(status=OrderStatus.PAID, paid_at=utcnow()))
        db.session.commit()
    unpaid = make_order()
    ids = f"id={first}&id={second}&id={unpaid.id}"

    pick = owner_client.get(f"/admin/ship/print?kind=pick&{ids}").get_data(as_text=True)
    assert "拣货单" in pick and "2 笔订单" in pick
    assert re.search(r"<td>订单商品</td><td class=\"num\"><strong>5</strong></td><td class=\"num\">2</td>", pick)
    assert f"没有打印：{unpaid.out_trade_no}" in pick
    assert 'href="/static/css/print.css"' in pick

    slips = owner_client.get(f"/admin/ship/print?kind=slips&{ids}").get_data(as_text=True)
    assert slips.count('class="sheet packing-slip"') == 2
    assert DELIVERY.address in slips and DELIVERY.mobile in slips
    assert owner_client.get("/admin/ship/print?kind=pdf").status_code == 404


def test_the_order_list_shows_each_orders_items_and_tracking(app, owner_client, paid_order):
    order = paid_order(quantity=2)
    record(owner_client, order, "yto", "YT1234567890")
    page = owner_client.get("/admin/orders").get_data(as_text=True)
    row = re.search(rf'data-out-trade-no="{order.out_trade_no}".*?</tr>', page, re.S).group(0)
    assert "订单商品 ×2" in row and "圆通速递 YT1234567890" in row


def test_production_refuses_owner_settings_that_cannot_work(tmp_path):
    from app import create_app
    from settings_check import UnsafeSettings
    from tests.helpers import production_settings

    settings = production_settings(tmp_path, SHIP_MODE="sometimes", ALERT_WECOM_WEBHOOK_URL="http://qyapi.example/x",
                                   ALERT_SMTP_HOST="smtp.qq.com", ALERT_SMTP_PASSWORD_FILE=str(tmp_path / "none"))
    with pytest.raises(UnsafeSettings) as refused:
        create_app(settings)
    problems = "\n".join(refused.value.problems)
    for name in ("SHIP_MODE", "ALERT_WECOM_WEBHOOK_URL", "ALERT_SMTP_TO", "ALERT_SMTP_PASSWORD_FILE"):
        assert name in problems
    create_app(production_settings(tmp_path, SHIP_MODE="manual"))  # and accepts good ones
