"""order name terms carry their order's created_at, indexed after the term: a page of a common surname's orders
is read newest first from the index instead of looking up and sorting every order of that name

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("order_name_term", sa.Column("created_at", sa.DateTime(), nullable=True))
    op.execute('UPDATE order_name_term SET created_at = '
               '(SELECT "order".created_at FROM "order" WHERE "order".id = order_name_term.order_id)')
    with op.batch_alter_table("order_name_term") as batch:
        batch.alter_column("created_at", existing_type=sa.DateTime(), nullable=False)
    op.create_index("ix_order_name_term_newest", "order_name_term", ["term", "created_at", "order_id"])


def downgrade():
    op.drop_index("ix_order_name_term_newest", table_name="order_name_term")
    with op.batch_alter_table("order_name_term") as batch:
        batch.drop_column("created_at")
