"""The cart, kept in the signed session as {str(product_id): quantity}; prices always come from the database."""
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from core.money import format_fen
from extensions import db
from models import Product

SESSION_KEY = "cart"
# Distinct products a cart may hold; keeps the session cookie far below the browsers' 4 KB limit.
MAX_LINES = 30
# Upper bound used when reading a session that predates a lower CART_MAX_QUANTITY; views enforce the real one.
_SANE_QUANTITY = 10_000


@dataclass
class CartLine:
    product: Product
    quantity: int

    @property
    def line_total_fen(self) -> int:
        return self.product.price_fen * self.quantity

    @property
    def problem(self) -> str | None:
        """Why this line cannot be bought as it stands, or None."""
        if self.product.stock <= 0:
            return "已售罄"
        if self.quantity > self.product.stock:
            return f"库存仅剩 {self.product.stock} 件"
        return None


def stock_problem(product: Product, quantity: int, already_in_cart: int = 0) -> str | None:
    """Why the cart cannot hold ``quantity`` more of ``product``, or None."""
    wanted = already_in_cart + quantity
    maximum = current_app.config["CART_MAX_QUANTITY"]
    held = f"，购物车中已有 {already_in_cart} 件" if already_in_cart else ""
    if product.stock <= 0:
        return f"「{product.name}」已售罄。"
    if wanted > maximum:
        return f"每种商品最多购买 {maximum} 件{held}。"
    if wanted > product.stock:
        return f"库存不足：「{product.name}」仅剩 {product.stock} 件{held}。"
    return None


def read_cart(session) -> dict[int, int]:
    """Return the session's cart as {product_id: quantity}, ignoring anything malformed."""
    raw = session.get(SESSION_KEY)
    if not isinstance(raw, dict):
        return {}
    cart = {}
    for key, quantity in raw.items():
        if not (isinstance(key, str) and key.isdecimal() and type(quantity) is int):
            continue
        if 0 < quantity <= _SANE_QUANTITY:
            cart[int(key)] = quantity
    return cart


def write_cart(session, cart: dict[int, int]) -> None:
    """Store the cart in the session, dropping it entirely when empty."""
    if cart:
        session[SESSION_KEY] = {str(product_id): quantity for product_id, quantity in cart.items()}
    else:
        session.pop(SESSION_KEY, None)


def set_quantity(session, product_id: int, quantity: int) -> None:
    """Set one line's quantity (the caller has validated it)."""
    cart = read_cart(session)
    cart[product_id] = quantity
    write_cart(session, cart)


def remove_line(session, product_id: int) -> bool:
    """Remove one line; return whether it was there."""
    cart = read_cart(session)
    found = cart.pop(product_id, None) is not None
    write_cart(session, cart)
    return found


def clear_cart(session) -> None:
    """Empty the cart."""
    session.pop(SESSION_KEY, None)


def cart_lines(session) -> tuple[list[CartLine], int]:
    """Load the cart's products; drop lines whose product vanished or went inactive.

    Returns the lines in the order they were added and how many lines were dropped.
    """
    cart = read_cart(session)
    if not cart:
        return [], 0
    products = {
        product.id: product
        for product in db.session.scalars(
            select(Product).where(Product.id.in_(cart), Product.on_sale)
        )
    }
    lines = [CartLine(products[pid], quantity) for pid, quantity in cart.items() if pid in products]
    dropped = len(cart) - len(lines)
    if dropped:
        write_cart(session, {line.product.id: line.quantity for line in lines})
    return lines, dropped


def cart_count(session) -> int:
    """Count the units in the cart, for the header badge."""
    cart = read_cart(session)
    if not cart:
        return 0
    try:
        active_ids = set(
            db.session.scalars(select(Product.id).where(Product.id.in_(cart), Product.on_sale))
        )
    except SQLAlchemyError:
        # Rendering an error page after a database failure: count what the session holds.
        return sum(cart.values())
    return sum(quantity for pid, quantity in cart.items() if pid in active_ids)


@dataclass
class Refill:
    """What 再来一单 put back in the cart: units added, and what changed since the order, in words."""

    units: int = 0
    changes: list[str] | None = None


def refill_from_order(session, items) -> Refill:
    """Put an order's items (OrderItem-likes) back in the cart at today's prices and stock.

    Every line is re-checked like a new addition: products gone or sold out are left out, quantities are
    cut to the stock and CART_MAX_QUANTITY (added to what the cart already holds), and a price that moved
    since the order is named. The cart only ever holds product ids and quantities.
    """
    cart = read_cart(session)
    maximum = current_app.config["CART_MAX_QUANTITY"]
    wanted = {}
    for item in items:
        wanted.setdefault(item.product_id, (item.product_name, item.unit_price_fen, 0))
        name, price, quantity = wanted[item.product_id]
        wanted[item.product_id] = (name, price, quantity + item.quantity)
    products = {
        product.id: product
        for product in db.session.scalars(select(Product).where(Product.id.in_(wanted), Product.active.is_(True)))
    }
    refill = Refill(changes=[])
    for product_id, (name, old_price, quantity) in wanted.items():
        product = products.get(product_id)
        if product is None:
            refill.changes.append(f"「{name}」已下架，没有放入购物车。")
            continue
        if product.stock <= 0:
            refill.changes.append(f"「{product.name}」已售罄，没有放入购物车。")
            continue
        already = cart.get(product_id, 0)
        if not already and len(cart) >= MAX_LINES:
            refill.changes.append(f"购物车最多可放 {MAX_LINES} 种商品，「{product.name}」没有放入。")
            continue
        room = min(product.stock, maximum) - already
        if room <= 0:
            refill.changes.append(f"「{product.name}」购物车中已有 {already} 件，不能再多了。")
            continue
        added = min(quantity, room)
        if added < quantity:
            refill.changes.append(f"「{product.name}」库存或限购不足，只放入了 {added} 件（原订单 {quantity} 件）。")
        if product.price_fen != old_price:
            refill.changes.append(
                f"「{product.name}」价格由 {format_fen(old_price)} 变为 {format_fen(product.price_fen)}。")
        cart[product_id] = already + added
        refill.units += added
    write_cart(session, cart)
    return refill
