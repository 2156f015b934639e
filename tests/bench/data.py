"""A large shop for the benchmarks: categories, products and a history of orders, written with Core bulk inserts.

``generate(url)`` fills an empty schema (``create_schema(url)``, or `flask db upgrade`) with 50 categories,
10,000 products (Chinese names and descriptions, the search index built by ``models.reindex_products``) and
100,000 orders over the last 90 days, each as the shop would have written it: its lines with price
snapshots and the shipping fee, its payment attempts (a second one when the customer switched channel),
its payment events (create, notification, switch, expire or cancel, ship, refund and its notification), its
refunds and the stock log of every sale, release and restock. Statuses: closed, paid, shipped, refunded in
part or in full, a few still pending (within their 30 minutes). Rows get explicit ids, so one executemany
per table and batch does it, on SQLite or PostgreSQL. Deterministic for a given seed.

    python -m tests.bench.data sqlite:////tmp/large.sqlite3 [orders]
"""
import heapq
import json
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import DateTime, bindparam, create_engine, func, insert, select, text, update

from core.clock import utcnow
from core.regions import _provinces, region_text
from core.vocabulary import (
    AttemptStatus,
    EventKind,
    NotificationType,
    OrderStatus,
    Outcome,
    PaymentChannel,
    RefundStatus,
    StockReason,
    TradeState,
)
from models import (
    Base,
    Category,
    Order,
    OrderItem,
    OrderNameTerm,
    PaymentAttempt,
    PaymentEvent,
    Product,
    Refund,
    StockLog,
    reindex_products,
)
from models.order_search import term_rows

BATCH = 10_000
PAY_MINUTES = 30  # ORDER_PAY_TIMEOUT's default: an order is pending this long at most
SHIPPING_FEE_FEN, FREE_SHIPPING_OVER_FEN = 1000, 9900  # the development shop's (满 99 元包邮)
PROMPT_LIFETIME = {PaymentChannel.NATIVE: timedelta(hours=2), PaymentChannel.JSAPI: timedelta(hours=2),
                   PaymentChannel.H5: timedelta(minutes=5)}
PROMPT_OUTCOME = {PaymentChannel.NATIVE: Outcome.CODE_URL, PaymentChannel.JSAPI: Outcome.PREPAY_ID,
                  PaymentChannel.H5: Outcome.H5_URL}

