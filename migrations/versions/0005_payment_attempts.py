"""payment attempts: each way of paying an order is its own attempt with its own out_trade_no

Existing orders become one Native attempt each, under their own out_trade_no, carrying their code_url,
its expiry and (when paid) their transaction id; refunds and payment events point at that attempt.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "payment_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("prompt", sa.String(length=512), nullable=True),
        sa.Column("prompt_expires_at", sa.DateTime(), nullable=True),
        sa.Column("payer_openid", sa.String(length=64), nullable=True),
        sa.Column("client_ip", sa.String(length=45), nullable=True),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("paid_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("length(out_trade_no) BETWEEN 6 AND 32",
                           name=op.f("ck_payment_attempt_out_trade_no_length")),
        sa.ForeignKeyConstraint(["order_id"], ["order.id"], name=op.f("fk_payment_attempt_order_id_order")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempt")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_payment_attempt_out_trade_no")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_payment_attempt_transaction_id")),
    )
    with op.batch_alter_table("payment_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_attempt_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payment_attempt_status"), ["status"], unique=False)

    # Every existing order paid (or was to be paid) by its QR code: one Native attempt, same number.
    op.execute("""
        INSERT INTO payment_attempt (order_id, out_trade_no, channel, status, prompt, prompt_expires_at,
                                     transaction_id, created_at, paid_at, closed_at)
        SELECT id, out_trade_no, 'native',
               CASE WHEN transaction_id IS NOT NULL THEN 'paid'
                    WHEN status = 'closed' THEN 'closed' ELSE 'open' END,
               code_url, code_url_expires_at, transaction_id, created_at, paid_at,
               CASE WHEN transaction_id IS NULL AND status = 'closed' THEN closed_at END
        FROM "order"
    """)

    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("extra_payment", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index(batch_op.f("ix_refund_attempt_id"), ["attempt_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_refund_attempt_id_payment_attempt"), "payment_attempt",
                                    ["attempt_id"], ["id"])
    with op.batch_alter_table("payment_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_payment_event_attempt_id"), ["attempt_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_payment_event_attempt_id_payment_attempt"), "payment_attempt",
                                    ["attempt_id"], ["id"])
    for table in ("refund", "payment_event"):
        op.execute(f"""
            UPDATE {table} SET attempt_id =
                (SELECT payment_attempt.id FROM payment_attempt WHERE payment_attempt.order_id = {table}.order_id)
            WHERE order_id IS NOT NULL
        """)

    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_column("code_url_expires_at")
        batch_op.drop_column("code_url")


def downgrade():
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code_url", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("code_url_expires_at", sa.DateTime(), nullable=True))
    op.execute("""
        UPDATE "order" SET
            code_url = (SELECT prompt FROM payment_attempt
                        WHERE payment_attempt.out_trade_no = "order".out_trade_no AND channel = 'native'),
            code_url_expires_at = (SELECT prompt_expires_at FROM payment_attempt
                                   WHERE payment_attempt.out_trade_no = "order".out_trade_no AND channel = 'native')
    """)
    with op.batch_alter_table("payment_event", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_payment_event_attempt_id_payment_attempt"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_payment_event_attempt_id"))
        batch_op.drop_column("attempt_id")
    with op.batch_alter_table("refund", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_refund_attempt_id_payment_attempt"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_refund_attempt_id"))
        batch_op.drop_column("extra_payment")
        batch_op.drop_column("attempt_id")
    with op.batch_alter_table("payment_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_attempt_status"))
        batch_op.drop_index(batch_op.f("ix_payment_attempt_order_id"))
    op.drop_table("payment_attempt")
