"""SQLAlchemy models. Import from here: ``from models import Order, Product``."""
from models.alerts import Outbox, OutboxAttempt
from models.base import Base
from models.catalog import Category, Product, ProductImage, ProductSearchTerm, reindex_products
from models.catalog_version import CatalogVersion
from models.order import Delivery, Order, OrderItem, new_out_trade_no
from models.order_search import OrderNameTerm
from models.order_totals import OrderDayTotals
from models.owner import LoginFailure, Owner
from models.payment import PaymentAttempt, PaymentEvent, Refund
from models.rate_limit import RateLimitCounter
from models.reconciliation import BillDifference, BillRun
from models.stock import StockLog

__all__ = [
    "Base", "Category", "Product", "ProductImage", "ProductSearchTerm", "reindex_products", "CatalogVersion",
    "StockLog", "Outbox", "OutboxAttempt", "Delivery", "Order", "OrderItem", "new_out_trade_no", "OrderDayTotals",
    "OrderNameTerm", "LoginFailure", "Owner", "PaymentAttempt", "PaymentEvent", "Refund", "RateLimitCounter",
    "BillRun", "BillDifference",
]
