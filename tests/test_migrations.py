"""`flask db upgrade` builds the schema from empty, and the migrations agree with the models."""
import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from extensions import db

ROOT = Path(__file__).resolve().parent.parent


def test_upgrade_from_empty_matches_the_models(app, database_url):
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        assert inspect(db.engine).get_table_names() == []

    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "db", "upgrade"], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "SHOP_ENV": "testing", "DATABASE_URL": database_url}, timeout=120,
    )
    assert result.returncode == 0, result.stderr

    try:
        with app.app_context(), db.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert {"order", "order_item", "product", "payment_event", "refund", "owner"} <= tables
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, db.metadata) == []
    finally:
        with app.app_context():
            db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.session.commit()
