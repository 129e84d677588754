"""The warehouse catalog: a DuckDB file with one view per warehouse projection.

Any DuckDB or BI client opens the catalog and sees tables (``finance.debtor_exposure``), not
paths. It is built in a temporary file and published to its URL atomically (renamed into
place locally, uploaded whole to object storage), so readers never block the writer and never
see a half-built catalog. It is written in an older storage format so that clients bundling
an older DuckDB (BI tools, the `duckdb` CLI) can open it too.
"""

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lakehouse.storage.duck import connect, sql_string
from lakehouse.storage.store import Store

STORAGE_VERSION = "v1.0.0"


@dataclass(frozen=True)
class View:
    schema: str
    name: str
    source: str | tuple[str, ...]  # URL(s) of the Parquet files, or a glob over them
    description: str | None = None


def _split(url: str) -> tuple[Store, str]:
    parent, _, name = url.rstrip("/").rpartition("/")
    return Store(parent), name


def publish_catalog(url: str, views: Sequence[View], sources: Iterable[Store]) -> None:
    """Build a catalog of ``views`` over files in ``sources`` and replace the one at ``url``
    with it, atomically."""
    store, name = _split(url)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        with connect(sources) as con:
            con.execute(
                f"ATTACH {sql_string(str(path))} AS cat (STORAGE_VERSION '{STORAGE_VERSION}')"
            )
            for view in views:
                qualified = f'cat."{view.schema}"."{view.name}"'
                con.execute(f'CREATE SCHEMA IF NOT EXISTS cat."{view.schema}"')
                sources = [view.source] if isinstance(view.source, str) else view.source
                files = ", ".join(map(sql_string, sources))
                # Partition folders (``dt=2026-03-02``) are string columns, as in Glue.
                con.execute(
                    f"CREATE VIEW {qualified} AS SELECT * FROM "
                    f"read_parquet([{files}], hive_types_autocast = false)"
                )
                if view.description:
                    con.execute(
                        f"COMMENT ON VIEW {qualified} IS {sql_string(view.description.strip())}"
                    )
        with path.open("rb") as src, store.atomic_open(name) as dst:
            dst.write(src.read())


@contextmanager
def open_catalog(url: str, stores: Iterable[Store]) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog at ``url``, read-only, able to read the projections in ``stores``."""
    store, name = _split(url)
    with tempfile.TemporaryDirectory() as tmp:
        if store.is_local:
            path = store.path(name)
        else:  # a local copy of a small file: no DuckDB extension needed
            path = str(Path(tmp) / name)
            Path(path).write_bytes(store.read_bytes(name))
        with connect([store, *stores], database=path, read_only=True) as con:
            yield con