CATEGORIES = [
    ("茶饮", ["绿茶", "红茶", "白茶", "乌龙茶", "普洱茶", "花茶"]),
    ("零食", ["芝麻糖", "牛肉干", "鲜花饼", "麻花", "米饼"]),
    ("坚果炒货", ["核桃", "腰果", "巴旦木", "瓜子", "松子"]), ("糕点", ["绿豆糕", "桃酥", "月饼", "蛋黄酥", "桂花糕"]),
    ("调味品", ["酱油", "香醋", "豆瓣酱", "花椒", "辣椒酱"]), ("粮油米面", ["大米", "小米", "挂面", "菜籽油", "面粉"]),
    ("南北干货", ["香菇", "木耳", "银耳", "红枣", "枸杞"]), ("时令水果", ["柑橘", "脐橙", "苹果", "猕猴桃", "荔枝"]),
    ("蜜饯果脯", ["话梅", "陈皮", "杏脯", "山楂条", "芒果干"]), ("酒水", ["黄酒", "米酒", "梅子酒", "白酒", "果酒"]),
    ("咖啡", ["咖啡豆", "挂耳咖啡", "冷萃咖啡", "速溶咖啡"]), ("乳品", ["酸奶", "奶酪", "奶粉", "牛乳"]),
    ("方便速食", ["螺蛳粉", "酸辣粉", "自热火锅", "拌面"]), ("罐头", ["黄桃罐头", "午餐肉", "鱼罐头", "橘子罐头"]),
    ("冲调饮品", ["藕粉", "芝麻糊", "豆浆粉", "麦片"]), ("蜂蜜", ["槐花蜜", "枣花蜜", "百花蜜", "椴树蜜"]),
    ("茶具", ["盖碗", "公道杯", "茶盘", "紫砂壶", "品茗杯"]), ("餐具", ["饭碗", "汤碗", "筷子", "餐盘", "汤勺"]),
    ("厨具", ["铸铁锅", "砧板", "菜刀", "蒸笼", "炒锅"]), ("收纳", ["收纳盒", "竹篮", "储物罐", "衣架"]),
    ("清洁用品", ["洗碗布", "丝瓜络", "洗衣皂", "扫帚"]), ("纸品", ["抽纸", "卷纸", "手帕纸", "湿巾"]),
    ("个人护理", ["香皂", "洗发水", "护手霜", "牙刷"]), ("香薰", ["线香", "香薰蜡烛", "香囊", "精油"]),
    ("文具", ["笔记本", "钢笔", "毛笔", "宣纸", "书签"]), ("家纺", ["枕套", "被套", "毛巾", "浴巾", "凉席"]),
    ("布艺", ["桌旗", "抱枕", "门帘", "桌布"]), ("花艺", ["干花束", "花瓶", "永生花", "插花泥"]),
    ("绿植", ["绿萝", "多肉", "文竹", "发财树"]), ("宠物用品", ["猫砂", "狗粮", "猫抓板", "宠物窝"]),
    ("母婴", ["口水巾", "婴儿袜", "奶瓶", "围兜"]), ("玩具", ["拼图", "积木", "风筝", "陀螺"]),
    ("图书", ["茶经", "食谱", "绘本", "字帖"]), ("手工艺", ["剪纸", "刺绣", "中国结", "团扇"]),
    ("竹编", ["竹篮", "竹筐", "竹扇", "竹席"]), ("陶瓷", ["花瓶", "茶杯", "笔筒", "香炉"]),
    ("玻璃器", ["玻璃杯", "公道杯", "花瓶", "果盘"]), ("漆器", ["漆盘", "漆碗", "首饰盒"]),
    ("木作", ["木勺", "木碗", "砧板", "托盘"]), ("灯具", ["台灯", "夜灯", "灯笼", "壁灯"]),
    ("箱包", ["帆布包", "零钱包", "双肩包", "手提袋"]), ("服饰配件", ["围巾", "发簪", "手链", "丝巾"]),
    ("鞋袜", ["布鞋", "棉袜", "拖鞋", "船袜"]), ("帽子手套", ["草帽", "毛线帽", "手套", "渔夫帽"]),
    ("户外", ["保温杯", "野餐垫", "露营灯", "折叠椅"]), ("运动", ["瑜伽垫", "跳绳", "毽子", "护腕"]),
    ("健康", ["艾草贴", "暖宝宝", "按摩梳", "足浴包"]), ("礼盒", ["茶叶礼盒", "坚果礼盒", "年货礼盒"]),
    ("节令", ["粽子", "汤圆", "青团", "腊肠"]), ("地方特产", ["火腿", "腊肉", "笋干", "豆腐乳"]),
]
ORIGINS = ["云南", "福建", "杭州", "安吉", "景德镇", "龙泉", "宜兴", "四川", "湖南", "新疆", "内蒙古", "东北", "苏州",
           "黄山", "武夷山", "潮汕", "广西", "贵州", "宁夏", "山东", "西藏", "台湾", "江西", "浙江"]
QUALITIES = ["手工", "古法", "有机", "精选", "特级", "家常", "原味", "老字号", "新鲜", "传统", "高山", "野生",
             "无添加", "经典"]
SPECS = ["100g", "150g", "250g", "500g", "1kg", "6枚", "12袋", "4片装", "2只装", "30袋", "1盒", "礼盒装",
         "大号", "小号"]
