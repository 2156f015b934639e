"""The owner's catalog pages: products (list, create, edit, hide, delete), images, categories."""
import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from extensions import db
from models import Category, Product, ProductImage
from services import media
from tests.helpers import csrf, csrf_token_from, flashes


def product_row(app, product_id):
    with app.app_context():
        return db.session.get(Product, product_id)


def new_product_form(client, **fields):
    page = client.get("/admin/products/new").get_data(as_text=True)
    category = re.search(r'<option (?:selected )?value="(\d+)"', page).group(1)
    return {"csrf_token": csrf_token_from(page), "name": "五香牛肉干 200g", "category_id": category,
            "price": "58", "stock": "12", "description": "内蒙古草原牛肉", "active": "y", **fields}


def jpeg(size=(1200, 900), colour="red", exif=None, fmt="JPEG", mode="RGB") -> io.BytesIO:
    buffer = io.BytesIO()
    image = Image.new(mode, size, colour)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(buffer, fmt, **kwargs)
    buffer.seek(0)
    return buffer


def post_multipart(client, url, data):
    """POST a multipart form built in memory (the test client would spool a big body to an unclosed temp file)."""
    values = MultiDict()
    for name, value in data.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, tuple):
                item = FileStorage(stream=item[0], filename=item[1], content_type="application/octet-stream")
            values.add(name, item)
    boundary, body = encode_multipart(values)
    return client.post(url, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def create(client, images=(), **fields):
    data = new_product_form(client, **fields)
    if images:
        data["images"] = list(images)
    return post_multipart(client, "/admin/products/new", data)


@pytest.fixture
def category(app):
    with app.app_context():
        cat = Category(name="零食", slug="snacks", position=0)
        db.session.add(cat)
        db.session.commit()
        return cat.id


# -- products -----------------------------------------------------------------------------------------

def test_a_new_product_is_stored_in_fen_with_a_stable_slug_and_appears_in_the_shop(app, owner_client, client,
                                                                                       category):
    response = create(owner_client, price="12.5")
    assert response.status_code == 303
    product_id = int(response.location.rsplit("/", 1)[1])
    product = product_row(app, product_id)
    assert (product.name, product.price_fen, product.stock, product.active) == ("五香牛肉干 200g", 1250, 12, True)
    assert re.fullmatch(r"200g-[2-9a-hj-km-np-z]{6}", product.slug)

    page = owner_client.get(f"/admin/products/{product_id}").get_data(as_text=True)
    assert "商品「五香牛肉干 200g」已创建并上架。" in flashes(page)
    owner_client.post(f"/admin/products/{product_id}", data={
        **new_product_form(owner_client), "csrf_token": csrf_token_from(page), "name": "特级五香牛肉干",
        "stock": "12", "stock_loaded": "12"})
    renamed = product_row(app, product_id)
    assert renamed.name == "特级五香牛肉干" and renamed.slug == product.slug  # links shared in WeChat keep working
    shop_page = client.get(f"/p/{product.slug}")
    assert shop_page.status_code == 200 and "特级五香牛肉干" in shop_page.get_data(as_text=True)


def test_an_edit_and_a_category_rename_are_found_by_search_and_the_image_is_described(app, owner_client, client,
                                                                                      category):
    product_id = int(create(owner_client, name="五香牛肉干").location.rsplit("/", 1)[1])
    page = owner_client.get(f"/admin/products/{product_id}").get_data(as_text=True)
    assert 'name="image_alt"' in page
    owner_client.post(f"/admin/products/{product_id}", data={
        **new_product_form(owner_client), "csrf_token": csrf_token_from(page), "name": "麻辣猪肉脯",
        "description": "精选猪后腿", "image_alt": "一袋红色包装的猪肉脯", "stock": "12", "stock_loaded": "12"})
    assert product_row(app, product_id).image_alt == "一袋红色包装的猪肉脯"
    assert "麻辣猪肉脯" in client.get("/search?q=猪肉脯").get_data(as_text=True)
    assert "麻辣猪肉脯" not in client.get("/search?q=牛肉干").get_data(as_text=True)

    categories = owner_client.get("/admin/categories").get_data(as_text=True)
    owner_client.post(f"/admin/categories/{category}/rename",
                      data={"csrf_token": csrf_token_from(categories), "name": "熟食"})
    assert "麻辣猪肉脯" in client.get("/search?q=熟食").get_data(as_text=True)


def test_a_chinese_name_gets_a_short_id_slug(app, owner_client, category):
    response = create(owner_client, name="云南玫瑰鲜花饼")
    product = product_row(app, int(response.location.rsplit("/", 1)[1]))
    assert re.fullmatch(r"[2-9a-hj-km-np-z]{8}", product.slug)


@pytest.mark.parametrize("price, message", [("12.345", "最多两位小数"), ("abc", "请输入价格"), ("2000000", "不能超过"),
                                            ("", "请输入价格")])
def test_bad_prices_are_form_errors(app, owner_client, category, price, message):
    response = create(owner_client, price=price)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Product.id)) is None


