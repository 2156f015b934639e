"""order name terms: every order indexed under its contact name's characters, bigrams and words, for the
owner's search by name (instead of 0011's scan of ix_order_contact_name, dropped)

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

from core.search import document_terms

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BATCH = 5000


def upgrade():
    table = op.create_table(
        "order_name_term",
        sa.Column("term", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["order.id"], name=op.f("fk_order_name_term_order_id_order"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term", "order_id", name=op.f("pk_order_name_term")),
    )
    op.create_index(op.f("ix_order_name_term_order_id"), "order_name_term", ["order_id"])
    connection = op.get_bind()
    rows = []
    for order_id, contact_name in connection.execute(sa.text('SELECT id, contact_name FROM "order"')).all():
        rows += [{"term": term, "order_id": order_id} for term in sorted(document_terms(contact_name))]
        if len(rows) >= BATCH:
            connection.execute(table.insert(), rows)
            rows = []
    if rows:
        connection.execute(table.insert(), rows)
    op.drop_index(op.f("ix_order_contact_name"), table_name="order")  # 0011's, for the scan the terms replace


def downgrade():
    op.create_index(op.f("ix_order_contact_name"), "order", ["contact_name"])
    op.drop_index(op.f("ix_order_name_term_order_id"), table_name="order_name_term")
    op.drop_table("order_name_term")
