"""The owner's order list (filters, search, totals, pagination, CSV) and order detail page."""
import csv
import io
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from core.vocabulary import RefundStatus
from extensions import db
from models import Order, OrderItem, PaymentAttempt, Refund
from services.payment import record_event

ROW_RE = re.compile(r'<tr class="order-row[^"]*" data-out-trade-no="([^"]+)">')


def listed(response) -> list[str]:
    """out_trade_nos of the order rows on a list page, in page order."""
    return ROW_RE.findall(response.get_data(as_text=True))


def total(response, name) -> str:
    match = re.search(rf'<dd data-total="{name}">([^<]*)</dd>', response.get_data(as_text=True))
    assert match, f"no total {name}"
    return match.group(1)


@pytest.fixture
def add_order(app, make_product):
    """Factory: an order row in any state, created at a given naive-UTC time -> out_trade_no."""
    product_id = make_product(name="青花瓷杯", price_fen=1000, stock=100)
    counter = iter(range(1, 10_000))

    def add(created_at, status="pending", total_fen=1000, name="张三", mobile="13800138000", refunded_fen=0,
            attention=None, out_trade_no=None, address="上海市黄浦区南京东路 1 号", note="", refunds=()):
        n = next(counter)
        with app.app_context():
            order = Order(
                out_trade_no=out_trade_no or f"T{created_at:%Y%m%d%H%M%S}{n:04d}", total_fen=total_fen,
                status=status, contact_name=name, mobile=mobile, address=address, note=note,
                created_at=created_at, expires_at=created_at + timedelta(minutes=30),
                paid_at=created_at + timedelta(minutes=1) if status in ("paid", "shipped") else None,
                shipped_at=created_at + timedelta(hours=5) if status == "shipped" else None,
                closed_at=created_at + timedelta(minutes=30) if status == "closed" else None,
                refunded_fen=refunded_fen, attention=attention,
                items=[OrderItem(product_id=product_id, product_name="青花瓷杯", unit_price_fen=total_fen, quantity=1)],
            )
            db.session.add(order)
            db.session.flush()
            for amount, state in refunds:
                db.session.add(Refund(order_id=order.id, out_refund_no=f"R{order.out_trade_no}{amount}",
                                      amount_fen=amount, status=state, created_at=created_at + timedelta(hours=1)))
            db.session.commit()
            return order.out_trade_no

    return add


BASE = datetime(2026, 3, 1, 4, 0)  # 2026-03-01 12:00 Beijing time


@pytest.fixture
def shop_orders(add_order):
    """Five orders over four days, oldest first."""
    return [
        add_order(BASE, "paid", 2599, name="王小明", mobile="13911112222"),
        add_order(BASE + timedelta(days=1), "shipped", 10000, name="李雷", mobile="13700001111"),
        add_order(BASE + timedelta(days=1, hours=1), "closed", 500, name="韩梅梅", mobile="13600003333"),
        add_order(BASE + timedelta(days=2), "pending", 1200, name="张三", mobile="13800138000"),
        add_order(BASE + timedelta(days=3), "paid", 3000, name="王五", mobile="13512345678", refunded_fen=1000,
                  refunds=[(1000, RefundStatus.SUCCESS)]),
    ]


def test_orders_are_listed_newest_first(owner_client, shop_orders):
    response = owner_client.get("/admin/orders")
    assert response.status_code == 200
    assert listed(response) == list(reversed(shop_orders))


@pytest.mark.parametrize(("status", "expected"), [
    ("paid", [4, 0]), ("shipped", [1]), ("closed", [2]), ("pending", [3]), ("refunded", [4]), ("", [4, 3, 2, 1, 0]),
])
def test_the_list_filters_by_status(owner_client, shop_orders, status, expected):
    response = owner_client.get("/admin/orders", query_string={"status": status})
    assert listed(response) == [shop_orders[i] for i in expected]


def test_the_date_range_is_in_beijing_time_and_includes_both_days(owner_client, add_order):
    last_of_march_1 = add_order(datetime(2026, 3, 1, 15, 59, 59))  # 23:59:59 on 1 March in Beijing
    first_of_march_2 = add_order(datetime(2026, 3, 1, 16, 0, 0))  # 00:00 on 2 March in Beijing
    end_of_march_3 = add_order(datetime(2026, 3, 3, 15, 59))  # 23:59 on 3 March
    add_order(datetime(2026, 3, 3, 16, 0))  # 4 March

    response = owner_client.get("/admin/orders", query_string={"date_from": "2026-03-02", "date_to": "2026-03-03"})
    assert listed(response) == [end_of_march_3, first_of_march_2]

    response = owner_client.get("/admin/orders", query_string={"date_to": "2026-03-01"})
    assert listed(response) == [last_of_march_1]


