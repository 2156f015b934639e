"""Every fault-injection mode does what it says."""

import json
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
import requests
from freezegun import freeze_time

from wechatpay_sandbox import clock
from wechatpay_sandbox.testing import SandboxError


def native(client, out_trade_no, total=100):
    return client.pay(description="故障测试", out_trade_no=out_trade_no, amount={"total": total})


# -- API faults -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, status, code", [("system_error", 500, "SYSTEM_ERROR"),
                                                ("frequency_limited", 429, "FREQUENCY_LIMITED")])
def test_error_answers_for_the_next_n_calls(sb, wxpay, mode, status, code):
    sb.fault(target="api", mode=mode, count=2)
    for _ in range(2):
        got_status, body = native(wxpay, "FAULT_0001")
        assert got_status == status and json.loads(body)["code"] == code
    assert sb.order("FAULT_0001") is None  # refused calls changed nothing
    assert native(wxpay, "FAULT_0001")[0] == 200  # the third call is normal again


def test_path_prefix_limits_a_fault_to_some_calls(sb, wxpay):
    assert native(wxpay, "FAULT_0002")[0] == 200
    sb.fault(target="api", mode="system_error", path_prefix="/v3/pay/transactions/out-trade-no/")
    assert native(wxpay, "FAULT_0003")[0] == 200  # a create does not match the prefix
    assert wxpay.query(out_trade_no="FAULT_0002")[0] == 500
    assert wxpay.query(out_trade_no="FAULT_0002")[0] == 200


def test_hang_past_the_client_timeout(sb, make_client):
    client = make_client(sb)
    client._core._timeout = (2, 0.3)
    sb.fault(target="api", mode="hang", seconds=1.0)
    began = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        native(client, "HANG_00001")
    assert time.monotonic() - began < 1.0
    # The call was processed; only its answer was late: a repeat gets the same code_url back.
    order = sb.order("HANG_00001")
    assert order["trade_state"] == "NOTPAY"
    status, body = native(client, "HANG_00001")
    assert status == 200 and json.loads(body)["code_url"] == order["code_url"]


def test_stop_is_quick_while_a_call_hangs(make_sandbox, make_client):
    running = make_sandbox()
    client = make_client(running)
    client._core._timeout = (2, 30)
    running.fault(target="api", mode="hang", seconds=60)
    errors = []
    caller = threading.Thread(target=lambda: errors.append(_call_quietly(client)), daemon=True)
    caller.start()
    time.sleep(0.3)
    began = time.monotonic()
    running.stop()
    assert time.monotonic() - began < 2.0
    caller.join(timeout=5)
    assert not caller.is_alive()


def _call_quietly(client):
    try:
        return native(client, "HANG_00002")
    except requests.RequestException as exc:
        return exc


def test_tamper_breaks_the_signature(sb, wxpay):
    sb.fault(target="api", mode="tamper")
    with pytest.raises(Exception, match="failed to verify the signature"):
        native(wxpay, "TAMPER_002")
    assert sb.order("TAMPER_002")["trade_state"] == "NOTPAY"  # the call itself went through


def test_pay_on_close(sb, wxpay, receiver):
    assert native(wxpay, "PAYCLOSE01")[0] == 200
    sb.fault(target="api", mode="pay_on_close")
    assert wxpay.query(out_trade_no="PAYCLOSE01")[0] == 200  # not a close: the fault waits
    status, body = wxpay.close(out_trade_no="PAYCLOSE01")
    assert status == 400 and json.loads(body) == {"code": "ORDERPAID", "message": "订单已支付"}
    _, body = wxpay.query(out_trade_no="PAYCLOSE01")
    assert json.loads(body)["trade_state"] == "SUCCESS"
    note = wxpay.callback(receiver.wait(1)[0].headers, receiver.received[0].body)
    assert note["resource"]["out_trade_no"] == "PAYCLOSE01"


def test_pay_on_close_races_the_merchants_close_after_time_expire(sb, wxpay, receiver):
    """The merchant's expire path: query (NOTPAY past time_expire) -> close -> query. A payment the payer
    had started before time_expire lands between the query and the close: the close answers ORDERPAID."""
    start = datetime.now(timezone.utc).replace(microsecond=0)
    with freeze_time(start) as frozen:
        expire = clock.rfc3339(start + timedelta(minutes=30))
        assert wxpay.pay(description="过期", out_trade_no="PAYCLOSE02", amount={"total": 100},
                         time_expire=expire)[0] == 200
        frozen.tick(timedelta(minutes=30))
        assert json.loads(wxpay.query(out_trade_no="PAYCLOSE02")[1])["trade_state"] == "NOTPAY"
        with pytest.raises(SandboxError) as refused:
            sb.pay("PAYCLOSE02")  # the payer can no longer start a payment
        assert refused.value.body["error"] == "ORDER_EXPIRED"
        sb.fault(target="api", mode="pay_on_close")
        status, body = wxpay.close(out_trade_no="PAYCLOSE02")
        assert status == 400 and json.loads(body)["code"] == "ORDERPAID"
        paid = json.loads(wxpay.query(out_trade_no="PAYCLOSE02")[1])
        assert paid["trade_state"] == "SUCCESS" and paid["success_time"] == clock.rfc3339(start + timedelta(minutes=30))
        note = wxpay.callback(receiver.wait(1)[0].headers, receiver.received[0].body)
    assert note["resource"]["out_trade_no"] == "PAYCLOSE02"


