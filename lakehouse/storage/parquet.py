"""Parquet on a :class:`Store`: atomic writes, reads, and the metadata Dagster shows."""

import io

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.storage.store import Store

PREVIEW_ROWS = 5


def write_parquet(store: Store, key: str, table: pa.Table) -> str:
    """Write ``table`` (its schema metadata included) atomically at ``key``."""
    with store.atomic_open(key) as f:
        pq.write_table(table, f, compression="zstd")
    return key


def read_parquet(store: Store, key: str) -> pa.Table:
    if store.is_local:
        return pq.read_table(store.path(key))
    return pq.read_table(io.BytesIO(store.read_bytes(key)))


def table_metadata(table: pa.Table) -> dict[str, dg.MetadataValue]:
    """Row count, schema and a small preview, as shown on an asset's materialisation."""
    schema = dg.TableSchema(
        columns=[dg.TableColumn(field.name, str(field.type)) for field in table.schema]
    )
    preview = table.slice(0, PREVIEW_ROWS).to_pandas()
    return {
        "dagster/row_count": dg.MetadataValue.int(table.num_rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(schema),
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False)),
    }
