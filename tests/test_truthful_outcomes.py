"""Every button tells the truth: each outcome of a close, a ship or a checkout maps to a message that
matches the order's real final state, also when a payment, a refund or a second click races it."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from blueprints.pay.routes import CANCEL_MESSAGES
from core.clock import utcnow
from core.vocabulary import EventKind, OrderStatus, Outcome
from extensions import db
from jobs.ship import ship_orders
from models import Order, Product, Refund
from payments import PaymentError
from services.payment import close_order
from tests.helpers import (
    add_to_cart,
    checkout_form,
    csrf_token_from,
    events,
    flashes,
    status_of,
    wait_for,
)

pytestmark = [pytest.mark.wechatpay, pytest.mark.usefixtures("live_shop")]


def pay_before_the_query(app, wechat, gateway, order):
    """Replay the race: the customer pays and the notification is applied just before the close's query."""
    def pay_first(out_trade_no):
        if out_trade_no == order.out_trade_no and status_of(app, order) == OrderStatus.PENDING:
            wechat.pay(out_trade_no)
            wait_for(lambda: status_of(app, order) == OrderStatus.PAID)

    gateway.before["query"] = pay_first


def post_from_page(client, page_url, action_url, follow=True):
    token = csrf_token_from(client.get(page_url).get_data(as_text=True))
    return client.post(action_url, data={"csrf_token": token, "confirm": "1"}, follow_redirects=follow)


# -- 1. the customer's cancel ---------------------------------------------------------------------------

def test_a_cancel_that_loses_the_race_to_the_payment_says_paid_not_cancelled(
        app, client, wechat, gateway, placed):
    order = placed()
    pay_before_the_query(app, wechat, gateway, order)

    response = post_from_page(client, f"/pay/{order.token}", f"/pay/{order.token}/cancel")

    page = response.get_data(as_text=True)
    assert "该订单已支付成功，无法取消。" in flashes(page)
    assert "订单已取消。" not in page
    assert status_of(app, order) == OrderStatus.PAID
    assert events(app, order, EventKind.CUSTOMER_CANCEL) == [("customer_cancel", "SUCCESS", "already_paid")]


def test_a_double_clicked_cancel_says_cancelled_both_times(app, client, wechat, placed):
    order = placed()
    token = csrf_token_from(client.get(f"/pay/{order.token}").get_data(as_text=True))
    answers = []

    def click():
        with app.test_client() as browser_tab:
            with browser_tab.session_transaction() as session:
                session.update(client_session(client))
            answers.append(browser_tab.post(f"/pay/{order.token}/cancel", data={"csrf_token": token, "confirm": "1"},
                                            follow_redirects=True).get_data(as_text=True))

    clicks = [threading.Thread(target=click) for _ in range(2)]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join(timeout=30)
    again = client.post(f"/pay/{order.token}/cancel", data={"csrf_token": token, "confirm": "1"}, follow_redirects=True)

    assert [flashes(page) for page in answers] == [["订单已取消。"], ["订单已取消。"]]
    assert flashes(again.get_data(as_text=True)) == ["订单已取消。"]
    assert status_of(app, order) == OrderStatus.CLOSED
    with app.app_context():
        assert db.session.get(Product, order.product_id).stock == 10  # returned once


def client_session(client):
    with client.session_transaction() as session:
        return dict(session)


def test_a_cancel_while_wechat_pay_still_says_notpay_says_try_again_later(app, client, wechat, gateway, placed):
    order = placed()

    def refuse(out_trade_no):
        raise PaymentError("INVALID_REQUEST", "订单状态不允许关闭", 400)  # answered, not retryable

    gateway.before["close"] = refuse

    response = post_from_page(client, f"/pay/{order.token}", f"/pay/{order.token}/cancel")

    assert flashes(response.get_data(as_text=True)) == ["暂时无法取消，请稍后再试。"]
    assert status_of(app, order) == OrderStatus.PENDING
    assert events(app, order, EventKind.CUSTOMER_CANCEL) == [("customer_cancel", "NOTPAY", "unchanged")]


def test_every_outcome_of_close_order_has_a_customer_message():
    assert set(CANCEL_MESSAGES) == {Outcome.PAID, Outcome.ALREADY_PAID, Outcome.CLOSED, Outcome.ALREADY_CLOSED,
                                    Outcome.UNCHANGED}


def test_close_order_reports_already_paid_when_a_payment_was_applied_first(app, wechat, gateway, placed):
    order = placed()
    pay_before_the_query(app, wechat, gateway, order)
    with app.app_context():
        assert close_order(db.session.get(Order, order.id), utcnow()) == Outcome.ALREADY_PAID


# -- 2. the owner's 关闭订单 ------------------------------------------------------------------------------

