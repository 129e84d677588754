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


def read_parquet(store: Store, key: str) -> pa.Table:
    if store.is_local:
        return pq.read_table(store.path(key))
    return pq.read_table(io.BytesIO(store.read_bytes(key)))
