"""Incremental extraction of Salesforce objects into immutable lake batches.

The watermark is the newest ``SystemModstamp`` extracted (the audit timestamp that moves on
every change, including system changes that ``LastModifiedDate`` misses). It travels in each
batch's Parquet footer, so the lake itself records how far extraction got. The next run asks
for ``SystemModstamp >= <watermark, to the second>`` (SOQL dateTime literals have no
fractions) and drops the records already in the newest batch (same ``Id`` and
``SystemModstamp``), so nothing committed within the watermark's second is missed and nothing
unchanged is written twice. Every version of a record lands in its own batch: history is kept.
Deleted records arrive too (``queryAll``), with ``is_deleted = true``.

A run that fails part-way keeps the batches it completed (each of ``batch_rows`` records at
most, each with its own watermark); the next run resumes after them.
"""

from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lakehouse.sources.salesforce.client import SalesforceClient
from lakehouse.sources.salesforce.schema import SObject
from lakehouse.storage.batches import new_batch_key
from lakehouse.storage.parquet import cursor_of, with_cursors, write_parquet
from lakehouse.storage.store import Store

BATCH_ROWS = 50_000


@dataclass(frozen=True)
class Batch:
    key: str
    rows: int
    watermark: datetime | None


@dataclass(frozen=True)
class LakePosition:
    """How far extraction got: the newest ``SystemModstamp`` and the records already held
    within its second (``(id, system_modstamp)``)."""

    watermark: datetime | None
    seen: frozenset[tuple[str, datetime]] = frozenset()


def lake_position(lake: Store, prefix: str) -> LakePosition:
    newest = lake.last(prefix)
    if newest is None:
        return LakePosition(None)
    with lake.open(newest) as f:
        parquet = pq.ParquetFile(f)
        mark = cursor_of(parquet.schema_arrow, "watermark")
        if not mark:  # the empty first batch of an empty object
            return LakePosition(None)
        watermark = datetime.fromisoformat(mark)
        rows = parquet.read(columns=["id", "system_modstamp"])
    second = watermark.replace(microsecond=0)
    recent = rows.filter(pc.greater_equal(rows.column("system_modstamp"), pa.scalar(second)))
    return LakePosition(
        watermark, frozenset((r["id"], r["system_modstamp"]) for r in recent.to_pylist())
    )


def extract_object(
    client: SalesforceClient,
    sobject: SObject,
    lake: Store,
    prefix: str,
    batch_rows: int = BATCH_ROWS,
) -> list[Batch]:
    """Write the records of ``sobject`` changed since the lake's watermark as new batches.

    An object first seen empty gets one empty batch, so its schema is in the lake and the
    projections downstream exist (empty) rather than waiting for a first record.
    """
    position = lake_position(lake, prefix)
    since = position.watermark.replace(microsecond=0) if position.watermark else None
    soql = sobject.soql(since)
    batches: list[Batch] = []
    pending: list[pa.Table] = []
    for page in client.query(soql):
        table = sobject.to_table(page)  # raises SchemaDrift before anything of it is written
        if position.seen:
            keep = [
                (i, m) not in position.seen
                for i, m in zip(
                    table.column("id").to_pylist(),
                    table.column("system_modstamp").to_pylist(),
                    strict=True,
                )
            ]
            table = table.filter(pa.array(keep, pa.bool_()))
        if table.num_rows:
            pending.append(table)
        if sum(t.num_rows for t in pending) >= batch_rows:
            batches.append(_write(lake, prefix, pa.concat_tables(pending), soql))
            pending = []
    if pending:
        batches.append(_write(lake, prefix, pa.concat_tables(pending), soql))
    if not batches and lake.last(prefix) is None:
        key = write_parquet(lake, new_batch_key(prefix), sobject.arrow_schema.empty_table())
        batches.append(Batch(key, 0, None))
    return batches


def _write(lake: Store, prefix: str, table: pa.Table, soql: str) -> Batch:
    watermark = pc.max(table.column("system_modstamp")).as_py()
    table = with_cursors(table, watermark=watermark.isoformat(), query=soql)
    key = write_parquet(lake, new_batch_key(prefix), table)
    return Batch(key, table.num_rows, watermark)
