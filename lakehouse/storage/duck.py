"""DuckDB over any store: remote filesystems are registered, so no extension is downloaded."""

from collections.abc import Iterable

import duckdb

from lakehouse.storage.store import Store


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def connect(
    stores: Iterable[Store] = (), database: str = ":memory:", **kwargs
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that reads and writes the URLs (``s3://``, ``az://``) of ``stores``
    through their own fsspec filesystems, with their credentials and endpoints."""
    con = duckdb.connect(database, **kwargs)
    registered = set()
    for store in stores:
        if not store.is_local and id(store.fs) not in registered:
            con.register_filesystem(store.fs)
            registered.add(id(store.fs))
    return con
