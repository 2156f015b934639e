"""Order rules that need no server: the WeChat Pay description and the deadline."""
from datetime import datetime, timedelta

from models import Order, OrderItem
from models.order import DESCRIPTION_MAX_BYTES


def order_with(*names):
    return Order(items=[OrderItem(product_name=name, unit_price_fen=100, quantity=1) for name in names])


def test_short_descriptions_list_every_item():
    assert order_with("西湖龙井", "竹编杯垫").description == "西湖龙井×1、竹编杯垫×1"


def test_long_chinese_descriptions_are_cut_to_127_utf8_bytes_on_a_character_boundary():
    description = order_with(*[f"云南普洱熟茶饼第{i}号" for i in range(20)]).description
    assert len(description.encode()) <= DESCRIPTION_MAX_BYTES
    assert description.endswith("等")
    assert description.startswith("云南普洱熟茶饼第0号×1")


def test_deadline_is_the_earlier_of_time_expire_and_the_code_url_life():
    now = datetime(2026, 11, 27, 12, 0)
    order = Order(expires_at=now + timedelta(minutes=30), code_url_expires_at=now + timedelta(hours=2))
    assert order.deadline == now + timedelta(minutes=30)
    order.expires_at = now + timedelta(hours=3)
    assert order.deadline == now + timedelta(hours=2)


def test_the_deadline_rule_is_the_same_in_sql(app, make_order):
    """Jobs select by Order.deadline in SQL; it must agree with the Python property."""
    from sqlalchemy import select

    from extensions import db

    now = datetime(2026, 11, 27, 12, 0)
    early_code = make_order(created_at=now, pay_minutes=180)   # code_url (2 h) runs out first
    early_expire = make_order(created_at=now, pay_minutes=30)  # time_expire comes first
    no_code = make_order(created_at=now, pay_minutes=45)       # never placed: time_expire only
    with app.app_context():
        for order_id in (early_code.id, early_expire.id):
            db.session.get(Order, order_id).code_url_expires_at = now + timedelta(hours=2)
        db.session.commit()
        for minutes in (29, 31, 44, 46, 119, 121):
            moment = now + timedelta(minutes=minutes)
            in_sql = set(db.session.scalars(select(Order.id).where(Order.deadline <= moment)))
            in_python = {o.id for o in db.session.scalars(select(Order)) if o.deadline <= moment}
            assert in_sql == in_python
        assert db.session.get(Order, no_code.id).deadline == now + timedelta(minutes=45)
