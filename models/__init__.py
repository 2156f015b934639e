"""SQLAlchemy models. Import from here: ``from models import Order, Product``."""
from models.base import Base
from models.catalog import Category, Product, ProductSearchTerm, reindex_products
from models.order import Delivery, Order, OrderItem, new_out_trade_no
from models.owner import LoginFailure, Owner
from models.payment import PaymentEvent, Refund
from models.rate_limit import RateLimitCounter

__all__ = [
    "Base", "Category", "Product", "ProductSearchTerm", "reindex_products",
    "Delivery", "Order", "OrderItem", "new_out_trade_no",
    "LoginFailure", "Owner", "PaymentEvent", "Refund", "RateLimitCounter",
]
