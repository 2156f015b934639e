"""Search finds what a customer types: bigrams and characters of names, categories and descriptions, ranked,
from an index the models keep up to date."""
import re

import pytest
from sqlalchemy import func, select

from core.search import document_terms, query_characters, query_terms
from extensions import db
from models import Category, Product, ProductSearchTerm, reindex_products


def names(client, query):
    html = client.get("/search", query_string={"q": query}).get_data(as_text=True)
    return re.findall(r'<span class="product-card-name">(.*?)</span>', html)


@pytest.fixture
def shop(make_product):
    """Teas, snacks and a cup, like the demo shop."""
    ids = {}
    for name, category in [("云南普洱熟茶饼 357g", "茶饮"), ("西湖龙井 明前特级 100g", "茶饮"),
                           ("福建白牡丹白茶 150g", "茶饮"), ("桂花乌龙冷泡茶包 12袋", "茶饮"),
                           ("云南玫瑰鲜花饼 6枚", "零食"), ("手工黑芝麻糖 250g", "零食"), ("龙泉青瓷品茗杯", "器物")]:
        ids[name] = make_product(name=name, category=category)
    return ids


def test_terms_are_characters_and_bigrams_of_chinese_and_whole_latin_words():
    assert query_terms("普洱茶") == ["普洱", "洱茶"]
    assert query_terms("茶") == ["茶"]
    assert query_terms("Earl Grey 红茶！") == ["earl", "grey", "红茶"]
    assert query_terms("ＡＢＣ１２３") == ["abc123"]  # full-width letters and digits
    assert query_characters("绿茶") == ["绿", "茶"]
    assert {"普", "普洱", "洱熟", "357g", "357", "g"} <= document_terms("云南普洱熟茶饼 357g")


def test_the_issue_examples(client, shop):
    assert names(client, "普洱茶") == ["云南普洱熟茶饼 357g"]
    assert set(names(client, "茶")) == {"云南普洱熟茶饼 357g", "西湖龙井 明前特级 100g", "福建白牡丹白茶 150g",
                                       "桂花乌龙冷泡茶包 12袋"}


def test_names_come_first_then_categories_then_descriptions(app, client, make_product):
    in_description = make_product(name="紫砂壶", category="器物")
    with app.app_context():
        db.session.get(Product, in_description).description = "泡普洱最合适"
        db.session.commit()
    make_product(name="普洱小沱茶", category="茶饮")
    make_product(name="普洱", category="茶饮")

    assert names(client, "普洱") == ["普洱", "普洱小沱茶", "紫砂壶"]
    assert names(client, "茶饮") == ["普洱", "普洱小沱茶"]  # the category counts; same score: shorter name first


def test_a_query_whose_pairs_find_nothing_is_tried_by_its_characters(app, client, make_product):
    longjing = make_product(name="西湖龙井", category="茶饮")
    with app.app_context():
        db.session.get(Product, longjing).description = "汤色嫩绿"
        db.session.commit()
    make_product(name="绿豆糕", category="零食")

    assert names(client, "绿茶") == ["西湖龙井"]  # 绿 in its description, 茶 in its category


def test_a_long_query_needs_most_of_its_pairs(client, shop):
    assert names(client, "云南普洱熟茶饼") == ["云南普洱熟茶饼 357g"]  # not the 云南 flower cakes
    assert names(client, "手工芝麻糖") == ["手工黑芝麻糖 250g"]


def test_the_index_follows_renames_deactivation_and_category_changes(app, client, shop):
    cup = shop["龙泉青瓷品茗杯"]
    with app.app_context():
        db.session.get(Product, cup).name = "龙泉青瓷普洱杯"
        db.session.commit()
    assert "龙泉青瓷普洱杯" in names(client, "普洱")

    with app.app_context():
        db.session.get(Product, cup).active = False
        db.session.commit()
    assert "龙泉青瓷普洱杯" not in names(client, "普洱")

    with app.app_context():
        db.session.scalar(select(Category).filter_by(name="零食")).name = "点心茶点"
        db.session.commit()
    assert "手工黑芝麻糖 250g" in names(client, "茶点")


def test_reindexing_everything_gives_the_same_index(app, shop):
    with app.app_context():
        before = db.session.execute(select(ProductSearchTerm.term, ProductSearchTerm.product_id,
                                           ProductSearchTerm.weight).order_by(ProductSearchTerm.term,
                                                                              ProductSearchTerm.product_id)).all()
        assert reindex_products(db.session.connection()) == len(shop)
        db.session.commit()
        after = db.session.execute(select(ProductSearchTerm.term, ProductSearchTerm.product_id,
                                          ProductSearchTerm.weight).order_by(ProductSearchTerm.term,
                                                                             ProductSearchTerm.product_id)).all()
        assert before == after and len(after) > 100
        assert db.session.scalar(select(func.count()).select_from(ProductSearchTerm).where(
            ProductSearchTerm.term == "茶")) == 4
