"""Incremental extraction of platform tables into immutable lake batches.

A table's *watermark* is the greatest ``(updated_at, id)`` seen. Each batch file written to
the lake carries the watermark of its last row in its Parquet metadata, so the lake itself
records how far extraction got: the next run reads the newest batch's footer and asks the
database only for rows changed after it. History is kept because every version of a row
lands in its own batch; nothing is overwritten.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import sqlalchemy as sa

from lakehouse.sources.platform.schema import TABLES
from lakehouse.storage.batches import new_batch_key
from lakehouse.storage.parquet import read_cursor, with_cursors, write_parquet
from lakehouse.storage.store import Store

CHUNK_ROWS = 100_000

_ARROW_TYPES: dict[type, pa.DataType] = {
    sa.BigInteger: pa.int64(),
    sa.Integer: pa.int64(),
    sa.String: pa.string(),
    sa.DateTime: pa.timestamp("us"),
    sa.Date: pa.date32(),
}


@dataclass(frozen=True, order=True)
class Watermark:
    """The position of the newest change extracted: ``(updated_at, id)``."""

    updated_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.updated_at.isoformat()}|{self.id}"

    @classmethod
    def decode(cls, text: str) -> "Watermark":
        updated_at, id_ = text.split("|")
        return cls(datetime.fromisoformat(updated_at), int(id_))


def _arrow_type(column: sa.Column) -> pa.DataType:
    if isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float):
        return pa.decimal128(column.type.precision, column.type.scale)
    for sa_type, arrow_type in _ARROW_TYPES.items():
        if isinstance(column.type, sa_type):
            return arrow_type
    raise TypeError(f"no Arrow type for {column.table.name}.{column.name}: {column.type}")


def arrow_schema(table: str) -> pa.Schema:
    """The lake schema of a platform table: its columns with exact Arrow types."""
    return pa.schema(
        pa.field(c.name, _arrow_type(c), nullable=c.nullable) for c in TABLES[table].columns
    )


def watermarks(conn: sa.Connection) -> dict[str, Watermark | None]:
    """The current watermark of every platform table (``None`` for an empty table)."""
    marks: dict[str, Watermark | None] = {}
    for name, table in TABLES.items():
        row = conn.execute(
            sa.select(table.c.updated_at, table.c.id)
            .order_by(table.c.updated_at.desc(), table.c.id.desc())
            .limit(1)
        ).first()
        marks[name] = Watermark(*row) if row else None
    return marks


def changes(
    conn: sa.Connection, table: str, after: Watermark | None, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pa.Table]:
    """Rows changed after ``after``, in ``(updated_at, id)`` order, as Arrow chunks."""
    t = TABLES[table]
    query = sa.select(t).order_by(t.c.updated_at, t.c.id)
    if after is not None:
        query = query.where(
            sa.or_(
                t.c.updated_at > after.updated_at,
                sa.and_(t.c.updated_at == after.updated_at, t.c.id > after.id),
            )
        )
    schema = arrow_schema(table)
    rows = conn.execution_options(yield_per=chunk_rows).execute(query)
    for chunk in rows.partitions(chunk_rows):
        columns = zip(*chunk, strict=True)
        yield pa.Table.from_arrays(
            [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)],
            schema=schema,
        )


def lake_watermark(lake: Store, prefix: str) -> Watermark | None:
    """How far extraction into ``prefix`` got: the watermark in its newest batch's footer."""
    newest = lake.last(prefix)
    if newest is None:
        return None
    mark = read_cursor(lake, newest, "watermark")  # absent from the empty batch of an empty table
    return Watermark.decode(mark) if mark else None


@dataclass(frozen=True)
class Batch:
    key: str
    rows: int
    watermark: Watermark | None


def extract_table(
    conn: sa.Connection, table: str, lake: Store, prefix: str, chunk_rows: int = CHUNK_ROWS
) -> list[Batch]:
    """Write the rows of ``table`` changed since the lake's watermark as new batches.

    A table first seen empty gets one empty batch: its schema is in the lake, and the
    projections downstream exist (empty) rather than waiting for a first row.
    """
    batches = []
    if lake.last(prefix) is None and not conn.execute(sa.select(TABLES[table]).limit(1)).first():
        key = write_parquet(lake, new_batch_key(prefix), arrow_schema(table).empty_table())
        return [Batch(key, 0, None)]
    for chunk in changes(conn, table, lake_watermark(lake, prefix), chunk_rows):
        last = chunk.slice(chunk.num_rows - 1).to_pylist()[0]
        mark = Watermark(last["updated_at"], last["id"])
        chunk = with_cursors(chunk, watermark=mark.encode())
        key = write_parquet(lake, new_batch_key(prefix), chunk)
        batches.append(Batch(key, chunk.num_rows, mark))
    return batches
