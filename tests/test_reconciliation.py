"""Daily reconciliation against WeChat Pay's trade bill, with a sandbox of this module's own (its bills
hold only this module's trades): a clean day, a missed payment applied once after a confirming query, a
missed refund recorded, an amount mismatch flagged (and the owner alerted once), a bill not ready retried
later, a corrupted download refused, the same day run twice, and the owner's pages."""
import json
from datetime import datetime, time, timedelta, timezone

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select
from wechatpay_sandbox.testing import start_sandbox

from core.clock import CHINA_TZ, to_china_time, utcnow
from extensions import db
from jobs.bills import reconcile_bills
from models import BillRun, Order, Outbox, PaymentEvent, Refund
from payments import get_gateway
from services.alerts import compose
from services.reconciliation import reconcile_day
from services.trade_bill import parse_trade_bill
from tests.helpers import csrf_token_from, flashes, order_row, status_of, wait_for


@pytest.fixture
def wechat(tmp_path):
    """A sandbox of this test's own, so that its bills hold only this test's trades; today's bill at once."""
    running = start_sandbox(tmp_path / "billing", SANDBOX_BILL_READY_HOURS=0)
    yield running
    running.stop()


@pytest.fixture
def app_config(app_config, wechat):
    return {**app_config, "SANDBOX_KEY_DIR": str(wechat.keys.directory), "WECHATPAY_URL": wechat.url,
            "SANDBOX_PUBLIC_URL": wechat.url, "WECHATPAY_TIMEOUT": (2, 3)}


pytestmark = pytest.mark.usefixtures("live_shop")


def today():
    return to_china_time(utcnow()).date()


def reconcile(app, day=None):
    """Compare the day (today, whose bill this sandbox makes at once) -> the run as plain values."""
    with app.app_context():
        run = reconcile_day(day or today(), utcnow())
        return {"status": run.status, "error": run.error, "hash": run.hash_value,
                "differences": [(d.kind, d.action, d.out_trade_no) for d in run.differences],
                "bill": (run.bill_payments, run.bill_paid_fen, run.bill_refunds, run.bill_refunded_fen),
                "shop": (run.shop_payments, run.shop_paid_fen, run.shop_refunds, run.shop_refunded_fen)}


def test_a_clean_day_matches(app, wechat, paid):
    paid(price_fen=1999)
    paid(price_fen=501)

    result = reconcile(app)

    assert (result["status"], result["differences"]) == ("matched", [])
    assert result["bill"] == result["shop"] == (2, 2500, 0, 0)
    assert len(result["hash"]) == 40


def test_a_payment_the_shop_never_heard_of_is_applied_once_after_a_confirming_query(app, wechat, placed):
    order = placed(price_fen=2500)
    wechat.pay_silently(order.out_trade_no)  # no notification, and queries still say NOTPAY

    first = reconcile(app)
    assert ("missing_payment", "flagged", order.out_trade_no) in first["differences"]
    assert status_of(app, order) == "pending"  # the bill alone is not enough: WeChat Pay must confirm

    wechat.reveal(order.out_trade_no)  # now a query confirms it
    second = reconcile(app)
    third = reconcile(app)

    assert ("missing_payment", "applied", order.out_trade_no) in second["differences"]
    assert second["differences"] == third["differences"]  # the same day again changes nothing
    assert status_of(app, order) == "paid"
    with app.app_context():
        paid_events = db.session.scalar(select(func.count()).where(
            PaymentEvent.order_id == order.id, PaymentEvent.outcome == "paid"))
    assert paid_events == 1


def test_an_amount_that_differs_is_flagged_for_the_owner(app, wechat, paid):
    order = paid(price_fen=3000)
    with app.app_context():
        db.session.get(Order, order.id).total_fen = 2900  # the shop's record disagrees with what was paid
        db.session.commit()

    app.config.update(ALERT_WECOM_WEBHOOK_URL="http://127.0.0.1:9/hook", ALERT_LINK_BASE_URL="https://shop.example")

    result = reconcile(app)
    reconcile(app)  # the same day again: the owner was already told

    assert ("amount_mismatch", "flagged", order.out_trade_no) in result["differences"]
    assert result["status"] == "differences"
    with app.app_context():
        told = db.session.scalars(select(Outbox).filter_by(kind="bill_differences")).all()
        assert len(told) == 1
        message = compose(told[0].kind, json.loads(told[0].payload), app.config["ALERT_LINK_BASE_URL"])
    assert "对账发现差异" in message.title
    assert f"收款金额与订单不符 {order.out_trade_no}" in "".join(message.lines)
    assert message.link == f"https://shop.example/admin/reconciliation/{today().isoformat()}"


