"""Order rules that need no server: the WeChat Pay description."""
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
