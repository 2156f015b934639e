"""order has_refund: set with an order's first refund, and a partial index of those orders for the owner's
有退款 filter (instead of looking up every refunded order in the table and sorting them)

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

HAS_REFUND = sa.column("has_refund").is_(True)


def upgrade():
    # Plain ALTER TABLE on both databases: a batch copy of "order" on SQLite would lose its totals triggers.
    op.add_column("order", sa.Column("has_refund", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute('UPDATE "order" SET has_refund = true WHERE id IN (SELECT order_id FROM refund)')
    op.create_index("ix_order_refunded_created_at", "order",
                    ["created_at", "id", "status", "total_fen", "refunded_fen", "has_refund"],
                    sqlite_where=HAS_REFUND, postgresql_where=HAS_REFUND)


def downgrade():
    op.drop_index("ix_order_refunded_created_at", table_name="order")
    op.drop_column("order", "has_refund")