def test_fault_api_validation_list_and_clear(sb):
    for bad in ({"target": "db", "mode": "drop"}, {"target": "api", "mode": "drop"},
                {"target": "notify", "mode": "hang"}, {"target": "api", "mode": "hang", "count": 0},
                {"target": "api", "mode": "hang", "seconds": -1},
                {"target": "notify", "mode": "delay", "path_prefix": "/v3"},
                {"target": ["api"], "mode": "hang"}, {"target": "api", "mode": {"x": 1}},
                {"target": "api", "mode": "hang", "path_prefix": ["/v3"]},
                {"target": "api", "mode": "hang", "path_prefix": "/v3/\ud83d"}, ["api"]):
        response = requests.post(sb.url + "/sandbox/api/faults", json=bad, timeout=5)
        assert response.status_code == 400, bad
    sb.fault(target="api", mode="system_error", count=3)
    sb.fault(target="notify", mode="duplicate", times=4)
    listed = requests.get(sb.url + "/sandbox/api/faults", timeout=5).json()["faults"]
    assert [(f["mode"], f["count"]) for f in listed] == [("system_error", 3), ("duplicate", 1)]
    assert listed[1]["times"] == 4
    assert sb.clear_faults() == 2
    assert requests.get(sb.url + "/sandbox/api/faults", timeout=5).json()["faults"] == []


# -- notification faults -------------------------------------------------------------------------

def paid(sb, client, out_trade_no):
    assert native(client, out_trade_no)[0] == 200
    sb.pay(out_trade_no)


def test_drop(sb, wxpay, receiver):
    sb.fault(target="notify", mode="drop", count=2)
    for no in ("DROP_00001", "DROP_00002", "DROP_00003"):
        paid(sb, wxpay, no)
    third = sb.wait_deliveries("DROP_00003")[0]
    assert third["status"] == "acknowledged"
    for no in ("DROP_00001", "DROP_00002"):
        dropped = sb.deliveries(no)[0]
        assert dropped["status"] == "dropped" and dropped["attempts"] == 0 and dropped["log"] == []
    time.sleep(0.1)
    assert [json.loads(n.body)["id"] for n in receiver.received] == [third["id"]]


def test_duplicate(sb, wxpay, receiver):
    sb.fault(target="notify", mode="duplicate", times=3)
    paid(sb, wxpay, "DUP_000001")
    delivery = sb.wait_deliveries("DUP_000001")[0]
    assert delivery["copies"] == 3 and delivery["attempts"] == 1
    assert [entry["kind"] for entry in delivery["log"]] == ["normal", "duplicate", "duplicate"]
    notes = receiver.wait(3)
    assert len({json.loads(note.body)["id"] for note in notes}) == 1
    assert all(wxpay.callback(note.headers, note.body) for note in notes)  # each copy is genuine
    assert all(a.done <= b.at for a, b in zip(notes, notes[1:]))  # one after another


def test_concurrent(sb, wxpay, receiver):
    receiver.delay = 0.3
    sb.fault(target="notify", mode="concurrent", times=3)
    paid(sb, wxpay, "CONC_00001")
    delivery = sb.wait_deliveries("CONC_00001")[0]
    assert delivery["concurrent"] is True and len(delivery["log"]) == 3
    assert len(receiver.received) == 3 and receiver.max_in_flight == 3


def test_duplicates_repeat_on_every_retry(sb, wxpay, receiver):
    receiver.statuses = [500, 500]
    sb.fault(target="notify", mode="duplicate", times=2)
    paid(sb, wxpay, "DUP_000002")
    delivery = sb.wait_deliveries("DUP_000002")[0]
    assert delivery["status"] == "acknowledged" and delivery["attempts"] == 2
    assert [(e["attempt"], e["status_code"]) for e in delivery["log"]] == [(1, 500), (1, 500), (2, 200), (2, 200)]


