"""The warehouse catalog: a DuckDB file with one view per warehouse projection.

Any DuckDB or BI client opens ``warehouse.duckdb`` and sees tables (``finance.debtor_exposure``),
not paths. The file is rebuilt beside the old one and renamed into place, so readers never
block the writer and never see a half-built catalog. It is written in an older storage format
so that clients bundling an older DuckDB (BI tools, the `duckdb` CLI) can open it too.
"""

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

STORAGE_VERSION = "v1.0.0"


@dataclass(frozen=True)
class View:
    schema: str
    name: str
    source: str  # a Parquet file, or a glob over a partitioned projection's files
    description: str | None = None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_catalog(path: Path, views: Sequence[View]) -> None:
    """Write a catalog of ``views`` at ``path``, replacing any previous one atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with duckdb.connect() as con:
            con.execute(f"ATTACH {_quote(str(tmp))} AS cat (STORAGE_VERSION '{STORAGE_VERSION}')")
            for view in views:
                name = f'cat."{view.schema}"."{view.name}"'
                con.execute(f'CREATE SCHEMA IF NOT EXISTS cat."{view.schema}"')
                con.execute(
                    f"CREATE VIEW {name} AS SELECT * FROM read_parquet({_quote(view.source)})"
                )
                if view.description:
                    con.execute(f"COMMENT ON VIEW {name} IS {_quote(view.description.strip())}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