def test_the_list_searches_filters_and_shows_units_held_by_pending_orders(app, owner_client, make_product,
                                                                           make_order):
    make_product(name="龙井", category="茶饮")
    make_product(name="普洱", category="茶饮", active=False)
    order = make_order(quantity=3, stock=10)  # "订单商品": 7 left, 3 held by the pending order
    page = owner_client.get("/admin/products").get_data(as_text=True)
    row = re.search(rf'data-product-id="{order.product_id}".*?</tr>', page, re.S).group(0)
    assert re.search(r"data-stock>7<", row) and re.search(r"data-held>3<", row)

    found = owner_client.get("/admin/products?q=龙").get_data(as_text=True)
    assert "龙井" in found and "普洱" not in found
    hidden = owner_client.get("/admin/products?state=hidden").get_data(as_text=True)
    assert "普洱" in hidden and "龙井" not in hidden


def test_hiding_a_product_takes_it_out_of_the_shop_and_showing_puts_it_back(app, owner_client, client,
                                                                            make_product):
    product_id = make_product(name="龙井")
    slug = product_row(app, product_id).slug
    token = csrf(owner_client)
    response = owner_client.post(f"/admin/products/{product_id}/hide", data={"csrf_token": token},
                                 follow_redirects=True)
    assert "「龙井」已下架隐藏" in flashes(response.get_data(as_text=True))[0]
    assert client.get(f"/p/{slug}").status_code == 404
    owner_client.post(f"/admin/products/{product_id}/on-sale", data={"csrf_token": token})
    assert client.get(f"/p/{slug}").status_code == 200


