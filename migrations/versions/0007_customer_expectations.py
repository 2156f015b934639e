"""customer expectations (issue 15): shipping fee, 省/市/区, product alt text, the search index

Revision ID: 0007
Revises: 0006

Existing orders keep their one-line address (the new fields are empty: Order.delivery reads the address as
the detail) and a shipping fee of 0. The search index is built here for the products already in the shop,
with the same terms as the models' events (core.search).
"""
import sqlalchemy as sa
from alembic import op

from core.search import TERM_MAX_LENGTH, weighted_terms

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# models.catalog's NAME_WEIGHT, CATEGORY_WEIGHT, DESCRIPTION_WEIGHT at the time of this migration.
WEIGHTS = (4, 2, 1)


def upgrade():
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shipping_fen", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("province", sa.String(length=20), server_default="", nullable=False))
        batch_op.add_column(sa.Column("city", sa.String(length=20), server_default="", nullable=False))
        batch_op.add_column(sa.Column("district", sa.String(length=20), server_default="", nullable=False))
        batch_op.add_column(sa.Column("address_detail", sa.String(length=120), server_default="", nullable=False))
        batch_op.create_check_constraint(
            batch_op.f("ck_order_shipping_fen_within_total"), "shipping_fen >= 0 AND shipping_fen <= total_fen")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("image_alt", sa.String(length=120), server_default="", nullable=False))
    term_table = op.create_table(
        "product_search_term",
        sa.Column("term", sa.String(length=TERM_MAX_LENGTH), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], name=op.f("fk_product_search_term_product_id_product"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("term", "product_id", name=op.f("pk_product_search_term")),
    )
    with op.batch_alter_table("product_search_term", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_search_term_product_id"), ["product_id"], unique=False)

    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT product.id, product.name, product.description, category.name FROM product "
        "JOIN category ON category.id = product.category_id"
    )).all()
    batch = []
    for product_id, name, description, category_name in rows:
        fields = zip((name, category_name, description or ""), WEIGHTS)
        batch.extend({"term": term, "product_id": product_id, "weight": weight}
                     for term, weight in weighted_terms(fields).items())
    if batch:
        op.bulk_insert(term_table, batch)


def downgrade():
    with op.batch_alter_table("product_search_term", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_search_term_product_id"))
    op.drop_table("product_search_term")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("image_alt")
    with op.batch_alter_table("order", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_order_shipping_fen_within_total"), type_="check")
        batch_op.drop_column("address_detail")
        batch_op.drop_column("district")
        batch_op.drop_column("city")
        batch_op.drop_column("province")
        batch_op.drop_column("shipping_fen")
