"""Parquet on a :class:`Store`: atomic writes, reads, and cursors kept in a file's footer.

A cursor (how far the data in a file reaches: a lake key, a watermark) travels in the
file's own schema metadata, under ``lakehouse.<name>``, so data and cursor are written
together, atomically, and a reader needs only the footer to resume.
"""

import io

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.storage.store import Store

_CURSOR_PREFIX = "lakehouse."


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


def with_cursors(table: pa.Table, **cursors: str) -> pa.Table:
    """``table`` carrying each cursor (name -> text) in its schema metadata, beside the rest."""
    metadata = dict(table.schema.metadata or {})
    metadata.update({f"{_CURSOR_PREFIX}{n}".encode(): v.encode() for n, v in cursors.items()})
    return table.replace_schema_metadata(metadata)


def cursor_of(data: pa.Table | pa.Schema | None, name: str) -> str | None:
    """The cursor ``name`` kept in a table's (or schema's) metadata, or None."""
    if data is None:
        return None
    schema = data.schema if isinstance(data, pa.Table) else data
    value = (schema.metadata or {}).get(f"{_CURSOR_PREFIX}{name}".encode())
    return value.decode() if value is not None else None


def read_cursor(store: Store, key: str, name: str) -> str | None:
    """The cursor ``name`` in the footer of the Parquet file at ``key`` (nothing else is read)."""
    with store.open(key) as f:
        return cursor_of(pq.read_schema(f), name)