PHRASES = ["产地直发，新鲜到家。", "传统工艺制作，用料扎实。", "口感醇厚，回味悠长。", "适合自用，也适合送礼。",
           "小批量生产，售完即止。", "包装简洁，环保可回收。", "每一件都经过手工挑选。", "常温保存，开封后请尽快食用。",
           "店主家乡的味道，吃过的都说好。", "质地细腻，做工精致。", "适合一家人分享。", "支持七天无理由退换货。"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国志文斌云飞雪梅晨浩宇子涵欣怡思雨嘉"
ROADS = ["人民路", "解放路", "中山路", "建设路", "文三路", "长江路", "和平路", "新华路", "胜利路", "青年路",
         "南京路", "滨江路"]
NOTES = ["", "", "", "", "", "放门口", "请尽快发货", "送人的，不要放价格单", "工作日送货", "打电话再送"]
CHANNELS, CHANNEL_SHARES = list(PaymentChannel), [50, 85, 100]  # QR code, inside WeChat, phone browser
# Beijing-time hours people shop at, weighted: evenings most.
HOUR_WEIGHTS = [1, 1, 0, 0, 0, 0, 1, 2, 3, 4, 5, 5, 6, 5, 4, 4, 5, 5, 6, 8, 10, 10, 8, 4]


@dataclass
class Counts:
    categories: int = 0
    products: int = 0
    search_terms: int = 0
    orders: int = 0
    items: int = 0
    attempts: int = 0
    events: int = 0
    refunds: int = 0
    stock_log: int = 0
    statuses: dict = field(default_factory=dict)
    seconds: float = 0.0


def create_schema(url: str) -> None:
    """The shop's tables, as the models declare them (what `flask db upgrade` builds)."""
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


def _drop_indexes(connection) -> list[str]:
    """SQLite: drop the secondary indexes of the tables written here; return the statements that rebuild them."""
    if connection.dialect.name != "sqlite":
        return []
    names = [model.__tablename__ for model in Writer.ORDER] + ["product_search_term"]
    found = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN "
        f"({', '.join('?' * len(names))})", tuple(names)).all()
    for name, _ in found:
        connection.exec_driver_sql(f'DROP INDEX "{name}"')
    return [sql for _, sql in found]


class Ids:
    """Explicit ids, following whatever a table holds already."""

    def __init__(self, connection):
        self.next = {table: (connection.scalar(select(func.max(table.c.id))) or 0) + 1
                     for table in (Category.__table__, Product.__table__, Order.__table__, OrderItem.__table__,
                                   PaymentAttempt.__table__, PaymentEvent.__table__, Refund.__table__,
                                   StockLog.__table__)}

    def take(self, model) -> int:
        table = model.__table__
        value = self.next[table]
        self.next[table] = value + 1
        return value


class Writer:
    """Rows per table, inserted in batches of BATCH with one executemany each.

    On SQLite the rows go to the driver as they are (SQLAlchemy's per-row parameter processing costs more
    than the insert), with datetimes turned into the text SQLAlchemy's SQLite dialect stores and compares.
    """

    # Parents first: a child batch is written after its parents' rows.
    ORDER = (Category, Product, Order, OrderNameTerm, OrderItem, PaymentAttempt, Refund, PaymentEvent, StockLog)

    def __init__(self, connection):
        self.connection = connection
        self.raw = connection.dialect.name == "sqlite"
        self.rows = {model.__table__: [] for model in self.ORDER}
        self.moments = {model.__table__: [column.name for column in model.__table__.c
                                          if isinstance(column.type, DateTime)] for model in self.ORDER}
        self.written: dict = {}

    def add(self, model, row: dict) -> None:
        table = model.__table__
        if self.raw:
            for name in self.moments[table]:
                if row.get(name) is not None:
                    row[name] = row[name].isoformat(" ", "microseconds")  # '2026-11-27 12:00:00.000000'
        rows = self.rows[table]
        rows.append(row)
        if len(rows) >= BATCH:
            self.flush(upto=model)

    def flush(self, upto=None) -> None:
        for model in self.ORDER:
            table = model.__table__
            rows = self.rows[table]
            if rows:
                if self.raw:
                    columns = list(rows[0])
                    self.connection.exec_driver_sql(
                        f'INSERT INTO "{table.name}" ({", ".join(columns)}) '
                        f'VALUES ({", ".join(":" + column for column in columns)})', rows)
                else:
                    self.connection.execute(insert(table), rows)
                self.written[table.name] = self.written.get(table.name, 0) + len(rows)
                self.rows[table] = []
            if model is upto:
                break


def _token(rng: random.Random, digits: int = 22) -> str:
    """A unique-enough random token (hex; the shop's are URL-safe base64 of the same length)."""
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def _regions():
    flat = []
    for province, cities in _provinces().items():
        for city, districts in cities.items():
            flat.extend((province, city, district) for district in districts)
    return flat


