"""Product search: the terms of the query (core.search) matched against the product_search_term index, ranked.

One indexed lookup per query on SQLite and PostgreSQL alike: the products having enough of the query's
terms, ranked by a whole-name match first, then how many terms they have and where (name 4, category 2,
description 1), in-stock before sold out, and shorter names (more of them is the query) first. A query
whose bigrams find nothing is tried once more by its single characters ("绿茶" then finds a product with 绿
and 茶 anywhere in its name, category or description).
"""
from math import ceil

from sqlalchemy import Select, case, func, select

from core.search import query_characters, query_terms
from extensions import db
from models import Product, ProductSearchTerm

MAX_TERMS = 40


def _ranked(terms: list[str], minimum: int, text: str) -> Select:
    term = ProductSearchTerm
    matches = (
        select(term.product_id, func.count().label("matched"), func.sum(term.weight).label("score"))
        .where(term.term.in_(terms))
        .group_by(term.product_id)
        .having(func.count() >= minimum)
        .subquery()
    )
    return (
        select(Product)
        .join(matches, matches.c.product_id == Product.id)
        .where(Product.active.is_(True))
        .order_by(
            case((Product.name.icontains(text, autoescape=True), 1), else_=0).desc(),
            matches.c.matched.desc(), matches.c.score.desc(),
            case((Product.stock > 0, 1), else_=0).desc(), func.length(Product.name), Product.id,
        )
    )


def _has_results(statement: Select) -> bool:
    return db.session.scalar(select(func.count()).select_from(statement.limit(1).subquery())) > 0


def search_products(text: str) -> Select | None:
    """A select of the active products matching ``text``, best first (None when it holds nothing to search)."""
    terms = query_terms(text)[:MAX_TERMS]
    if not terms:
        return None
    statement = _ranked(terms, max(1, ceil(len(terms) / 2)), text)
    characters = query_characters(text)[:MAX_TERMS]
    if len(characters) > len(terms) and not _has_results(statement):
        needed = len(characters) if len(characters) <= 3 else ceil(len(characters) * 2 / 3)
        statement = _ranked(characters, needed, text)
    return statement
