"""order day totals: the orders' count and amounts per Beijing-time day and status, kept by triggers, which the
owner's order list sums instead of every order

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

from models import order_totals

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "order_day_totals",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_count", sa.Integer(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "status", name=op.f("pk_order_day_totals")),
    )
    order_totals.install(op.get_bind())


def downgrade():
    connection = op.get_bind()
    for statement in order_totals.drop_statements(connection.dialect.name):
        op.execute(statement)
    op.drop_table("order_day_totals")