def test_the_owners_close_that_loses_the_race_says_paid_not_closed(app, owner_client, wechat, gateway, placed):
    order = placed()
    pay_before_the_query(app, wechat, gateway, order)

    response = post_from_page(owner_client, f"/admin/orders/{order.id}", f"/admin/orders/{order.id}/close")

    assert flashes(response.get_data(as_text=True)) == ["顾客已付款，订单是已支付状态，不能关闭。"]
    assert status_of(app, order) == OrderStatus.PAID


# -- 3. one rule for shipping -----------------------------------------------------------------------------

def refund_in_flight(app, order, amount_fen, status="PROCESSING"):
    """A refund the shop has asked WeChat Pay for and not yet heard back about."""
    with app.app_context():
        db.session.add(Refund(order_id=order.id, out_refund_no=f"R{order.out_trade_no}{amount_fen}",
                              amount_fen=amount_fen, status=status))
        db.session.commit()


def flag(app, order, reason="关闭后收到付款，库存不足：订单商品×1"):
    with app.app_context():
        db.session.get(Order, order.id).attention = reason
        db.session.commit()


def run_ship_job(app):
    with app.app_context():
        return ship_orders(utcnow() + timedelta(days=1))


@pytest.mark.parametrize("case, ships", [
    ("nothing", True), ("partial_refund_processing", True), ("full_refund_processing", False),
    ("full_refund_done", False), ("full_refund_closed", True), ("attention", False),
])
def test_the_ship_job_and_the_owners_button_follow_one_rule(app, owner_client, paid, case, ships):
    def prepare(order):
        if case == "partial_refund_processing":
            refund_in_flight(app, order, 400)
        elif case == "full_refund_processing":
            refund_in_flight(app, order, 1000)
        elif case == "full_refund_done":
            refund_in_flight(app, order, 1000, status="SUCCESS")
        elif case == "full_refund_closed":
            refund_in_flight(app, order, 1000, status="CLOSED")  # failed: nothing went back
        elif case == "attention":
            flag(app, order)
        return order

    by_job = prepare(paid(price_fen=1000))
    run_ship_job(app)
    by_owner = prepare(paid(price_fen=1000))
    response = post_from_page(owner_client, f"/admin/orders/{by_owner.id}", f"/admin/orders/{by_owner.id}/ship")

    expected = OrderStatus.SHIPPED if ships else OrderStatus.PAID
    assert status_of(app, by_job) == expected
    assert status_of(app, by_owner) == expected
    messages = flashes(response.get_data(as_text=True))
    if ships:
        assert messages == ["订单已标记为已发货。"]
    elif case == "attention":
        assert messages == ["订单有需处理的问题（见页面顶部），处理后才能发货。"]
    else:
        assert messages == ["订单已全额退款（或全额退款处理中），不能发货。"]


# -- 4. 提交订单 twice --------------------------------------------------------------------------------------

def count_orders(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Order.id)))


def test_submitting_the_checkout_form_twice_makes_one_order(app, client, make_product):
    product_id = make_product(stock=5)
    add_to_cart(client, product_id, 2)
    form = checkout_form(client)

    first = client.post("/checkout", data=form)
    second = client.post("/checkout", data=form)  # the double click, with the cart already emptied

    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count_orders(app) == 1
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 3


def test_the_same_checkout_form_sent_twice_at_once_makes_one_order(app, client, make_product):
    product_id = make_product(stock=5)
    add_to_cart(client, product_id, 2)
    form = checkout_form(client)
    session = client_session(client)
    locations = []

    def submit():
        with app.test_client() as tab:
            with tab.session_transaction() as tab_session:
                tab_session.update(session)
            response = tab.post("/checkout", data=form)
            locations.append((response.status_code, response.headers.get("Location")))

    barrier_threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in barrier_threads:
        thread.start()
    for thread in barrier_threads:
        thread.join(timeout=30)

    assert [status for status, _ in locations] == [303, 303]
    assert locations[0][1] == locations[1][1]
    assert count_orders(app) == 1
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 3


def test_the_last_unit_bought_by_a_double_click_lands_both_clicks_on_the_order(app, client, make_product):
    product_id = make_product(stock=1)
    add_to_cart(client, product_id, 1)
    form = checkout_form(client)
    session = client_session(client)

    first = client.post("/checkout", data=form)
    with app.test_client() as tab:  # the second click still carries the cart in its cookie
        with tab.session_transaction() as tab_session:
            tab_session.update(session)
        second = tab.post("/checkout", data=form)

    assert second.status_code == 303 and second.headers["Location"] == first.headers["Location"]
    assert count_orders(app) == 1


def test_a_tampered_submission_token_is_a_clear_400(app, client, make_product):
    add_to_cart(client, make_product(stock=5))
    form = {**checkout_form(client), "submission_token": "<script>"}

    response = client.post("/checkout", data=form)

    assert response.status_code == 400
    assert "页面已过期，请刷新后重新提交。" in response.get_data(as_text=True)
    assert count_orders(app) == 0
