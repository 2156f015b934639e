"""Reads run on nearly every request, on a pooled DBAPI connection below SQLAlchemy's statement and result
layers: the catalog version on every catalog page, a pay page's fingerprint, the status poll's four columns.
A Core query spends most of its time in those layers; here a statement is compiled once per dialect and its
columns' result types (SQLite's datetimes, which the driver returns as text) are applied as Core would.
The driver's errors are wrapped as SQLAlchemy's would be, so a database that is down is still a 503 page.
"""
from collections import namedtuple

from sqlalchemy.exc import DBAPIError


def raw_rows(engine, sql: str, parameters=()) -> list:
    """Every row of ``sql``, in the driver's own types."""
    driver_error = engine.dialect.loaded_dbapi.Error
    try:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, parameters)
            rows = cursor.fetchall()
            cursor.close()
            return rows
        finally:
            connection.close()  # back to the pool, which ends the read's transaction
    except driver_error as error:
        raise DBAPIError.instance(sql, parameters, error, driver_error) from error


class RawQuery:
    """A Core SELECT whose rows are read by ``raw_rows``: named tuples with the values Core would give."""

    def __init__(self, statement):
        self.statement = statement
        self.row = namedtuple("Row", [column.key for column in statement.selected_columns], rename=True)
        self.compiled: dict = {}  # dialect name -> (SQL, parameter order or None, bind and result processors)

    def rows(self, engine, **parameters) -> list:
        sql, order, binds, results = self.compile(engine.dialect)
        values = {name: bind(parameters[name]) if bind else parameters[name] for name, bind in binds.items()}
        raw = raw_rows(engine, sql, [values[name] for name in order] if order is not None else values)
        return [self.row(*(result(value) if result else value for result, value in zip(results, row)))
                for row in raw]

    def first(self, engine, **parameters):
        rows = self.rows(engine, **parameters)
        return rows[0] if rows else None

    def compile(self, dialect):
        if dialect.name not in self.compiled:
            compiled = self.statement.compile(dialect=dialect)
            binds = {name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                     for name, bind in compiled.binds.items()}
            results = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                       for column in self.statement.selected_columns]
            order = list(compiled.positiontup) if compiled.positional else None
            self.compiled[dialect.name] = (compiled.string, order, binds, results)
        return self.compiled[dialect.name]