def test_delay(sb, wxpay, receiver):
    sb.fault(target="notify", mode="delay", seconds=1.0)
    began = time.monotonic()
    paid(sb, wxpay, "DELAY_0001")
    note = receiver.wait(1, timeout=5)[0]
    assert note.at - began >= 1.0
    began = time.monotonic()
    paid(sb, wxpay, "DELAY_0002")  # only the next one was delayed
    second = receiver.wait(2, timeout=5)[1]
    assert second.at - began < 0.9


def test_bad_signature_probe(sb, wxpay, receiver):
    receiver.statuses = [401]  # a correct merchant rejects the probe
    sb.fault(target="notify", mode="bad_signature")
    paid(sb, wxpay, "PROBE_0001")
    delivery = sb.wait_deliveries("PROBE_0001")[0]
    probe, genuine = receiver.wait(2)
    assert probe.headers["Wechatpay-Signature"].startswith("WECHATPAY/SIGNTEST/")
    assert wxpay.callback(probe.headers, probe.body) is None
    assert wxpay.callback(genuine.headers, genuine.body)["resource"]["out_trade_no"] == "PROBE_0001"
    assert [(e["kind"], e["status_code"]) for e in delivery["log"]] == [("probe", 401), ("normal", 200)]
    assert delivery["status"] == "acknowledged" and delivery["attempts"] == 1


def test_faults_are_counted_per_notification(sb, wxpay, receiver):
    sb.fault(target="notify", mode="duplicate", times=2, count=2)
    for no in ("COUNT_0001", "COUNT_0002", "COUNT_0003"):
        paid(sb, wxpay, no)
    copies = [sb.wait_deliveries(no)[0]["copies"] for no in ("COUNT_0001", "COUNT_0002", "COUNT_0003")]
    assert copies == [2, 2, 1]


# -- rates: a share of the calls or notifications, for as long as the fault stays armed -------------

def query_status(client, out_trade_no):
    return client.query(out_trade_no=out_trade_no)[0]


def test_a_rate_fault_stays_armed_and_counts_what_it_fired(sb, wxpay):
    assert native(wxpay, "RATE_00001")[0] == 200
    armed = sb.fault(target="api", mode="system_error", rate=1.0)
    assert armed["count"] is None and armed["rate"] == 1.0 and armed["fired"] == 0
    assert [query_status(wxpay, "RATE_00001") for _ in range(5)] == [500] * 5
    assert sb.armed_faults()[0]["fired"] == 5
    sb.clear_faults()
    assert query_status(wxpay, "RATE_00001") == 200


def test_a_rate_fault_with_a_count_fires_at_most_that_often(sb, wxpay):
    assert native(wxpay, "RATE_00002")[0] == 200
    sb.fault(target="api", mode="frequency_limited", rate=1.0, count=2)
    assert [query_status(wxpay, "RATE_00002") for _ in range(4)] == [429, 429, 200, 200]
    assert sb.armed_faults() == []


def test_a_rate_fires_for_about_that_share_of_the_calls(sb, wxpay):
    assert native(wxpay, "RATE_00003")[0] == 200
    sb.fault(target="api", mode="system_error", rate=0.5)
    statuses = [query_status(wxpay, "RATE_00003") for _ in range(100)]
    assert set(statuses) == {200, 500}
    assert 25 <= statuses.count(500) <= 75  # 50 expected; outside this: about 1 run in 10 million
    assert sb.armed_faults()[0]["fired"] == statuses.count(500)


def test_api_rate_faults_share_one_draw(sb, wxpay):
    """5 % of 500s and 5 % of 429s make 10 % failed calls, never two faults on one call: with rates that add
    up to 1 every call fails exactly once, one way or the other."""
    assert native(wxpay, "RATE_00004")[0] == 200
    sb.fault(target="api", mode="system_error", rate=0.5)
    sb.fault(target="api", mode="frequency_limited", rate=0.5)
    statuses = [query_status(wxpay, "RATE_00004") for _ in range(40)]
    assert set(statuses) == {500, 429}
    fired = {fault["mode"]: fault["fired"] for fault in sb.armed_faults()}
    assert fired == {"system_error": statuses.count(500), "frequency_limited": statuses.count(429)}


def test_counted_faults_come_before_rate_faults(sb, wxpay):
    assert native(wxpay, "RATE_00005")[0] == 200
    sb.fault(target="api", mode="frequency_limited", rate=1.0)
    sb.fault(target="api", mode="system_error", count=1)
    assert [query_status(wxpay, "RATE_00005") for _ in range(3)] == [500, 429, 429]


def test_a_rate_fault_keeps_its_path_prefix(sb, wxpay):
    sb.fault(target="api", mode="system_error", rate=1.0, path_prefix="/v3/pay/transactions/out-trade-no/")
    assert native(wxpay, "RATE_00006")[0] == 200
    assert query_status(wxpay, "RATE_00006") == 500


