"""checkout submission token: one order per submitted checkout form

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_token", sa.String(length=43), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_order_submission_token"), ["submission_token"])


def downgrade():
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_order_submission_token"), type_="unique")
        batch_op.drop_column("submission_token")