@pytest.mark.parametrize(("q", "expected"), [
    ("王", [4, 0]),            # name
    ("13700001111", [1]),     # mobile
    ("00011", [1]),           # part of a mobile
    ("%", []),                # LIKE wildcards are literal
    ("_", []),
    ("nothing-like-this", []),
])
def test_search_by_name_and_mobile(owner_client, shop_orders, q, expected):
    response = owner_client.get("/admin/orders", query_string={"q": q})
    assert listed(response) == [shop_orders[i] for i in expected]


def test_search_by_out_trade_no_ignores_case_and_surrounding_spaces(owner_client, shop_orders):
    wanted = shop_orders[2]
    for q in (wanted, f"  {wanted.lower()} ", wanted[-8:]):
        assert listed(owner_client.get("/admin/orders", query_string={"q": q})) == [wanted]


def test_a_whole_payment_number_finds_its_order_alone(app, owner_client, shop_orders, add_order):
    """What an owner pastes from a WeChat Pay bill: a second attempt's number ("…-2") or a transaction id;
    another order whose mobile or name happens to hold the same digits is not listed."""
    wanted = shop_orders[1]
    transaction_id = "4200000000202603012345678901"
    add_order(BASE, name="四二00", mobile="14200000000")  # holds "4200…" digits, but not the whole number
    with app.app_context():
        order = db.session.scalar(select(Order).filter_by(out_trade_no=wanted))
        db.session.add(PaymentAttempt(order_id=order.id, out_trade_no=f"{wanted}-2", channel="jsapi",
                                      transaction_id=transaction_id))
        db.session.commit()
    for q in (f"{wanted}-2", f"{wanted.lower()}-2", transaction_id, f" {transaction_id} "):
        assert listed(owner_client.get("/admin/orders", query_string={"q": q})) == [wanted], q
    response = owner_client.get("/admin/orders", query_string={"q": "142000"})  # not whole: part of a mobile
    assert len(listed(response)) == 1 and listed(response) != [wanted]


def test_search_in_latin_names_goes_by_whole_words_in_any_case_and_order(owner_client, add_order):
    wanted = add_order(BASE, name="Tom Lee")
    add_order(BASE, name="王芳")
    for q in ("tom", "LEE", "tom lee", "lee tom", "Ｔｏｍ"):  # full-width letters, as Chinese keyboards type them
        assert listed(owner_client.get("/admin/orders", query_string={"q": q})) == [wanted], q
    assert listed(owner_client.get("/admin/orders", query_string={"q": "to"})) == []


def test_search_by_name_finds_any_part_of_a_chinese_name(owner_client, add_order):
    wanted = add_order(BASE, name="欧阳娜娜")
    add_order(BASE, name="欧阳修")
    for q in ("阳娜", "娜", "欧阳娜娜", "阳娜娜"):
        assert listed(owner_client.get("/admin/orders", query_string={"q": q})) == [wanted], q
    assert listed(owner_client.get("/admin/orders", query_string={"q": "娜阳"})) == []  # its characters, not together


def test_filters_combine(owner_client, shop_orders):
    response = owner_client.get("/admin/orders", query_string={"status": "paid", "q": "王", "date_from": "2026-03-02"})
    assert listed(response) == [shop_orders[4]]


def test_totals_cover_the_whole_filtered_list(owner_client, shop_orders):
    response = owner_client.get("/admin/orders")
    assert total(response, "count") == "5"
    assert total(response, "paid_count") == "3"  # paid and shipped; pending and closed are not money
    assert total(response, "paid") == "¥155.99"
    assert total(response, "refunded") == "¥10.00"
    assert total(response, "net") == "¥145.99"

    response = owner_client.get("/admin/orders", query_string={"q": "王"})
    assert (total(response, "count"), total(response, "paid")) == ("2", "¥55.99")


@pytest.mark.parametrize(("query", "count", "paid"), [
    ({}, "5", "¥155.99"),                              # the totals the database keeps per day
    ({"status": "paid"}, "2", "¥55.99"),
    ({"status": "refunded"}, "1", "¥30.00"),           # summed beside the page's rows
    ({"q": "王"}, "2", "¥55.99"),
])
def test_a_page_past_the_end_lists_nothing_and_still_shows_the_totals(owner_client, shop_orders, query, count,
                                                                       paid):
    for page in (1, 3):
        response = owner_client.get("/admin/orders", query_string={**query, "page": page})
        assert response.status_code == 200
        assert bool(listed(response)) == (page == 1)
        assert (total(response, "count"), total(response, "paid")) == (count, paid)


