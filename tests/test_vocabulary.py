"""Every named value the shop stores or shows has its Chinese label, and nothing outside the vocabulary
is recorded; the owner's timeline shows labels, never raw codes."""
import json
import re
from datetime import timedelta

import pytest

from core.clock import utcnow
from core.vocabulary import VOCABULARIES, EventKind, OrderStatus, Outcome, state_label
from extensions import db
from services.payment import record_event

CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.mark.parametrize("vocabulary", VOCABULARIES, ids=lambda v: v.__name__)
def test_every_value_has_a_chinese_label(vocabulary):
    for member in vocabulary:
        assert CHINESE.search(member.label), f"{vocabulary.__name__}.{member.name} has no Chinese label"
    labels = [member.label for member in vocabulary]
    assert len(labels) == len(set(labels)), f"{vocabulary.__name__} labels two values alike"


def test_state_labels_depend_on_whether_the_event_is_about_a_refund():
    assert state_label("SUCCESS") == "支付成功"
    assert state_label("SUCCESS", refund=True) == "退款成功"
    assert state_label("NOTPAY") == "未支付"
    assert state_label("TIMEOUT") == "微信支付响应超时"
    assert state_label("SOMETHING_NEW") == "SOMETHING_NEW"  # a code added later is shown, not hidden


def test_an_event_outside_the_vocabulary_is_refused(app, make_order):
    order = make_order()
    with app.app_context():
        with pytest.raises(ValueError):
            record_event(order.id, "reconcilation", utcnow())
        with pytest.raises(ValueError):
            record_event(order.id, EventKind.QUERY, utcnow(), outcome="paid_twice")


def test_the_owners_timeline_shows_every_kind_state_and_outcome_in_words(app, owner_client, make_order):
    order = make_order()
    raw = {"reconcile", "expire", "shipped", "NOTPAY", "PROCESSING", "SYSTEM_ERROR", "already_closed",
           "customer_cancel", "poll_query"}
    with app.app_context():
        at = utcnow()
        steps = [
            (EventKind.RECONCILE, "NOTPAY", Outcome.UNCHANGED), (EventKind.POLL_QUERY, "USERPAYING", Outcome.UNCHANGED),
            (EventKind.EXPIRE, "SYSTEM_ERROR", Outcome.ERROR), (EventKind.CUSTOMER_CANCEL, "CLOSED", Outcome.CLOSED),
            (EventKind.CLOSE, "CLOSED", Outcome.ALREADY_CLOSED), (EventKind.REFUND, "PROCESSING", Outcome.PROCESSING),
            (EventKind.SHIP, None, Outcome.SHIPPED),
        ]
        for n, (kind, state, outcome) in enumerate(steps):
            record_event(order.id, kind, at + timedelta(seconds=n), state=state, outcome=outcome,
                         detail={"trade_state": state} if kind != EventKind.REFUND else {"status": state})
        db.session.commit()

    page = owner_client.get(f"/admin/orders/{order.id}").get_data(as_text=True)
    timeline = page[page.index('class="timeline"'):]
    visible = re.sub(r"<[^>]+>", " ", timeline)  # text only: codes may stay in attributes for the curious
    for word in raw:
        assert not re.search(rf"(?<![\w.]){word}(?![\w.])", visible), word
    for text in ("定时查询微信支付", "未支付", "超时关单", "微信支付系统繁忙", "关单（顾客取消）", "退款中",
                 "已自动标记发货", "用户支付中"):
        assert text in visible, text


def test_order_status_labels_are_what_the_pages_show(app, make_order):
    from models import Order

    order = make_order()
    with app.app_context():
        row = db.session.get(Order, order.id)
        assert row.status_name == OrderStatus.PENDING.label == "待支付"
        assert json.dumps(OrderStatus.PAID) == '"paid"'  # stored and serialised as the plain value