def test_a_rate_hang_is_a_client_timeout_with_the_call_processed(sb, make_client):
    client = make_client(sb)
    client._core._timeout = (2, 0.3)
    sb.fault(target="api", mode="hang", seconds=1.0, rate=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        native(client, "RATE_00007")
    sb.clear_faults()
    assert sb.order("RATE_00007")["trade_state"] == "NOTPAY"


def test_notification_fates_exclude_one_another(sb, wxpay, receiver):
    """Dropped or sent three times at once, never both: drop, duplicate and concurrent share one draw; a
    delay is drawn on its own and goes with either."""
    receiver.delay = 0.2
    sb.fault(target="notify", mode="drop", rate=0.5)
    sb.fault(target="notify", mode="concurrent", rate=0.5, times=3)
    sb.fault(target="notify", mode="delay", rate=1.0, seconds=0.1)
    numbers = [f"FATE_{n:05d}" for n in range(16)]
    for no in numbers:
        paid(sb, wxpay, no)
    deliveries = [sb.deliveries(no)[0] for no in numbers]
    sent = [d for d in deliveries if d["status"] != "dropped"]
    assert all(d["copies"] == 3 and d["concurrent"] for d in sent)
    assert all(d["copies"] == 1 for d in deliveries if d["status"] == "dropped")
    assert sent and len(sent) < len(deliveries)  # both fates happened (each 1 in 65,536 to miss)
    for d in sent:
        delivered = sb.wait_deliveries(d["out_trade_no"])[0]
        assert delivered["status"] == "acknowledged" and len(delivered["log"]) == 3
    fired = {fault["mode"]: fault["fired"] for fault in sb.armed_faults()}
    assert fired == {"drop": len(deliveries) - len(sent), "concurrent": len(sent), "delay": len(deliveries)}


def test_a_counted_notification_fault_skips_the_draw_of_its_group(sb, wxpay, receiver):
    sb.fault(target="notify", mode="drop", rate=1.0)
    sb.fault(target="notify", mode="duplicate", times=2, count=1)
    paid(sb, wxpay, "GROUP_0001")
    paid(sb, wxpay, "GROUP_0002")
    first = sb.wait_deliveries("GROUP_0001")[0]
    assert first["status"] == "acknowledged" and first["copies"] == 2
    assert sb.deliveries("GROUP_0002")[0]["status"] == "dropped"


def test_rate_validation(sb):
    for bad in ({"target": "api", "mode": "hang", "rate": 0}, {"target": "api", "mode": "hang", "rate": 1.5},
                {"target": "api", "mode": "hang", "rate": -0.1}, {"target": "api", "mode": "hang", "rate": "x"},
                {"target": "api", "mode": "hang", "rate": True}, {"target": "notify", "mode": "drop", "rate": [0.2]}):
        response = requests.post(sb.url + "/sandbox/api/faults", json=bad, timeout=5)
        assert response.status_code == 400, bad
    assert sb.armed_faults() == []


def test_the_load_tests_notification_mix(sb, wxpay, receiver):
    """make loadtest's faults: lost, three copies one after another, three at once, late; each notification
    takes at most one of the first three and a delay on its own draw, and every fault counts what it fired."""
    sb.fault(target="notify", mode="drop", rate=0.25)
    sb.fault(target="notify", mode="duplicate", rate=0.25, times=3)
    sb.fault(target="notify", mode="concurrent", rate=0.25, times=3)
    sb.fault(target="notify", mode="delay", rate=0.5, seconds=0.05)
    numbers = [f"MIX_{n:06d}" for n in range(24)]
    for no in numbers:
        paid(sb, wxpay, no)
    deliveries = [sb.deliveries(no)[0] for no in numbers]
    fates = Counter("drop" if d["status"] == "dropped" else "concurrent" if d["concurrent"]
                    else "duplicate" if d["copies"] == 3 else "plain" for d in deliveries)
    assert all(d["copies"] == 1 for d in deliveries if d["status"] == "dropped")
    for d in deliveries:
        if d["status"] != "dropped":
            delivered = sb.wait_deliveries(d["out_trade_no"])[0]
            assert delivered["status"] == "acknowledged" and len(delivered["log"]) == d["copies"]
    fired = {fault["mode"]: fault["fired"] for fault in sb.armed_faults()}
    assert {mode: fired[mode] for mode in ("drop", "duplicate", "concurrent")} == \
        {mode: fates[mode] for mode in ("drop", "duplicate", "concurrent")}
    assert 0 < fired["delay"] < len(numbers)  # its own draw, lost ones included (each end 1 in 16 million)
    assert sum(fates.values()) == len(numbers) and len(fates) >= 3  # (each fate misses 1 in 1,000 runs)