def test_totals_and_pages_span_more_than_one_page(owner_client, add_order):
    created = [add_order(BASE + timedelta(minutes=i), "paid", 100 + i) for i in range(23)]
    newest_first = list(reversed(created))

    first = owner_client.get("/admin/orders", query_string={"status": "paid"})
    second = owner_client.get("/admin/orders", query_string={"status": "paid", "page": 2})

    assert listed(first) == newest_first[:20]
    assert listed(second) == newest_first[20:]
    assert total(second, "count") == "23"
    assert total(second, "paid") == f"¥{sum(100 + i for i in range(23)) / 100:.2f}"
    assert 'href="/admin/orders?page=2&amp;status=paid"' in first.get_data(as_text=True)
    assert listed(owner_client.get("/admin/orders", query_string={"page": 99})) == []


def test_a_surnames_orders_are_paged_newest_first_as_the_whole_list_is(owner_client, add_order):
    """A one-term name search reads its page from the term's own index: the same order as the list's."""
    created = [add_order(BASE + timedelta(minutes=i // 2), "paid", 100 + i, name=f"王{'一二三四五'[i % 5]}")
               for i in range(23)]  # two orders a minute: ties on the time go by the newest id
    add_order(BASE + timedelta(minutes=5), "paid", 9999, name="李四")
    newest_first = [out_trade_no for _, out_trade_no in sorted(enumerate(created), reverse=True)]

    first = owner_client.get("/admin/orders", query_string={"q": "王"})
    second = owner_client.get("/admin/orders", query_string={"q": "王", "page": 2})
    paid_early = owner_client.get("/admin/orders", query_string={
        "q": "王", "status": "paid", "date_to": "2026-03-01"})

    assert listed(first) == newest_first[:20] and listed(second) == newest_first[20:]
    assert (total(second, "count"), total(second, "paid")) == ("23", f"¥{sum(100 + i for i in range(23)) / 100:.2f}")
    assert listed(paid_early) == newest_first[:20]


def test_orders_flagged_for_attention_carry_a_badge_and_can_be_filtered(owner_client, add_order):
    plain = add_order(BASE)
    flagged = add_order(BASE + timedelta(hours=1), "paid", attention="关闭后收到付款，库存不足：青花瓷杯×1")

    response = owner_client.get("/admin/orders")
    page = response.get_data(as_text=True)
    assert f'<tr class="order-row needs-attention" data-out-trade-no="{flagged}">' in page
    assert f'<tr class="order-row" data-out-trade-no="{plain}">' in page
    assert page.count(">需处理</span>") == 1
    assert listed(owner_client.get("/admin/orders", query_string={"status": "attention"})) == [flagged]


@pytest.mark.parametrize(("args", "message"), [
    ({"status": "lost"}, "不是有效的选择"),
    ({"date_from": "2026-02-30"}, "不是有效的日期值"),
    ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "结束日期不能早于开始日期"),
    ({"q": "x" * 65}, "最多 64 个字符"),
])
def test_bad_filters_get_a_clear_answer(owner_client, shop_orders, args, message):
    response = owner_client.get("/admin/orders", query_string=args)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert listed(response) == []

    export = owner_client.get("/admin/orders/export.csv", query_string=args)
    assert export.status_code == 400
    assert message in export.get_data(as_text=True)


def read_csv(response):
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_csv_export_holds_the_filtered_list(owner_client, shop_orders):
    response = owner_client.get("/admin/orders/export.csv", query_string={"q": "王"})

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="orders-')
    rows = read_csv(response)
    header, *lines = rows
    assert header[:8] == ["订单号", "下单时间", "状态", "订单金额(元)", "已退款(元)", "收货人", "手机号", "收货地址"]
    assert [line[0] for line in lines] == [shop_orders[4], shop_orders[0]]
    newest = dict(zip(header, lines[0]))
    assert newest["下单时间"] == "2026-03-04 12:00:00"
    assert newest["状态"] == "已支付（部分退款）"
    assert (newest["订单金额(元)"], newest["已退款(元)"]) == ("30.00", "10.00")
    assert (newest["收货人"], newest["手机号"]) == ("王五", "13512345678")
    assert newest["商品"] == "青花瓷杯×1"
    assert newest["支付时间"] == "2026-03-04 12:01:00"
    oldest = dict(zip(header, lines[1]))
    assert (oldest["订单金额(元)"], oldest["已退款(元)"], oldest["发货时间"]) == ("25.99", "0.00", "")


def test_csv_export_of_every_order_is_not_paginated(owner_client, add_order):
    for i in range(25):
        add_order(BASE + timedelta(minutes=i))
    assert len(read_csv(owner_client.get("/admin/orders/export.csv"))) == 26


def test_csv_cells_that_excel_would_run_as_formulas_are_neutralised(owner_client, add_order):
    add_order(BASE, name="=HYPERLINK(\"x\")", address="+1 号楼", note="@SUM(1)")
    header, line = read_csv(owner_client.get("/admin/orders/export.csv"))
    row = dict(zip(header, line))
    assert row["收货人"] == "'=HYPERLINK(\"x\")"
    assert row["收货地址"] == "'+1 号楼"
    assert row["备注"] == "'@SUM(1)"


# -- the order detail page ------------------------------------------------------------------------------

def test_the_order_page_shows_items_contact_amounts_times_refunds_and_timeline(app, owner_client, add_order):
    out_trade_no = add_order(BASE, "shipped", 2599, name="王小明", mobile="13911112222", note="放门口",
                             refunded_fen=599, refunds=[(599, RefundStatus.SUCCESS), (1000, RefundStatus.PROCESSING)])
    with app.app_context():
        order = db.session.scalar(select(Order).filter_by(out_trade_no=out_trade_no))
        record_event(order.id, "create", BASE, outcome="code_url")
        record_event(order.id, "notification", BASE + timedelta(minutes=1), notification_id="EV-PAID",
                     event_type="TRANSACTION.SUCCESS", state="SUCCESS", outcome="paid",
                     detail={"transaction_id": "4200001234", "total_fen": 2599,
                             "success_time": "2026-03-01T04:01:00"})
        record_event(order.id, "refund", BASE + timedelta(hours=1), state="PROCESSING", outcome="processing",
                     detail={"out_refund_no": "R1", "refund_fen": 599})
        db.session.commit()
        order_id = order.id

    response = owner_client.get(f"/admin/orders/{order_id}")

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for text in (out_trade_no, "青花瓷杯", "¥25.99", "王小明", "13911112222", "上海市黄浦区南京东路 1 号", "放门口",
                 "2026-03-01 12:00:00", "2026-03-01 12:01:00", "2026-03-01 17:00:00",  # created, paid, shipped
                 "已发货", "部分退款", "¥5.99", "退款成功", "退款中"):
        assert text in page, text
    assert "可退金额 <strong data-refundable>¥10.00</strong>" in page  # 25.99 - 5.99 - 10.00 in progress
    timeline = page[page.index('class="timeline"'):]
    assert [kind for kind in re.findall(r'data-kind="(\w+)"', timeline)] == ["create", "notification", "refund"]
    assert "微信支付通知：支付成功" in timeline and "订单已支付" in timeline
    assert "4200001234" in timeline and "2026-03-01 12:01:00" in timeline
    assert "申请退款" in timeline and "¥5.99" in timeline


def test_the_order_page_offers_only_the_actions_that_fit(app, owner_client, add_order):
    def order_id(out_trade_no):
        with app.app_context():
            return db.session.scalar(select(Order.id).filter_by(out_trade_no=out_trade_no))

    pending = owner_client.get(f"/admin/orders/{order_id(add_order(BASE))}").get_data(as_text=True)
    paid = owner_client.get(f"/admin/orders/{order_id(add_order(BASE, 'paid'))}").get_data(as_text=True)
    fully_refunded = add_order(BASE, "paid", 1000, refunded_fen=1000, refunds=[(1000, "SUCCESS")])
    refunded = owner_client.get(f"/admin/orders/{order_id(fully_refunded)}").get_data(as_text=True)

    assert "关闭订单" in pending and "标记为已发货" not in pending and 'name="amount"' not in pending
    assert "关闭订单" not in paid and "标记为已发货" in paid and 'name="amount"' in paid
    assert 'name="amount"' not in refunded and "已退款" in refunded
    for page in (pending, paid, refunded):
        assert "向微信支付查询" in page


def test_an_unknown_order_is_404(owner_client):
    assert owner_client.get("/admin/orders/999999").status_code == 404


def test_csv_keeps_every_digit_of_long_numbers_and_has_the_shipping_fee(app, owner_client, add_order):
    """A 28-digit 微信支付单号 (or an all-digit order number) is written ="…", which spreadsheets read as text."""
    out_trade_no = add_order(BASE, "paid", 2599, out_trade_no="202603011200001234567890")
    with app.app_context():
        order = db.session.scalar(select(Order).filter_by(out_trade_no=out_trade_no))
        order.transaction_id, order.shipping_fen = "4200002026030112345678901234", 800
        db.session.commit()

    header, line = read_csv(owner_client.get("/admin/orders/export.csv"))

    row = dict(zip(header, line))
    assert row["订单号"] == '="202603011200001234567890"'
    assert row["微信支付单号"] == '="4200002026030112345678901234"'
    assert row["手机号"] == "13800138000"  # 11 digits: spreadsheets show them whole
    assert (row["订单金额(元)"], row["运费(元)"]) == ("25.99", "8.00")