def _catalog(writer, ids, rng, categories: int, products: int, now: datetime):
    """Categories and products; returns [(id, name, price_fen, initial stock)] of the products."""
    made = []
    category_ids = []
    for position in range(categories):
        name, _ = CATEGORIES[position % len(CATEGORIES)]
        if position >= len(CATEGORIES):
            name = f"{name}{position // len(CATEGORIES) + 1}"
        category_id = ids.take(Category)
        category_ids.append((category_id, position % len(CATEGORIES)))
        writer.add(Category, {"id": category_id, "name": name, "slug": f"bench-c{category_id}", "position": position,
                              "visible": True})
    for n in range(products):
        category_id, kind = category_ids[n % len(category_ids)]
        noun = rng.choice(CATEGORIES[kind][1])
        name = f"{rng.choice(ORIGINS)}{rng.choice(QUALITIES)}{noun} {rng.choice(SPECS)}"
        description = "".join(rng.sample(PHRASES, 3))
        price_fen = rng.choice([990, 1290, 1590, 1990, 2590, 2990, 3990, 4990, 5990, 6800, 8800, 9900, 12800, 16800,
                                19800, 29900, 39900])
        product_id = ids.take(Product)
        stock = rng.randint(20, 200)
        made.append((product_id, name, price_fen, stock))
        writer.add(Product, {
            "id": product_id, "category_id": category_id, "name": name, "slug": f"bench-p{product_id}",
            "description": description, "price_fen": price_fen, "stock": stock, "image": None, "image_alt": "",
            "active": rng.random() > 0.03,
        })
    return made


def _created_times(rng, count: int, days: int, now: datetime) -> list[datetime]:
    """``count`` order times over the last ``days`` days, more in the evening (Beijing time), oldest first."""
    start_day = (now + timedelta(hours=8)).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days)
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=count)
    times = []
    for hour in hours:
        local = start_day + timedelta(days=rng.randrange(days + 1), hours=hour, seconds=rng.randrange(3600))
        moment = local - timedelta(hours=8)
        if moment > now - timedelta(minutes=PAY_MINUTES + 5):  # the newest are placed below as pending or paid
            moment = now - timedelta(minutes=PAY_MINUTES + 5, seconds=rng.randrange(86400))
        times.append(moment)
    times.sort()
    return times


def generate(url: str, *, categories: int = 50, products: int = 10_000, orders: int = 100_000, days: int = 90,
             pending: int | None = None, now: datetime | None = None, seed: int = 16) -> Counts:
    """Fill the shop database at ``url`` (schema already there) with a large catalog and order history.

    With ``products=0`` the orders are of the products already there (the demo catalog of `flask seed-demo`).
    """
    started = time.perf_counter()
    pending = max(1, orders // 5000) if pending is None else pending  # a few: 20 of 100,000
    now = now or utcnow().replace(microsecond=0)
    rng = random.Random(seed)
    counts = Counts()
    engine = create_engine(url)
    regions = _regions()
    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            # Random keys (tokens, numbers) land all over their unique indexes: keep those pages in memory.
            connection.exec_driver_sql("PRAGMA cache_size = -400000")
        indexes = _drop_indexes(connection)
        ids = Ids(connection)
        writer = Writer(connection)
        if products:
            catalog = _catalog(writer, ids, rng, categories, products, now)
            writer.flush()
            counts.search_terms = reindex_products(connection, [product_id for product_id, *_ in catalog])
        else:  # orders of the catalog already there (the demo's)
            catalog = [tuple(row) for row in connection.execute(
                select(Product.id, Product.name, Product.price_fen, Product.stock).order_by(Product.id))]
        # A few products sell much more than the rest (weights ~ 1/rank).
        weights = [1 / (rank + 5) for rank in range(len(catalog))]
        cumulative = list(_accumulate(weights))
        stock_moves: list = []  # (at, seq, product_id, change, reason, order_id)
        created = _created_times(rng, orders - pending, days, now)
        created += sorted(now - timedelta(seconds=rng.randrange(60, PAY_MINUTES * 60 - 60)) for _ in range(pending))
        used_numbers = set()
        statuses: dict = {}
        for n, created_at in enumerate(created):
            status = _order(writer, ids, rng, regions, catalog, cumulative, created_at, now, n >= orders - pending,
                            used_numbers, stock_moves)
            statuses[status] = statuses.get(status, 0) + 1
        _stock_log(writer, ids, catalog, stock_moves, now - timedelta(days=days + 1))
        writer.flush()
        _final_stock(connection, catalog)
        for statement in indexes:  # one sorted build per index beats a million scattered inserts
            connection.exec_driver_sql(statement)
        if connection.dialect.name == "postgresql":
            for table in ("category", "product", "order", "order_item", "payment_attempt", "payment_event",
                          "refund", "stock_log"):
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM \"{table}\"))"))
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            # Written with the checks off (faster); every reference must hold all the same.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise AssertionError(f"rows referring to nothing: {broken[:5]}")
            connection.exec_driver_sql("ANALYZE")  # the query planner's statistics, as a shop that has run a while
    engine.dispose()
    written = writer.written
    counts.categories, counts.products = written.get("category", 0), written.get("product", 0)
    counts.orders, counts.items = written.get("order", 0), written.get("order_item", 0)
    counts.attempts, counts.events = written.get("payment_attempt", 0), written.get("payment_event", 0)
    counts.refunds, counts.stock_log = written.get("refund", 0), written.get("stock_log", 0)
    counts.statuses = statuses
    counts.seconds = time.perf_counter() - started
    return counts


