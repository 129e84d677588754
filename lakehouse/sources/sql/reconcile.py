"""Reconciliation: does the warehouse's current state hold what the source holds?

Compared per table: the key sets and, for an incremental table, each key's cursor value, so a
row changed with a cursor that went backwards beyond the lookback (a clock step back) is
noticed, not only a missing or extra row. Done only when no change is pending (the source's
signature is the one the lake recorded): otherwise a difference is just work in flight.
"""

from dataclasses import dataclass

import pyarrow as pa
import sqlalchemy as sa

from lakehouse.sources.sql.extract import CHUNK_ROWS, lake_signature, signature
from lakehouse.sources.sql.tables import TableSpec
from lakehouse.sources.sql.types import converter
from lakehouse.storage.store import Store

SAMPLE = 5


@dataclass(frozen=True)
class Reconciliation:
    pending: bool
    source_rows: int = 0
    warehouse_rows: int = 0
    missing: tuple = ()  # keys in the source, not in the warehouse (a sample)
    extra: tuple = ()  # keys in the warehouse, gone from the source (a sample)
    stale: tuple = ()  # keys whose cursor value differs (a sample)
    differences: int = 0

    @property
    def in_sync(self) -> bool:
        return self.pending or self.differences == 0


def reconcile(
    conn: sa.Connection, spec: TableSpec, lake: Store, prefix: str, state: pa.Table
) -> Reconciliation:
    if signature(conn, spec) != lake_signature(lake, prefix):
        return Reconciliation(pending=True)
    names = [*spec.key, *([spec.cursor.name] if spec.cursor else [])]
    source = dict(_source_versions(conn, spec, names))
    columns = [state.column(n).to_pylist() for n in names]
    n = len(spec.key)
    warehouse = {row[:n]: row[n:] for row in zip(*columns, strict=True)} if columns else {}
    missing = [k for k in source if k not in warehouse]
    extra = [k for k in warehouse if k not in source]
    stale = [k for k, v in source.items() if k in warehouse and warehouse[k] != v]
    return Reconciliation(
        pending=False,
        source_rows=len(source),
        warehouse_rows=state.num_rows,
        missing=tuple(missing[:SAMPLE]),
        extra=tuple(extra[:SAMPLE]),
        stale=tuple(stale[:SAMPLE]),
        differences=len(missing) + len(extra) + len(stale),
    )


def _source_versions(conn: sa.Connection, spec: TableSpec, names: list[str]):
    columns = [next(c for c in spec.columns if c.name == name) for name in names]
    query = sa.select(
        *(sa.type_coerce(spec.table.c[c.original], sa.types.NullType()) for c in columns)
    )
    n = len(spec.key)
    result = conn.execution_options(yield_per=CHUNK_ROWS).execute(query)
    for rows in result.partitions(CHUNK_ROWS):
        arrays = [
            pa.array([converter(c.sa_type, c.type)(v) for v in values], type=c.type).to_pylist()
            for c, values in zip(columns, zip(*rows, strict=True), strict=True)
        ]
        for row in zip(*arrays, strict=True):
            yield row[:n], row[n:]
