"""indexes at scale: the owner's order list newest first (whole or by status) with its totals from the
index, the reconcile job's due pending orders, the home page's product counts per category

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f("ix_order_created_at_id"), "order",
                    ["created_at", "id", "status", "total_fen", "refunded_fen"])
    op.create_index(op.f("ix_order_status_created_at"), "order",
                    ["status", "created_at", "id", "total_fen", "refunded_fen"])
    op.create_index(op.f("ix_order_status_next_query_at"), "order", ["status", "next_query_at", "created_at"])
    op.create_index(op.f("ix_product_category_id_active"), "product", ["category_id", "active"])
    # Prefixes of the new ones.
    op.drop_index(op.f("ix_order_created_at"), table_name="order")
    op.drop_index(op.f("ix_order_status"), table_name="order")
    op.drop_index(op.f("ix_product_category_id"), table_name="product")


def downgrade():
    op.create_index(op.f("ix_product_category_id"), "product", ["category_id"])
    op.drop_index(op.f("ix_product_category_id_active"), table_name="product")
    op.create_index(op.f("ix_order_status"), "order", ["status"])
    op.create_index(op.f("ix_order_created_at"), "order", ["created_at"])
    op.drop_index(op.f("ix_order_status_next_query_at"), table_name="order")
    op.drop_index(op.f("ix_order_status_created_at"), table_name="order")
    op.drop_index(op.f("ix_order_created_at_id"), table_name="order")
