"""SQLAlchemy models. Import from here: ``from models import Order, Product``."""
from models.base import Base, utcnow
from models.catalog import Category, Product
from models.order import Order, OrderItem, OrderStatus, new_out_trade_no
from models.owner import LoginFailure, Owner
from models.payment import PaymentEvent, Refund, RefundStatus

__all__ = [
    "Base", "utcnow", "Category", "Product", "Order", "OrderItem", "OrderStatus", "new_out_trade_no",
    "LoginFailure", "Owner", "PaymentEvent", "Refund", "RefundStatus",
]
