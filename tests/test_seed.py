"""`flask seed-demo`: a dozen products in three categories, images drawn locally, safe to run again."""
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from extensions import db
from models import Category, Product


@pytest.fixture
def image_dir(app, tmp_path):
    """Point the app's static folder at a temporary one, so the test never writes into the repository."""
    app.static_folder = str(tmp_path / "static")
    return tmp_path / "static" / "products"


def catalog(app):
    with app.app_context():
        categories = db.session.scalars(select(Category).order_by(Category.position)).all()
        products = db.session.scalars(select(Product).order_by(Product.id)).all()
        return (
            [(c.slug, c.name) for c in categories],
            [(p.slug, p.name, p.price_fen, p.stock, p.image, p.category.slug, p.active) for p in products],
        )


def test_seed_demo_creates_three_categories_and_a_dozen_products_with_images(app, runner, image_dir):
    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 0, result.output
    assert "已创建 3 个分类、12 件商品。" in result.output
    categories, products = catalog(app)
    assert [slug for slug, _ in categories] == ["tea", "snacks", "homeware"]
    assert len(products) == 12
    assert {category for *_, category, _active in products} == {"tea", "snacks", "homeware"}
    assert all(isinstance(price, int) and price > 0 for _, _, price, *_ in products)
    assert [name for _, name, _, stock, *_ in products if stock == 0] == ["五香牛肉干 200g"]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in name) for _, name, *_ in products)
    for slug, _, _, _, image, _, active in products:
        assert active and image == f"{slug}.png"
        with Image.open(image_dir / image) as picture:
            assert picture.format == "PNG" and picture.size == (480, 480)
            darkest, lightest = picture.convert("L").getextrema()
            assert lightest - darkest > 40, "a picture, not a blank square"


def test_seeding_with_if_empty_twice_changes_nothing_the_second_time(app, runner, image_dir):
    runner.invoke(args=["seed-demo", "--if-empty"])
    before = catalog(app)
    mtimes = {p.name: p.stat().st_mtime_ns for p in image_dir.iterdir()}

    result = runner.invoke(args=["seed-demo", "--if-empty"])

    assert result.exit_code == 0
    assert "商品目录不是空的，跳过演示数据。" in result.output
    assert catalog(app) == before
    assert {p.name: p.stat().st_mtime_ns for p in image_dir.iterdir()} == mtimes


def test_seeding_again_without_if_empty_does_not_duplicate(app, runner, image_dir):
    runner.invoke(args=["seed-demo"])
    before = catalog(app)

    result = runner.invoke(args=["seed-demo"])

    assert result.exit_code == 0
    assert "已创建 0 个分类、0 件商品。" in result.output
    assert catalog(app) == before


def test_if_empty_leaves_an_existing_catalog_alone(app, runner, image_dir, make_product):
    make_product(name="店主自己的商品")

    result = runner.invoke(args=["seed-demo", "--if-empty"])

    assert result.exit_code == 0
    with app.app_context():
        assert db.session.scalar(select(func.count(Product.id))) == 1
    assert not image_dir.exists() or not any(image_dir.iterdir())


def test_a_missing_image_is_drawn_again_even_with_if_empty(app, runner, image_dir):
    runner.invoke(args=["seed-demo", "--if-empty"])
    (image_dir / "celadon-teacup.png").unlink()

    result = runner.invoke(args=["seed-demo", "--if-empty"])

    assert "生成 1 张商品图片" in result.output
    assert (image_dir / "celadon-teacup.png").is_file()


def test_seeded_shop_home_shows_every_category_and_the_sold_out_product(app, runner, client, image_dir):
    runner.invoke(args=["seed-demo"])

    home = client.get("/").get_data(as_text=True)
    sold_out = client.get("/p/spiced-beef-jerky").get_data(as_text=True)
    image = client.get("/static/products/longjing-green-tea.png")

    for slug in ("tea", "snacks", "homeware"):
        assert f'href="/c/{slug}"' in home
    assert "已售罄" in sold_out and 'action="/cart/add"' not in sold_out
    assert image.status_code == 200 and image.mimetype == "image/png"
    image.close()


def test_the_images_folder_is_git_ignored():
    ignored = (Path(__file__).resolve().parent.parent / ".gitignore").read_text().split()
    assert "static/products/" in ignored
