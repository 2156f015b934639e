"""the owner runs the shop: product images, stock log, hidden categories, courier and tracking, alert outbox

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("category", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visible", sa.Boolean(), nullable=False, server_default="1"))

    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("courier", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("courier_name", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("tracking_no", sa.String(length=40), nullable=True))

    op.create_table(
        "product_image",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], name=op.f("fk_product_image_product_id_product")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_image")),
    )
    with op.batch_alter_table("product_image", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_image_product_id"), ["product_id"], unique=False)

    op.create_table(
        "stock_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.Integer(), nullable=False),
        sa.Column("stock_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["order.id"], name=op.f("fk_stock_log_order_id_order")),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], name=op.f("fk_stock_log_product_id_product")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_log")),
    )
    with op.batch_alter_table("stock_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stock_log_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_stock_log_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_stock_log_product_id"), ["product_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["order.id"], name=op.f("fk_outbox_order_id_order")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_next_attempt_at"), ["next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_status"), ["status"], unique=False)

    op.create_table(
        "outbox_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name=op.f("fk_outbox_attempt_outbox_id_outbox")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_attempt")),
    )
    with op.batch_alter_table("outbox_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_attempt_outbox_id"), ["outbox_id"], unique=False)


def downgrade():
    with op.batch_alter_table("outbox_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_attempt_outbox_id"))
    op.drop_table("outbox_attempt")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_outbox_order_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_outbox_created_at"))
    op.drop_table("outbox")
    with op.batch_alter_table("stock_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stock_log_product_id"))
        batch_op.drop_index(batch_op.f("ix_stock_log_order_id"))
        batch_op.drop_index(batch_op.f("ix_stock_log_created_at"))
    op.drop_table("stock_log")
    with op.batch_alter_table("product_image", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_image_product_id"))
    op.drop_table("product_image")
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_column("tracking_no")
        batch_op.drop_column("courier_name")
        batch_op.drop_column("courier")
    with op.batch_alter_table("category", schema=None) as batch_op:
        batch_op.drop_column("visible")