def _accumulate(values):
    total = 0.0
    for value in values:
        total += value
        yield total


def _order(writer, ids, rng, regions, catalog, cumulative, created_at, now, is_pending, used_numbers,
           stock_moves) -> str:
    """One order with everything the shop writes for it; returns the label of what it became."""
    order_id = ids.take(Order)
    number = f"{created_at:%Y%m%d%H%M%S}{rng.getrandbits(40):010X}"
    while number in used_numbers:
        number = f"{created_at:%Y%m%d%H%M%S}{rng.getrandbits(40):010X}"
    used_numbers.add(number)
    expires_at = created_at + timedelta(minutes=PAY_MINUTES)

    lines = {}
    for product in rng.choices(catalog, cum_weights=cumulative, k=rng.choice([1, 1, 1, 2, 2, 3])):
        lines[product[0]] = (product, rng.choice([1, 1, 1, 2, 3]))
    items_fen = sum(product[2] * quantity for product, quantity in lines.values())
    shipping_fen = 0 if items_fen >= FREE_SHIPPING_OVER_FEN else SHIPPING_FEE_FEN
    total_fen = items_fen + shipping_fen

    # What became of it.
    roll = rng.random()
    if is_pending:
        fate = "pending"
    elif roll < 0.22:
        fate = "closed"
    else:
        fate = "paid"
    channels = [rng.choices(CHANNELS, cum_weights=CHANNEL_SHARES)[0]]
    if rng.random() < 0.05:  # switched to another way of paying
        channels.append(CHANNELS[(CHANNELS.index(channels[0]) + 1) % len(CHANNELS)])

    province, city, district = rng.choice(regions)
    detail = f"{rng.choice(ROADS)} {rng.randint(1, 999)} 号 {rng.randint(1, 30)} 栋 {rng.randint(101, 2808)} 室"
    row = {
        "id": order_id, "token": _token(rng), "submission_token": _token(rng, 43),
        "visitor_id": f"{rng.getrandbits(128):032x}", "client_ip": f"{rng.randint(1, 223)}.{rng.randint(0, 255)}."
                                                                   f"{rng.randint(0, 255)}.{rng.randint(1, 254)}",
        "out_trade_no": number, "status": OrderStatus.PENDING, "total_fen": total_fen, "shipping_fen": shipping_fen,
        "refunded_fen": 0, "has_refund": False,
        "contact_name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice([1, 2, 2]))),
        "mobile": f"1{rng.choice('3456789')}{rng.randrange(10 ** 9):09d}",
        "province": province, "city": city, "district": district, "address_detail": detail,
        "address": f"{region_text(province, city, district)} {detail}", "note": rng.choice(NOTES),
        "created_at": created_at, "expires_at": expires_at, "paid_at": None, "shipped_at": None, "closed_at": None,
        "transaction_id": None, "last_queried_at": None, "next_query_at": None, "query_count": 0,
        "claimed_until": None, "attention": None, "courier": None, "courier_name": None, "tracking_no": None,
    }
    for product, quantity in lines.values():
        writer.add(OrderItem, {"id": ids.take(OrderItem), "order_id": order_id, "product_id": product[0],
                               "product_name": product[1], "unit_price_fen": product[2], "quantity": quantity})
        stock_moves.append((created_at, order_id, product[0], -quantity, StockReason.SALE))

    events = []  # (at, kind, attempt_id, fields)
    attempts = []
    at = created_at + timedelta(seconds=rng.randint(2, 20))
    for n, channel in enumerate(channels, start=1):
        attempt_id = ids.take(PaymentAttempt)
        out_trade_no = number if n == 1 else f"{number}-{n}"
        if channel == PaymentChannel.NATIVE:
            prompt = f"weixin://wxpay/bizpayurl?pr={_token(rng, 10)}"
        elif channel == PaymentChannel.JSAPI:
            prompt = f"wx{order_id:010d}{rng.getrandbits(80):020x}"
        else:
            prompt = f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{rng.getrandbits(96):024x}"
        attempts.append({
            "id": attempt_id, "order_id": order_id, "out_trade_no": out_trade_no, "channel": channel,
            "status": AttemptStatus.OPEN, "prompt": prompt, "prompt_expires_at": at + PROMPT_LIFETIME[channel],
            "payer_openid": f"o{_token(rng, 27)}" if channel == PaymentChannel.JSAPI else None,
            "client_ip": row["client_ip"] if channel == PaymentChannel.H5 else None,
            "transaction_id": None, "created_at": at, "paid_at": None, "closed_at": None,
        })
        events.append((at, EventKind.CREATE, attempt_id, {"outcome": PROMPT_OUTCOME[channel]}))
        if n < len(channels):  # the customer switched: the shop closed this one first
            at += timedelta(seconds=rng.randint(10, 120))
            attempts[-1].update(status=AttemptStatus.CLOSED, closed_at=at)
            events.append((at, EventKind.SWITCH, attempt_id, {"state": TradeState.CLOSED, "outcome": Outcome.CLOSED}))
    last = attempts[-1]

    refunded_fen = 0
    if fate == "closed":
        cancelled = rng.random() < 0.15
        closed_at = at + timedelta(minutes=rng.randint(1, 20)) if cancelled else expires_at
        closed_at = min(closed_at, expires_at)
        last.update(status=AttemptStatus.CLOSED, closed_at=closed_at)
        row.update(status=OrderStatus.CLOSED, closed_at=closed_at)
        events.append((closed_at, EventKind.CUSTOMER_CANCEL if cancelled else EventKind.EXPIRE, last["id"],
                       {"state": TradeState.CLOSED, "outcome": Outcome.CLOSED}))
        for product, quantity in lines.values():
            stock_moves.append((closed_at, order_id, product[0], quantity, StockReason.RELEASE))
        label = "closed"
    elif fate == "paid":
        paid_at = at + timedelta(seconds=rng.randint(15, 600))
        transaction_id = f"4200{paid_at:%Y%m%d}{order_id:016d}"
        last.update(status=AttemptStatus.PAID, paid_at=paid_at, transaction_id=transaction_id)
        row.update(status=OrderStatus.PAID, paid_at=paid_at, transaction_id=transaction_id)
        detail = {"trade_state": TradeState.SUCCESS, "trade_state_desc": "支付成功", "transaction_id": transaction_id,
                  "total_fen": total_fen, "success_time": paid_at.isoformat()}
        events.append((paid_at, EventKind.NOTIFICATION, last["id"], {
            "notification_id": f"{_token(rng)}-{order_id}", "event_type": NotificationType.TRANSACTION_SUCCESS,
            "state": TradeState.SUCCESS, "outcome": Outcome.PAID, "detail": detail}))
        label = "paid"
        refund_roll = rng.random()
        if refund_roll < 0.03:  # refunded in full, before it shipped
            refunded_fen = total_fen
            label = "refunded"
        elif refund_roll < 0.07:  # a line refunded, or part of the amount
            refunded_fen = max(1, min(total_fen - 1, rng.choice([p[2] * q for p, q in lines.values()] + [500])))
            label = "partly refunded"
        ship_at = paid_at + timedelta(hours=rng.uniform(2, 48))
        shippable = refunded_fen < total_fen and ship_at < now and rng.random() > 0.02
        if shippable:
            row.update(status=OrderStatus.SHIPPED, shipped_at=ship_at, courier=rng.choice(["sf", "zto", "yto", "jd"]),
                       tracking_no=f"SF{order_id:013d}")
            events.append((ship_at, EventKind.SHIP, None, {"outcome": Outcome.SHIPPED}))
            label = "shipped" if label == "paid" else label
        elif rng.random() < 0.01:
            row["attention"] = "关闭后收到付款，库存不足"
        if refunded_fen:
            refund_at = paid_at + timedelta(hours=rng.uniform(1, 72))
            refund_id = ids.take(Refund)
            out_refund_no = f"R{last['out_trade_no']}{rng.getrandbits(24):06X}"
            succeeded_at = refund_at + timedelta(seconds=rng.randint(5, 120))
            writer_refund = {
                "id": refund_id, "order_id": order_id, "attempt_id": last["id"], "extra_payment": False,
                "out_refund_no": out_refund_no, "refund_id": f"5030{refund_at:%Y%m%d}{refund_id:016d}",
                "amount_fen": refunded_fen, "reason": rng.choice(["缺货", "顾客申请退货", "商品破损", "协商退款"]),
                "status": RefundStatus.SUCCESS, "created_at": refund_at, "succeeded_at": succeeded_at,
                "next_query_at": None, "claimed_until": None,
            }
            refund_detail = {"out_refund_no": out_refund_no, "refund_id": writer_refund["refund_id"],
                             "refund_fen": refunded_fen}
            events.append((refund_at, EventKind.REFUND, last["id"], {
                "state": RefundStatus.PROCESSING, "outcome": Outcome.PROCESSING,
                "detail": {**refund_detail, "status": RefundStatus.PROCESSING}}))
            events.append((succeeded_at, EventKind.NOTIFICATION, last["id"], {
                "notification_id": f"{_token(rng)}-r{refund_id}", "event_type": NotificationType.REFUND_SUCCESS,
                "state": RefundStatus.SUCCESS, "outcome": Outcome.REFUNDED,
                "detail": {**refund_detail, "status": RefundStatus.SUCCESS}}))
            row["refunded_fen"], row["has_refund"] = refunded_fen, True  # the Refund mapper's after_insert
    else:
        label = "pending"

    terms = term_rows(order_id, row["contact_name"], row["created_at"])  # what the ORM's after_insert writes
    writer.add(Order, row)  # (which writes SQLite's datetimes into the row as text)
    for term in terms:
        writer.add(OrderNameTerm, term)
    for attempt in attempts:
        writer.add(PaymentAttempt, attempt)
    if refunded_fen:
        writer.add(Refund, writer_refund)
    events.sort(key=lambda event: event[0])
    for at, kind, attempt_id, fields in events:
        writer.add(PaymentEvent, {
            "id": ids.take(PaymentEvent), "order_id": order_id, "attempt_id": attempt_id, "kind": kind,
            "notification_id": fields.get("notification_id"), "event_type": fields.get("event_type"),
            "state": fields.get("state"), "outcome": fields.get("outcome"),
            "detail": json.dumps(fields.get("detail") or {}, ensure_ascii=False), "created_at": at,
        })
    return label


