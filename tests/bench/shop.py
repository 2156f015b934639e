"""A shop to measure: a migrated SQLite database with the demo catalog, sandbox keys and a pending order,
served by gunicorn under the production settings (SHOP_ENV=staging) beside the bare Flask app."""
import os
import secrets
import subprocess
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from wechatpay_sandbox.keys import ensure_keys

from tests.bench import servers

ROOT = servers.ROOT


@dataclass
class BenchShop:
    workdir: Path
    env: dict
    keys: object

    def app(self):
        """The shop's Flask app in this process, on the same database (to prepare data)."""
        from app import create_app

        return create_app({"ENV": "testing", "SECRET_KEY": self.env["SECRET_KEY"],
                           "SQLALCHEMY_DATABASE_URI": self.env["DATABASE_URL"]})

    def flask(self, *args) -> None:
        done = subprocess.run([str(servers.BIN / "flask"), "--app", "app", *args], cwd=ROOT, text=True,
                              env={**os.environ, **self.env}, capture_output=True)
        if done.returncode:  # its output only when it failed: the migrations log every step
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def prepare(workdir: Path, **settings) -> BenchShop:
    """Migrate and seed a database in ``workdir``; settings are extra environment variables."""
    workdir.mkdir(parents=True, exist_ok=True)
    keys = ensure_keys(workdir / "keys")
    env = {
        "SHOP_ENV": "staging", "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": f"sqlite:///{workdir / 'shop.sqlite3'}", "SANDBOX_KEY_DIR": str(keys.directory),
        "WECHATPAY_NOTIFY_URL": "https://shop.example/pay/notify", "MEDIA_DIR": str(workdir / "media"),
        **settings,
    }
    shop = BenchShop(workdir, env, keys)
    shop.flask("db", "upgrade")
    shop.flask("seed-demo", "--if-empty")
    return shop


def pending_orders(app, count: int, minutes: int = 24 * 60) -> list:
    """``count`` orders waiting for payment, each with a Native QR code already placed (no WeChat Pay call
    when shown) and no active query due while measuring. Returns the orders (detached, ids and tokens)."""
    from core.clock import utcnow
    from extensions import db
    from models import Order, OrderItem, PaymentAttempt, Product, new_out_trade_no

    now = utcnow()
    with app.app_context():
        product = db.session.scalar(db.select(Product).where(Product.on_sale).order_by(Product.id))
        orders = []
        for _ in range(count):
            number = new_out_trade_no(now)
            orders.append(Order(
                out_trade_no=number, total_fen=product.price_fen, contact_name="压测", mobile="13800138000",
                province="北京市", city="北京市", district="海淀区", address_detail="中关村大街 27 号",
                address="北京市海淀区 中关村大街 27 号", created_at=now, expires_at=now + timedelta(minutes=minutes),
                last_queried_at=now + timedelta(minutes=minutes),
                items=[OrderItem(product_id=product.id, product_name=product.name, unit_price_fen=product.price_fen,
                                 quantity=1)],
                attempts=[PaymentAttempt(out_trade_no=number, channel="native", created_at=now,
                                         prompt=f"weixin://wxpay/bizpayurl?pr=bench{number[-10:]}",
                                         prompt_expires_at=now + timedelta(minutes=minutes))],
            ))
        db.session.add_all(orders)
        db.session.commit()
        for order in orders:
            db.session.refresh(order)
            db.session.expunge(order)
        return orders


def catalog_paths(app) -> dict[str, str]:
    """A category page and a product page of the demo catalog."""
    from extensions import db
    from models import Category, Product

    with app.app_context():
        category = db.session.scalar(db.select(Category.slug).where(Category.visible).order_by(Category.position))
        product = db.session.scalar(db.select(Product.slug).where(Product.on_sale).order_by(Product.id))
    return {"category": f"/c/{category}", "product": f"/p/{product}"}
