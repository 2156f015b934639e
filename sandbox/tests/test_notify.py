"""Notification delivery: envelope, acknowledgement rules, the official retry schedule, restarts."""

import json
import socket
import time
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from wechatpay_sandbox import clock, crypto
from wechatpay_sandbox.models import Delivery
from wechatpay_sandbox.notify import RETRY_SCHEDULE


def create_and_pay(client, sb, out_trade_no, total=100):
    status, body = client.pay(description="通知测试", out_trade_no=out_trade_no, amount={"total": total})
    assert status == 200, body
    return sb.pay(out_trade_no)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_notification_envelope_and_headers(sb, wxpay, receiver):
    paid = create_and_pay(wxpay, sb, "ENVELOPE01", total=2500)
    note = receiver.wait(1)[0]
    headers, body = note.headers, note.body
    assert headers["Content-Type"] == "application/json"
    assert headers["Wechatpay-Serial"] == sb.keys.public_key_id  # SANDBOX_KEY_MODE default
    assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert abs(int(headers["Wechatpay-Timestamp"]) - time.time()) < 10
    assert len(headers["Wechatpay-Nonce"]) == 32
    public_key = crypto.load_public_key(sb.keys.platform_public_key_path.read_bytes())
    message = crypto.response_message(headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"], body)
    assert crypto.verify(public_key, message, headers["Wechatpay-Signature"])

    envelope = json.loads(body)
    assert body == json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()  # compact
    assert list(envelope) == ["id", "create_time", "resource_type", "event_type", "summary", "resource"]
    assert envelope["resource_type"] == "encrypt-resource" and envelope["summary"] == "支付成功"
    resource = envelope["resource"]
    assert resource["original_type"] == "transaction" == resource["associated_data"]
    assert resource["algorithm"] == "AEAD_AES_256_GCM" and len(resource["nonce"]) == 12
    plain = json.loads(crypto.aead_decrypt(sb.keys.apiv3_key, resource["nonce"], resource["ciphertext"],
                                           resource["associated_data"]))
    assert plain["transaction_id"] == paid["transaction_id"] and plain["amount"]["total"] == 2500
    assert plain["trade_state"] == "SUCCESS" and plain["payer"]["openid"] == paid["payer"]["openid"]


@pytest.mark.parametrize("status", [200, 204])
def test_200_or_204_acknowledges(sb, wxpay, receiver, status):
    receiver.default = status
    create_and_pay(wxpay, sb, "ACK_000001")
    delivery = sb.wait_deliveries("ACK_000001")[0]
    assert delivery["status"] == "acknowledged" and delivery["acknowledged"] is True
    assert delivery["attempts"] == 1 and delivery["last_status_code"] == status
    assert len(receiver.received) == 1


@pytest.mark.parametrize("failures", [[500], [201, 404], [302]])
def test_other_answers_are_retried(sb, wxpay, receiver, failures):
    receiver.statuses = list(failures)
    create_and_pay(wxpay, sb, "RETRY_0001")
    delivery = sb.wait_deliveries("RETRY_0001")[0]
    assert delivery["status"] == "acknowledged"
    assert [entry["status_code"] for entry in delivery["log"]] == failures + [200]
    assert delivery["attempts"] == len(failures) + 1
    bodies = {note.body for note in receiver.received}
    assert len(bodies) == 1  # every retry resends the same event


def test_answer_slower_than_the_timeout_is_not_acknowledged(make_sandbox, make_client, receiver):
    running = make_sandbox(SANDBOX_NOTIFY_TIMEOUT=0.3)
    client = make_client(running)
    receiver.delay = 0.6
    create_and_pay(client, running, "SLOW_00001")
    receiver.wait(2)  # the slow first answer was a failure, so it came again
    receiver.delay = 0.0
    delivery = running.wait_deliveries("SLOW_00001")[0]
    assert delivery["status"] == "acknowledged"
    assert delivery["log"][0]["acknowledged"] is False
    assert delivery["log"][0]["error"] in ("timeout", "answered after the timeout")


def test_unreachable_notify_url_is_retried(sb, wxpay):
    client = wxpay
    status, _ = client.pay(description="x", out_trade_no="DOWN_00001", amount={"total": 1},
                           notify_url=f"http://127.0.0.1:{free_port()}/notify")
    assert status == 200
    sb.pay("DOWN_00001")
    delivery = sb.wait_deliveries("DOWN_00001", until=lambda d: d["attempts"] >= 3)[0]
    assert delivery["status"] == "pending" and delivery["last_status_code"] is None
    assert "ConnectionError" in delivery["last_error"]


def test_official_retry_schedule_then_give_up(sandbox_app, v3):
    """15 retries after the first attempt at 15s, 15s, 30s, 3m, ... 6h (time scale 1), then failed."""
    control = sandbox_app.test_client()
    start = datetime.now(timezone.utc).replace(microsecond=0)
    with freeze_time(start) as frozen:
        assert v3.native(out_trade_no="SCHEDULE01",
                         notify_url=f"http://127.0.0.1:{free_port()}/notify").status_code == 200
        assert control.post("/sandbox/api/orders/SCHEDULE01/pay").status_code == 200
        for attempt in range(1, len(RETRY_SCHEDULE) + 2):
            assert control.post("/sandbox/api/deliveries/run").json["ran"], attempt
            delivery = control.get("/sandbox/api/deliveries").json["deliveries"][0]
            assert delivery["attempts"] == attempt
            if attempt <= len(RETRY_SCHEDULE):
                delay = RETRY_SCHEDULE[attempt - 1]
                assert delivery["status"] == "pending"
                assert clock.parse_rfc3339(delivery["next_attempt_at"]) == \
                    clock.now().replace(microsecond=0) + timedelta(seconds=delay)
                frozen.tick(timedelta(seconds=delay - 1))
                assert control.post("/sandbox/api/deliveries/run").json["ran"] == []  # not yet due
                frozen.tick(timedelta(seconds=1))
        assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None
        assert clock.now() - start == timedelta(hours=24, minutes=4)


def test_time_scale_divides_the_retry_delays(make_app, make_v3):
    app = make_app(SANDBOX_TIME_SCALE=60)
    control = app.test_client()
    start = datetime.now(timezone.utc).replace(microsecond=0)
    with freeze_time(start):
        assert make_v3(app).native(out_trade_no="SCALE_0001",
                                   notify_url=f"http://127.0.0.1:{free_port()}/notify").status_code == 200
        control.post("/sandbox/api/orders/SCALE_0001/pay")
        control.post("/sandbox/api/deliveries/run")
        delivery = control.get("/sandbox/api/deliveries").json["deliveries"][0]
    assert delivery["attempts"] == 1
    runtime = app.extensions["sandbox"]
    with runtime.db.read() as session:
        row = session.get(Delivery, delivery["id"])
        assert row.next_attempt_at == start + timedelta(seconds=0.25)  # 15 s / 60


def test_deliveries_survive_a_restart(make_sandbox, make_client, receiver):
    first = make_sandbox(SANDBOX_DELIVERY_WORKER=False)
    create_and_pay(make_client(first), first, "RESTART_01")
    pending = first.deliveries("RESTART_01")
    assert pending[0]["status"] == "pending" and pending[0]["attempts"] == 0
    first.stop()
    assert receiver.received == []

    second = make_sandbox()  # same directory, same database, worker on
    delivery = second.wait_deliveries("RESTART_01")[0]
    assert delivery["status"] == "acknowledged" and delivery["id"] == pending[0]["id"]
    assert json.loads(receiver.received[0].body)["id"] == pending[0]["id"]


def test_retry_due_during_downtime_is_sent_after_restart(make_sandbox, make_client, receiver):
    first = make_sandbox(SANDBOX_DELIVERY_WORKER=False)
    create_and_pay(make_client(first), first, "RESTART_02")
    receiver.statuses = [503]
    first.run_deliveries()
    assert first.deliveries("RESTART_02")[0]["last_status_code"] == 503
    first.stop()
    second = make_sandbox()
    delivery = second.wait_deliveries("RESTART_02")[0]
    assert delivery["status"] == "acknowledged" and delivery["attempts"] == 2


def test_two_sandboxes_on_one_database_send_each_event_once(make_sandbox, make_client, receiver):
    """Delivery claims are leases in the database, so even two processes never double-send."""
    one = make_sandbox(SANDBOX_DELIVERY_WORKER=False)
    two, three = make_sandbox(), make_sandbox()
    client = make_client(one)
    for i in range(6):
        create_and_pay(client, one, f"TWICE_{i:04d}")
    found = two.wait_deliveries(count=6, until=lambda d: d["status"] == "acknowledged")
    time.sleep(0.2)
    ids = [json.loads(note.body)["id"] for note in receiver.received]
    assert len(ids) == 6 == len(set(ids)) == len(found)
    assert three.url != two.url


def test_deliveries_can_be_listed_by_status(sb, wxpay, receiver):
    sb.fault(target="notify", mode="drop")
    for no in ("STATUS_001", "STATUS_002"):
        assert wxpay.pay(description="状态", out_trade_no=no, amount={"total": 100})[0] == 200
        sb.pay(no)
    sb.wait_deliveries("STATUS_002")
    assert [d["out_trade_no"] for d in sb.deliveries(status="dropped")] == ["STATUS_001"]
    assert [d["out_trade_no"] for d in sb.deliveries(status="acknowledged")] == ["STATUS_002"]
    assert sb.deliveries(status="pending") == []
