"""Demo catalog for `flask seed-demo`: three categories, a dozen products, images drawn locally with Pillow."""
import math
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from extensions import db
from models import Category, Product

IMAGE_SIZE = 480
_SCALE = 2  # draw at twice the size and downsample, for smooth edges


@dataclass(frozen=True)
class DemoProduct:
    slug: str
    name: str
    price_fen: int
    stock: int
    description: str
    motif: str
    background: str
    ink: str
    accent: str


DEMO_CATALOG = [
    ("tea", "茶饮", [
        DemoProduct("longjing-green-tea", "西湖龙井 明前特级 100g", 16800, 20,
                    "杭州西湖产区明前采摘，豆香清雅，汤色嫩绿。", "leaves", "#e4efdc", "#4f7a3a", "#9cc47f"),
        DemoProduct("puer-tea-cake", "云南普洱熟茶饼 357g", 12800, 15,
                    "勐海大叶种晒青毛茶发酵压制，醇厚回甘，越陈越香。", "cake", "#efe3d3", "#7a4b2a", "#b98a5e"),
        DemoProduct("white-peony-tea", "福建白牡丹白茶 150g", 9800, 12,
                    "福鼎高山茶园，一芽二叶，毫香蜜韵。", "flower", "#f3efe4", "#b7a46a", "#e3d6a8"),
        DemoProduct("osmanthus-oolong-bags", "桂花乌龙冷泡茶包 12袋", 3990, 40,
                    "桂花与乌龙窨制，冷水泡 4 小时即可饮用。", "drops", "#fdf0cf", "#d08a1e", "#f2c15b"),
    ]),
    ("snacks", "零食", [
        DemoProduct("sesame-brittle", "手工黑芝麻糖 250g", 2580, 30,
                    "古法熬糖，黑芝麻香浓，酥脆不粘牙。", "tiles", "#f6e7d8", "#3b302a", "#c59a6d"),
        DemoProduct("flower-cakes", "云南玫瑰鲜花饼 6枚", 3600, 25,
                    "食用玫瑰花瓣现做馅料，酥皮层层起。", "rose", "#fbe3e6", "#c2415d", "#f29bab"),
        DemoProduct("spiced-beef-jerky", "五香牛肉干 200g", 5800, 0,
                    "内蒙古草原牛肉，五香风味，有嚼劲。本周已售罄，补货中。",
                    "stripes", "#f7dfd2", "#8c3b24", "#d7805f"),
        DemoProduct("daily-nuts", "每日坚果混合装 30袋", 7900, 18,
                    "核桃、腰果、巴旦木与蓝莓干科学配比，一天一袋。", "nuts", "#efe9dc", "#8a6a3d", "#c9a66b"),
    ]),
    ("homeware", "器物", [
        DemoProduct("celadon-teacup", "龙泉青瓷品茗杯", 4500, 10,
                    "龙泉窑梅子青釉，釉色温润如玉，容量约 80ml。", "cup", "#dfeceb", "#4e8a84", "#9fc9c3"),
        DemoProduct("bamboo-coasters", "竹编杯垫 4片装", 2900, 35,
                    "安吉毛竹手工编织，隔热防滑。", "weave", "#eef0dc", "#7d8a3f", "#c3cc86"),
        DemoProduct("hand-painted-bowl", "手绘青花陶瓷碗", 6800, 8,
                    "景德镇手绘青花缠枝纹，直径 15cm，可用于微波炉。", "bowl", "#e6ebf5", "#2c4f8f", "#8fa8d6"),
        DemoProduct("linen-table-runner", "棉麻条纹桌旗 180cm", 8800, 6,
                    "棉麻混纺，水洗做旧质感，给餐桌添一点生活气。", "runner", "#f1ece4", "#6b5b4b", "#bfae98"),
    ]),
]


# The demo images are drawn shapes, and their alt text says so (Product.image_alt, read on the product page).
MOTIF_ALT = {
    "leaves": "示意图：淡绿底色上的几片茶叶", "cake": "示意图：一块圆形的普洱茶饼", "flower": "示意图：一朵白色的花",
    "drops": "示意图：金黄色的水滴", "tiles": "示意图：方块状的芝麻糖", "rose": "示意图：一朵粉色玫瑰",
    "stripes": "示意图：深红色的肉干条纹", "nuts": "示意图：散落的坚果", "cup": "示意图：一只青瓷茶杯",
    "weave": "示意图：竹编纹理", "bowl": "示意图：一只青花瓷碗", "runner": "示意图：条纹桌旗",
}


