"""Parquet on a :class:`Store`: atomic writes and reads."""

import io

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.storage.store import Store


def write_parquet(store: Store, key: str, table: pa.Table) -> str:
    """Write ``table`` (its schema metadata included) atomically at ``key``."""
    with store.atomic_open(key) as f:
        pq.write_table(table, f, compression="zstd")
    return key


DESCRIPTION = b"description"
"""Field-metadata key of a column's description: it travels with the table into Parquet."""


def describe_columns(table: pa.Table, descriptions: dict[str, str]) -> pa.Table:
    """``table`` with each column's description in its field metadata; every column needs one."""
    missing = [name for name in table.column_names if name not in descriptions]
    if missing:
        raise ValueError(f"no description for column(s) {', '.join(missing)}")
    fields = [
        f.with_metadata({**(f.metadata or {}), DESCRIPTION: descriptions[f.name].encode()})
        for f in table.schema
    ]
    return table.cast(pa.schema(fields, metadata=table.schema.metadata))


def column_description(field: pa.Field) -> str | None:
    value = (field.metadata or {}).get(DESCRIPTION)
    return value.decode() if value is not None else None


def read_parquet(store: Store, key: str) -> pa.Table:
    if store.is_local:
        return pq.read_table(store.path(key))
    return pq.read_table(io.BytesIO(store.read_bytes(key)))
