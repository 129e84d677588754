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

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from lakehouse.storage.resources import ObjectStore, asset_key_to_store_key

CATALOG_KEY = dg.AssetKey(["catalog", "warehouse"])
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


def catalog_asset(projections: Sequence[dg.AssetSpec]) -> dg.AssetsDefinition:
    """The asset keeping the catalog in step with ``projections`` (``warehouse/...`` specs)."""
    by_key = {spec.key: spec for spec in projections}

    @dg.asset(
        key=CATALOG_KEY,
        deps=list(by_key),
        description="DuckDB catalog: one view per warehouse projection, schema = subject.",
        group_name="catalog",
        owners=["team:platform"],
        kinds={"duckdb"},
        automation_condition=dg.AutomationCondition.eager(),
        pool="catalog",  # one writer at a time
    )
    def _catalog(
        context: dg.AssetExecutionContext, warehouse: ObjectStore, catalog: DuckDBResource
    ) -> dg.MaterializeResult:
        store, views = warehouse.store, []
        for key, spec in by_key.items():
            relative = asset_key_to_store_key(key)
            partitioned = spec.partitions_def is not None
            if not (store.exists(relative) if partitioned else store.exists(f"{relative}.parquet")):
                continue  # not materialised yet
            source = store.path(
                f"{relative}/**/*.parquet" if partitioned else f"{relative}.parquet"
            )
            *schema, name = key.path[1:]
            views.append(View("_".join(schema) or "main", name, source, spec.description))
        write_catalog(Path(catalog.database), views)
        context.log.info(f"catalogued {len(views)} views in {catalog.database}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(catalog.database),
                "views": [f"{v.schema}.{v.name}" for v in views],
            }
        )

    return _catalog
