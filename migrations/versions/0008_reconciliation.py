"""daily reconciliation against WeChat Pay's trade bill: a run per day and its differences

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bill_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=False),
        sa.Column("hash_value", sa.String(length=40), nullable=True),
        sa.Column("bill_text", sa.Text(), nullable=True),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            "bill_paid_fen", "bill_refunded_fen", "bill_payments", "bill_refunds",
            "shop_paid_fen", "shop_refunded_fen", "shop_payments", "shop_refunds")],
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_run")),
        sa.UniqueConstraint("bill_date", name=op.f("uq_bill_run_bill_date")),
    )
    with op.batch_alter_table("bill_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bill_run_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_bill_run_next_try_at"), ["next_try_at"], unique=False)
    op.create_table(
        "bill_difference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("action", sa.String(length=12), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("out_trade_no", sa.String(length=32), nullable=True),
        sa.Column("out_refund_no", sa.String(length=64), nullable=True),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("bill_fen", sa.Integer(), nullable=True),
        sa.Column("shop_fen", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["order.id"], name=op.f("fk_bill_difference_order_id_order")),
        sa.ForeignKeyConstraint(["run_id"], ["bill_run.id"], name=op.f("fk_bill_difference_run_id_bill_run")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bill_difference")),
    )
    with op.batch_alter_table("bill_difference", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bill_difference_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_bill_difference_run_id"), ["run_id"], unique=False)


def downgrade():
    op.drop_table("bill_difference")
    op.drop_table("bill_run")
