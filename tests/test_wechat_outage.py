"""WeChat Pay unreachable under traffic (the sandbox stopped, then started again on the same port):
customers get true answers and no 5xx, nothing is lost, each order records the outage once, and a payment
made once it is back is applied at once."""
import pytest
from sqlalchemy import func, select
from wechatpay_sandbox.testing import start_sandbox

from extensions import db
from models import Order, PaymentEvent
from tests.helpers import (
    add_to_cart,
    checkout_form,
    csrf_token_from,
    flashes,
    free_port,
    open_attempt_of,
    status_of,
    wait_for,
)


@pytest.fixture
def own_sandbox(tmp_path):
    """A sandbox of this test's own, on a fixed port so it can be stopped and brought back."""
    port = free_port()
    running = start_sandbox(tmp_path / "sandbox", port=port)
    handle = {"running": running}

    def restart():
        handle["running"] = start_sandbox(tmp_path / "sandbox", port=port)
        return handle["running"]

    handle["restart"] = restart
    yield handle
    handle["running"].stop()


@pytest.fixture
def app_config(app_config, own_sandbox):
    sandbox = own_sandbox["running"]
    return {**app_config, "SANDBOX_KEY_DIR": str(sandbox.keys.directory), "WECHATPAY_URL": sandbox.url,
            # The stopped sandbox refuses connections at once; the read timeout only has to outlast a busy
            # machine placing the first order (1 s did not, once, in CI on PostgreSQL).
            "SANDBOX_PUBLIC_URL": sandbox.url, "WECHATPAY_TIMEOUT": (1, 5)}


def error_events(app, order_id):
    with app.app_context():
        return db.session.scalar(select(func.count()).where(PaymentEvent.order_id == order_id,
                                                            PaymentEvent.outcome == "error"))


def test_an_outage_of_wechat_pay_under_traffic_answers_truly_and_loses_nothing(
        app, client, live_shop, own_sandbox, placed, make_product):
    waiting = placed()
    own_sandbox["running"].stop()

    polls = [client.get(f"/pay/{waiting.token}/status") for _ in range(30)]
    product_id = make_product(stock=3)
    add_to_cart(client, product_id)
    checkout = client.post("/checkout", data=checkout_form(client))
    new_token = checkout.headers["Location"].rstrip("/").split("/")[-1]
    pay_page = client.get(f"/pay/{new_token}")
    csrf = csrf_token_from(client.get(f"/pay/{waiting.token}").get_data(as_text=True))
    cancel = client.post(f"/pay/{waiting.token}/cancel", data={"csrf_token": csrf, "confirm": "1"},
                         follow_redirects=True)

    assert {poll.status_code for poll in polls} == {200}
    assert {poll.get_json()["status"] for poll in polls} == {"pending"}
    assert checkout.status_code == 303  # the order is kept with its stock, and the customer is on its page
    assert pay_page.status_code == 200 and "重试支付" in pay_page.get_data(as_text=True)
    assert flashes(cancel.get_data(as_text=True)) == ["暂时无法取消，请稍后再试。"]
    assert status_of(app, waiting) == "pending"
    assert error_events(app, waiting.id) <= 1

    sandbox = own_sandbox["restart"]()
    sandbox.pay(waiting.out_trade_no)
    wait_for(lambda: status_of(app, waiting) == "paid", timeout=5)
    retry = client.post(f"/pay/{new_token}/retry", data={"csrf_token": csrf})
    assert retry.status_code == 302
    with app.app_context():
        order_id = db.session.scalar(select(Order.id).filter_by(token=new_token))
    assert open_attempt_of(app, order_id).prompt