def test_a_product_in_an_order_is_never_deleted_only_hidden(app, owner_client, make_order, make_product):
    order = make_order()
    token = csrf(owner_client)
    owner_client.post(f"/admin/products/{order.product_id}/hide", data={"csrf_token": token})
    response = owner_client.post(f"/admin/products/{order.product_id}/delete", data={"csrf_token": token},
                                 follow_redirects=True)
    assert any("这件商品出现在订单中，不能删除" in text for text in flashes(response.get_data(as_text=True)))
    assert product_row(app, order.product_id) is not None

    unused = make_product(name="录错的商品")
    refused = owner_client.post(f"/admin/products/{unused}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "请先下架商品，再删除。" in flashes(refused.get_data(as_text=True))
    owner_client.post(f"/admin/products/{unused}/hide", data={"csrf_token": token})
    deleted = owner_client.post(f"/admin/products/{unused}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "商品「录错的商品」已删除。" in flashes(deleted.get_data(as_text=True))
    assert product_row(app, unused) is None


def test_destructive_product_actions_are_post_only_with_csrf(app, owner_client, make_product):
    product_id = make_product()
    assert owner_client.get(f"/admin/products/{product_id}/hide").status_code == 405
    assert owner_client.post(f"/admin/products/{product_id}/hide", data={}).status_code == 400
    assert owner_client.post(f"/admin/products/{product_id}", data={"name": "x"}).status_code == 400
    assert product_row(app, product_id).active


# -- categories ---------------------------------------------------------------------------------------

def test_categories_are_created_renamed_reordered_and_hidden(app, owner_client, client, make_product):
    token = csrf(owner_client, "/admin/categories")
    for name in ("茶饮", "零食"):
        owner_client.post("/admin/categories", data={"csrf_token": token, "name": name})
    duplicate = owner_client.post("/admin/categories", data={"csrf_token": token, "name": "茶饮"})
    assert duplicate.status_code == 400 and "已经有名为「茶饮」的分类。" in duplicate.get_data(as_text=True)
    with app.app_context():
        tea, snacks = db.session.scalars(select(Category).order_by(Category.position)).all()
        tea_id, snacks_id, tea_slug = tea.id, snacks.id, tea.slug
    product_id = make_product(name="手工芝麻糖", category="零食")

    owner_client.post(f"/admin/categories/{snacks_id}/move/up", data={"csrf_token": token})
    owner_client.post(f"/admin/categories/{tea_id}/rename", data={"csrf_token": token, "name": "好茶"})
    with app.app_context():
        assert [(c.name, c.slug == tea_slug) for c in db.session.scalars(
            select(Category).order_by(Category.position))] == [("零食", False), ("好茶", True)]
    home = client.get("/").get_data(as_text=True)
    assert "手工芝麻糖" in home

    hidden = owner_client.post(f"/admin/categories/{snacks_id}/hide", data={"csrf_token": token},
                               follow_redirects=True)
    assert "分类「零食」已隐藏" in flashes(hidden.get_data(as_text=True))[0]
    assert "手工芝麻糖" not in client.get("/").get_data(as_text=True)
    assert client.get(f"/p/{product_row(app, product_id).slug}").status_code == 404
    assert product_row(app, product_id).active  # the product's own state is kept for when it comes back
    owner_client.post(f"/admin/categories/{snacks_id}/show", data={"csrf_token": token})
    assert "手工芝麻糖" in client.get("/").get_data(as_text=True)


# -- images -------------------------------------------------------------------------------------------

def stored_images(app, product_id):
    with app.app_context():
        return [(image.key, image.width, image.height) for image in db.session.scalars(
            select(ProductImage).filter_by(product_id=product_id).order_by(ProductImage.position))]


def test_an_image_is_re_encoded_upright_without_metadata_at_each_size(app, owner_client, client, category):
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was held upright, the pixels lie on their side
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {2: (31.0, 14.0, 0.0)}  # a GPS position
    response = create(owner_client, images=[(jpeg((1600, 1200), exif=exif), "IMG_0001.JPG")])
    product_id = int(response.location.rsplit("/", 1)[1])

    [(key, width, height)] = stored_images(app, product_id)
    assert (width, height) == (720, 960)  # turned upright, fitted in 960
    media_dir = Path(app.config["MEDIA_DIR"])
    for size in sorted(set(media.SIZES.values())):
        with Image.open(media_dir / "products" / f"{key}-{size}.jpg") as stored:
            assert stored.format == "JPEG" and max(stored.size) == size and stored.height > stored.width
            assert not stored.getexif() and "exif" not in stored.info
    detail = media_dir / "products" / f"{key}-960.jpg"
    assert key == __import__("hashlib").sha256(detail.read_bytes()).hexdigest()[:32]

    shop = client.get(f"/p/{product_row(app, product_id).slug}").get_data(as_text=True)
    assert f"/media/products/{key}-960.jpg" in shop
    served = client.get(f"/media/products/{key}-480.jpg")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    served.close()
    assert client.get("/media/products/../../shop.sqlite3").status_code == 404
    assert client.get(f"/media/products/{key}-480.png").status_code == 404


@pytest.mark.parametrize("fmt, mode", [("PNG", "RGBA"), ("WEBP", "RGB")])
def test_png_with_transparency_and_webp_are_taken(app, owner_client, category, fmt, mode):
    response = create(owner_client, images=[(jpeg((300, 300), colour=(0, 0, 0, 0) if mode == "RGBA" else "blue",
                                                  fmt=fmt, mode=mode), f"pic.{fmt.lower()}")])
    assert response.status_code == 303
    [(key, width, height)] = stored_images(app, int(response.location.rsplit("/", 1)[1]))
    assert (width, height) == (300, 300)  # never enlarged
    with Image.open(Path(app.config["MEDIA_DIR"]) / "products" / f"{key}-960.jpg") as stored:
        assert stored.mode == "RGB"
        if mode == "RGBA":
            assert stored.getpixel((10, 10)) > (240, 240, 240)  # transparency flattened onto white


@pytest.mark.parametrize("content, name, message", [
    (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.gif", "不是 JPEG、PNG 或 WebP 图片"),
    (b"hello, not an image", "notes.txt", "不是 JPEG、PNG 或 WebP 图片"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "IMG_1234.HEIC", "HEIC"),
    (b"", "empty.jpg", "是空文件"),
])
def test_other_files_get_a_clear_form_error_and_nothing_is_saved(app, owner_client, category, content, name,
                                                                  message):
    response = create(owner_client, images=[(io.BytesIO(content), name)])
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html and f"「{name}」" in html
    assert 'value="五香牛肉干 200g"' in html  # the owner's typing is kept
    with app.app_context():
        assert db.session.scalar(select(Product.id)) is None


def test_a_truncated_image_and_a_decompression_bomb_are_refused(app, owner_client, category):
    whole = jpeg().getvalue()
    response = create(owner_client, images=[(io.BytesIO(whole[: len(whole) // 2]), "half.jpg")])
    assert response.status_code == 400 and "已损坏或不完整" in response.get_data(as_text=True)

    bomb = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(bomb, "PNG")  # 100 megapixels in a few kilobytes
    bomb.seek(0)
    response = create(owner_client, images=[(bomb, "bomb.png")])
    assert response.status_code == 400 and "尺寸太大" in response.get_data(as_text=True)


def test_an_image_over_the_limit_is_refused_and_only_this_form_takes_big_requests(app, owner_client, category):
    app.config["MAX_IMAGE_BYTES"] = 200_000
    noisy = io.BytesIO()
    Image.effect_noise((800, 800), 100).convert("RGB").save(noisy, "JPEG", quality=100)
    assert noisy.tell() > 200_000
    noisy.seek(0)
    response = create(owner_client, images=[(noisy, "big.jpg")])
    assert response.status_code == 400 and "「big.jpg」超过 0.19" in response.get_data(as_text=True)

    # Another form still has the app's 1 MiB limit; the product form takes several images' worth.
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024
    app.config["MAX_IMAGE_BYTES"] = 1024 * 1024
    big = {"csrf_token": csrf(owner_client, "/admin/categories"), "name": "x" * 10, "pad": "y" * (1024 * 1024 + 10)}
    assert owner_client.post("/admin/categories", data=big).status_code == 413
    data = new_product_form(owner_client)
    data["images"] = [(io.BytesIO(b"z" * (900 * 1024)), f"raw{n}.jpg") for n in range(2)]
    taken = post_multipart(owner_client, "/admin/products/new", data)
    assert taken.status_code == 400 and "不是 JPEG、PNG 或 WebP 图片" in taken.get_data(as_text=True)  # read, checked
    data = new_product_form(owner_client)
    data["images"] = [(io.BytesIO(b"z" * (1024 * 1024)), f"raw{n}.jpg") for n in range(5)]
    too_big = post_multipart(owner_client, "/admin/products/new", data)
    assert too_big.status_code == 413 and "上传的内容太大，什么都没有保存" in too_big.get_data(as_text=True)


def test_images_can_be_reordered_and_removed_and_the_seeded_picture_still_shows(app, owner_client, client,
                                                                                 make_product):
    product_id = make_product(name="龙井")
    with app.app_context():
        db.session.get(Product, product_id).image = "longjing-green-tea.png"  # drawn by `flask seed-demo`
        db.session.commit()
    slug = product_row(app, product_id).slug
    assert "/static/products/longjing-green-tea.png" in client.get(f"/p/{slug}").get_data(as_text=True)

    page = owner_client.get(f"/admin/products/{product_id}").get_data(as_text=True)
    data = {**new_product_form(owner_client), "csrf_token": csrf_token_from(page), "name": "龙井", "stock": "10",
            "stock_loaded": "10", "images": [(jpeg(colour="green"), "a.jpg"), (jpeg(colour="blue"), "b.jpg")]}
    post_multipart(owner_client, f"/admin/products/{product_id}", data)
    (first, *_), (second, *_) = stored_images(app, product_id)
    assert f"/media/products/{first}-480.jpg" in client.get("/").get_data(as_text=True)  # the owner's picture first

    token = csrf_token_from(page)
    with app.app_context():
        second_id = db.session.scalar(select(ProductImage.id).filter_by(key=second))
        first_id = db.session.scalar(select(ProductImage.id).filter_by(key=first))
    owner_client.post(f"/admin/products/{product_id}/images/{second_id}/main", data={"csrf_token": token})
    assert [key for key, *_ in stored_images(app, product_id)] == [second, first]
    owner_client.post(f"/admin/products/{product_id}/images/{first_id}/delete", data={"csrf_token": token})
    assert [key for key, *_ in stored_images(app, product_id)] == [second]
    assert not (Path(app.config["MEDIA_DIR"]) / "products" / f"{first}-480.jpg").exists()
    owner_client.post(f"/admin/products/{product_id}/demo-image/delete", data={"csrf_token": token})
    assert product_row(app, product_id).image is None