@dataclass
class SeedResult:
    categories: int = 0
    products: int = 0
    images: int = 0
    skipped: bool = False


def seed_demo_catalog(image_dir: Path, if_empty: bool = False) -> SeedResult:
    """Create the demo categories and products that are missing, and draw any missing images."""
    result = SeedResult()
    image_dir = Path(image_dir)
    image_dir.mkdir(parents=True, exist_ok=True)
    if if_empty and db.session.scalar(select(func.count(Product.id))):
        result.skipped = True
    else:
        for position, (slug, name, products) in enumerate(DEMO_CATALOG):
            category = db.session.scalar(select(Category).filter_by(slug=slug))
            if category is None:
                category = Category(slug=slug, name=name, position=position)
                db.session.add(category)
                result.categories += 1
            for demo in products:
                if db.session.scalar(select(Product.id).filter_by(slug=demo.slug)) is None:
                    db.session.add(Product(
                        category=category, slug=demo.slug, name=demo.name, description=demo.description,
                        price_fen=demo.price_fen, stock=demo.stock, image=f"{demo.slug}.png", active=True,
                        image_alt=MOTIF_ALT[demo.motif],
                    ))
                    result.products += 1
        db.session.commit()
    result.images = draw_missing_images(image_dir)
    return result


def draw_missing_images(image_dir: Path) -> int:
    """Draw the image of every demo product in the database whose file is missing; return how many."""
    demos = {demo.slug: demo for _, _, products in DEMO_CATALOG for demo in products}
    drawn = 0
    for product in db.session.scalars(select(Product).where(Product.slug.in_(demos))):
        if product.image and not (image_dir / product.image).exists():
            draw_product_image(demos[product.slug]).save(image_dir / product.image, optimize=True)
            drawn += 1
    return drawn


def draw_product_image(demo: DemoProduct) -> Image.Image:
    """A square picture of the product's motif; shapes only, so no font is needed."""
    size = IMAGE_SIZE * _SCALE
    image = Image.new("RGB", (size, size), demo.background)
    draw = ImageDraw.Draw(image)
    MOTIFS[demo.motif](draw, size, demo)
    return image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)