def test_a_refund_made_outside_the_shop_is_recorded_on_its_order(app, wechat, paid):
    order = paid(price_fen=4000)
    with app.app_context():  # refunded on the merchant platform, not through the shop
        get_gateway().refund(order.out_trade_no, f"RMP{order.out_trade_no}"[:32], 1500, 4000, "商户平台退款")
    wait_for(lambda: wechat.order(order.out_trade_no)["refunds"][0]["status"] == "SUCCESS")

    result = reconcile(app)
    again = reconcile(app)

    assert ("missing_refund", "recorded", order.out_trade_no) in result["differences"]
    assert again["differences"] == result["differences"]
    assert order_row(app, order.id).refunded_fen == 1500
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Refund).filter_by(order_id=order.id)) == 1


def test_a_corrupted_download_is_refused_and_tried_again_later(app, wechat, paid):
    paid(price_fen=1000)
    wechat.fault(target="bill", mode="corrupt")

    result = reconcile(app)

    assert result["status"] == "failed" and "BILL_HASH_MISMATCH" in result["error"]
    assert result["hash"] is None
    with app.app_context():
        run = db.session.scalar(select(BillRun).filter_by(bill_date=today()))
        assert run.next_try_at is not None and run.bill_text is None


def test_the_job_waits_for_the_bill_and_retries_a_day_not_ready(app, wechat, paid):
    paid(price_fen=1200)
    wechat.configure(SANDBOX_BILL_READY_HOURS=48)
    tomorrow_morning = datetime.combine(today() + timedelta(days=1), time(10, 30), tzinfo=CHINA_TZ)
    at = tomorrow_morning.astimezone(timezone.utc).replace(tzinfo=None)

    def run_job(moment):
        with freeze_time(moment), app.app_context():
            return reconcile_bills(moment)

    run_job(at)
    assert bill_status(app, today()) == "not_ready"
    assert run_job(at + timedelta(minutes=10)).checked == 0  # asked again only after 30 minutes
    wechat.configure(SANDBOX_BILL_READY_HOURS=0)
    assert run_job(at + timedelta(minutes=31)).checked == 1
    assert bill_status(app, today()) in ("matched", "differences")


def bill_status(app, day):
    with app.app_context():
        return db.session.scalar(select(BillRun.status).filter_by(bill_date=day))


def test_the_bill_is_parsed_by_column_name():
    text = ("交易时间,商户订单号,微信订单号,交易状态,订单金额,商户退款单号,申请退款金额,退款状态,其他\r\n"
            "`2026-11-20 09:30:00,`A1,`4200,`SUCCESS,`19.99,`0,`0.00,`,`x\r\n"
            "`2026-11-20 11:00:00,`A1,`4200,`REFUND,`0.00,`R1,`5.00,`SUCCESS,`y\r\n"
            "总交易单数,订单总金额,申请退款总金额,手续费总金额\r\n`2,`19.99,`5.00,`0.09\r\n")
    rows, totals = parse_trade_bill(text)
    assert [(r.out_trade_no, r.trade_state, r.amount_fen, r.out_refund_no, r.refund_fen) for r in rows] == [
        ("A1", "SUCCESS", 1999, "", 0), ("A1", "REFUND", 0, "R1", 500)]
    assert (totals.count, totals.total_fen, totals.refunded_fen, totals.fee_fen) == (2, 1999, 500, 9)
    with pytest.raises(ValueError):
        parse_trade_bill(text.replace("`2,", "`3,"))


def test_the_owner_runs_a_day_again_and_downloads_its_bill(app, owner_client, wechat, paid):
    paid(price_fen=880)
    yesterday = today() - timedelta(days=1)
    page = owner_client.get("/admin/reconciliation").get_data(as_text=True)

    answer = owner_client.post("/admin/reconciliation/run", data={"csrf_token": csrf_token_from(page),
                                                                 "day": yesterday.isoformat()}, follow_redirects=True)

    assert answer.status_code == 200
    assert flashes(answer.get_data(as_text=True))  # a true message for the day's outcome
    assert owner_client.post("/admin/reconciliation/run", data={
        "csrf_token": csrf_token_from(page), "day": today().isoformat()}).status_code == 400  # not before its bill
    reconcile(app)
    day_page = owner_client.get(f"/admin/reconciliation/{today().isoformat()}").get_data(as_text=True)
    assert "微信支付账单" in day_page and "本店记录" in day_page and "下载账单" in day_page
    download = owner_client.get(f"/admin/reconciliation/{today().isoformat()}/bill.csv")
    assert download.status_code == 200 and download.get_data(as_text=True).startswith("交易时间,")
