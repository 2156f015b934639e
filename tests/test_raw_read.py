"""Reads below SQLAlchemy's layers (models/raw_read.py) give what Core gives, on SQLite and PostgreSQL."""
import pytest
from sqlalchemy.exc import DBAPIError

from blueprints.pay.page_cache import FINGERPRINT
from blueprints.pay.status_poll import STATUS_COLUMNS
from extensions import db
from models.raw_read import raw_rows


@pytest.mark.parametrize("query", [FINGERPRINT, STATUS_COLUMNS], ids=["fingerprint", "status poll"])
def test_rows_are_cores_rows(app, make_order, query):
    order = make_order()
    with app.app_context(), db.engine.connect() as connection:
        core = connection.execute(query.statement, {"token": order.token}).all()
        raw = query.rows(db.engine, token=order.token)

        assert raw == [tuple(row) for row in core] and len(raw) == 1
        assert raw[0].status == core[0].status == "pending"
        assert raw[0].expires_at == core[0].expires_at and raw[0].expires_at.year >= 2026  # a datetime, not text
        assert query.first(db.engine, token="no-such-token") is None


def test_a_driver_error_is_sqlalchemys_and_the_connection_goes_back(app):
    with app.app_context():
        with pytest.raises(DBAPIError):  # what the pages' 503 handler and the status poll's lean path catch
            raw_rows(db.engine, 'SELECT no_such_column FROM "order"')

        assert db.engine.pool.checkedout() == 0