def _leaf(draw, cx, cy, length, width, fill, vein):
    draw.ellipse((cx - width, cy - length, cx + width, cy + length), fill=fill)
    draw.line((cx, cy - length * 0.8, cx, cy + length * 1.15), fill=vein, width=max(4, int(width // 8)))


def leaves(draw, s, d):
    _leaf(draw, s * 0.38, s * 0.52, s * 0.26, s * 0.09, d.ink, d.background)
    _leaf(draw, s * 0.62, s * 0.46, s * 0.22, s * 0.08, d.accent, d.background)
    draw.ellipse((s * 0.2, s * 0.84, s * 0.8, s * 0.9), fill=d.accent)


def cake(draw, s, d):
    for i, colour in enumerate((d.ink, d.accent, d.ink, d.accent, d.ink)):
        r = s * (0.34 - i * 0.065)
        draw.ellipse((s / 2 - r, s / 2 - r, s / 2 + r, s / 2 + r), fill=colour)
    r = s * 0.035
    draw.ellipse((s / 2 - r, s / 2 - r, s / 2 + r, s / 2 + r), fill=d.background)


def flower(draw, s, d):
    for i in range(8):
        angle = i * math.pi / 4
        x, y = s / 2 + math.cos(angle) * s * 0.17, s / 2 + math.sin(angle) * s * 0.17
        r = s * 0.12
        draw.ellipse((x - r, y - r, x + r, y + r), fill=d.accent, outline=d.ink, width=6)
    r = s * 0.09
    draw.ellipse((s / 2 - r, s / 2 - r, s / 2 + r, s / 2 + r), fill=d.ink)


def drops(draw, s, d):
    for cx, cy, r, colour in ((0.36, 0.56, 0.15, d.ink), (0.64, 0.44, 0.11, d.accent), (0.6, 0.72, 0.07, d.ink)):
        x, y, rad = s * cx, s * cy, s * r
        draw.ellipse((x - rad, y - rad, x + rad, y + rad), fill=colour)
        draw.polygon([(x - rad * 0.92, y - rad * 0.4), (x, y - rad * 2.1), (x + rad * 0.92, y - rad * 0.4)],
                     fill=colour)


def tiles(draw, s, d):
    step = s * 0.16
    for row in range(4):
        for col in range(4):
            x, y = s * 0.18 + col * step, s * 0.18 + row * step
            colour = d.ink if (row + col) % 2 == 0 else d.accent
            draw.rounded_rectangle((x, y, x + step * 0.86, y + step * 0.86), radius=step * 0.16, fill=colour)


def rose(draw, s, d):
    for i, colour in enumerate((d.accent, d.ink, d.accent, d.ink)):
        r = s * (0.3 - i * 0.07)
        draw.ellipse((s / 2 - r, s / 2 - r * 0.9, s / 2 + r, s / 2 + r * 0.9), fill=colour)
    draw.ellipse((s * 0.18, s * 0.78, s * 0.82, s * 0.86), fill=d.ink)


def stripes(draw, s, d):
    band = s * 0.08
    for i in range(-12, 14):
        x = i * band * 2
        colour = d.ink if i % 2 else d.accent
        draw.polygon([(x, s), (x + band, s), (x + band + s, 0), (x + s, 0)], fill=colour)


def nuts(draw, s, d):
    spots = ((0.32, 0.34), (0.62, 0.3), (0.46, 0.55), (0.74, 0.6), (0.28, 0.7), (0.56, 0.78))
    for i, (cx, cy) in enumerate(spots):
        x, y = s * cx, s * cy
        colour = d.ink if i % 2 else d.accent
        draw.ellipse((x - s * 0.1, y - s * 0.07, x + s * 0.1, y + s * 0.07), fill=colour)


def cup(draw, s, d):
    draw.ellipse((s * 0.18, s * 0.7, s * 0.82, s * 0.82), fill=d.accent)
    draw.chord((s * 0.28, s * 0.22, s * 0.72, s * 0.78), 0, 180, fill=d.ink)
    draw.ellipse((s * 0.28, s * 0.44, s * 0.72, s * 0.56), fill=d.accent)


def weave(draw, s, d):
    r = s * 0.34
    draw.ellipse((s / 2 - r, s / 2 - r, s / 2 + r, s / 2 + r), fill=d.accent)
    for i in range(-5, 6):
        dx = i * s * 0.06
        dy = math.sqrt(r * r - dx * dx)  # keep each strand inside the coaster
        draw.line((s / 2 + dx, s / 2 - dy, s / 2 + dx, s / 2 + dy), fill=d.ink, width=int(s * 0.018))
    draw.ellipse((s / 2 - r, s / 2 - r, s / 2 + r, s / 2 + r), outline=d.ink, width=int(s * 0.03))


def bowl(draw, s, d):
    draw.pieslice((s * 0.16, s * 0.1, s * 0.84, s * 0.78), 0, 180, fill=d.ink)
    draw.ellipse((s * 0.16, s * 0.39, s * 0.84, s * 0.49), fill=d.accent)
    for x in (0.32, 0.5, 0.68):
        draw.ellipse((s * x - s * 0.03, s * 0.6, s * x + s * 0.03, s * 0.66), fill=d.background)
    draw.rectangle((s * 0.4, s * 0.76, s * 0.6, s * 0.8), fill=d.ink)


def runner(draw, s, d):
    top, height = s * 0.22, s * 0.56
    draw.rectangle((s * 0.08, top, s * 0.92, top + height), fill=d.accent)
    for i in range(7):
        y = top + s * 0.04 + i * s * 0.075
        draw.rectangle((s * 0.08, y, s * 0.92, y + s * 0.03), fill=d.ink)
    for x in range(12):
        fx = s * 0.1 + x * s * 0.072
        draw.line((fx, top + height, fx, top + height + s * 0.05), fill=d.ink, width=6)


MOTIFS = {
    "leaves": leaves, "cake": cake, "flower": flower, "drops": drops, "tiles": tiles, "rose": rose,
    "stripes": stripes, "nuts": nuts, "cup": cup, "weave": weave, "bowl": bowl, "runner": runner,
}
