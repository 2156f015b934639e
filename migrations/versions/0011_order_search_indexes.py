"""indexes for the owner's order search: names and mobiles are searched inside, one narrow index each

Revision ID: 0011
Revises: 0010
"""
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(op.f("ix_order_contact_name"), "order", ["contact_name"])
    op.create_index(op.f("ix_order_mobile"), "order", ["mobile"])


def downgrade():
    op.drop_index(op.f("ix_order_mobile"), table_name="order")
    op.drop_index(op.f("ix_order_contact_name"), table_name="order")