def _stock_log(writer, ids, catalog, moves, start: datetime) -> None:
    """The stock log in time order: each product's first stock, every sale and release, and a restock of 100
    whenever a sale would have found too little (so every stock_after is what the product held then)."""
    stock = {}
    for product_id, _, _, initial in catalog:
        stock[product_id] = initial
        writer.add(StockLog, {"id": ids.take(StockLog), "product_id": product_id, "change": initial,
                              "stock_after": initial, "reason": StockReason.INITIAL, "order_id": None, "note": "",
                              "by": "admin", "created_at": start})
    heapq.heapify(moves)
    while moves:
        at, order_id, product_id, change, reason = heapq.heappop(moves)
        if stock[product_id] + change < 0:
            stock[product_id] += 100
            writer.add(StockLog, {"id": ids.take(StockLog), "product_id": product_id, "change": 100,
                                  "stock_after": stock[product_id], "reason": StockReason.RESTOCK, "order_id": None,
                                  "note": "补货", "by": "admin", "created_at": at - timedelta(seconds=1)})
        stock[product_id] += change
        writer.add(StockLog, {"id": ids.take(StockLog), "product_id": product_id, "change": change,
                              "stock_after": stock[product_id], "reason": reason, "order_id": order_id, "note": "",
                              "by": None, "created_at": at})
    for n, (product_id, name, price_fen, _) in enumerate(catalog):
        catalog[n] = (product_id, name, price_fen, stock[product_id])


def _final_stock(connection, catalog) -> None:
    """Each product's stock as its log ends."""
    table = Product.__table__
    connection.execute(update(table).where(table.c.id == bindparam("pid")).values(stock=bindparam("left")),
                       [{"pid": product_id, "left": stock} for product_id, _, _, stock in catalog])


if __name__ == "__main__":
    target = sys.argv[1]
    create_schema(target)
    result = generate(target, orders=int(sys.argv[2]) if len(sys.argv) > 2 else 100_000)
    print(result)
