"""The fast path for PostgreSQL: ``COPY (SELECT ...) TO STDOUT`` as CSV, parsed by Arrow's
streaming CSV reader in blocks (bounded memory), with the table's exact Arrow types.

Used for the column types whose PostgreSQL text form Arrow parses exactly (integers, numerics
with precision, text, booleans, dates, timestamps with or without time zone); a table with
any other type takes the general path. NULL and the empty string stay apart (``""`` is an
empty string, an empty field is NULL).
"""

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa

BLOCK_BYTES = 8 << 20


def eligible(conn: sa.Connection, schema: pa.Schema) -> bool:
    """Whether the fast path applies: psycopg on PostgreSQL and only types it parses exactly."""
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return False
    return all(_parsable(f.type) for f in schema)


def _parsable(t: pa.DataType) -> bool:
    return (
        pa.types.is_integer(t)
        or pa.types.is_decimal(t)
        or pa.types.is_string(t)
        or pa.types.is_boolean(t)
        or pa.types.is_date(t)
        or pa.types.is_timestamp(t)
    )


def copy_batches(conn: sa.Connection, query: sa.Select, schema: pa.Schema) -> Iterator[pa.Table]:
    """The rows of ``query`` (whose columns are ``schema``'s, in order) as Arrow tables."""
    compiled = query.compile(dialect=conn.dialect)
    conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")  # timestamptz as +00, this transaction only
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv)", compiled.params) as copy:
            reader = pacsv.open_csv(
                _CopyFile(copy),
                read_options=pacsv.ReadOptions(column_names=schema.names, block_size=BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(newlines_in_values=True),
                convert_options=pacsv.ConvertOptions(
                    column_types={f.name: f.type for f in schema},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                    true_values=["t"],
                    false_values=["f"],
                ),
            )
            for batch in reader:
                yield pa.Table.from_batches([batch]).cast(schema)
    finally:
        cursor.close()


class _CopyFile:
    """A read-only file over a psycopg ``Copy``'s chunks, for Arrow's CSV reader."""

    closed = False

    def __init__(self, copy):
        self._copy, self._buffer = copy, bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = self._copy.read()
            if not chunk:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out
