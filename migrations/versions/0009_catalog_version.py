"""catalog version: a number triggers raise on every change to categories, products and product images,
which the cached catalog pages are checked against

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

from models import catalog_version

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "catalog_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_version")),
    )
    catalog_version.install(op.get_bind())


def downgrade():
    connection = op.get_bind()
    for statement in catalog_version.drop_statements(connection.dialect.name):
        op.execute(statement)
    op.drop_table("catalog_version")
