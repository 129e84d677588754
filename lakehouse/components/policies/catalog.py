"""Policy: every warehouse projection is catalogued in the DuckDB catalog."""

from collections.abc import Sequence

import dagster as dg

from lakehouse.catalog.duckdb_file import View, publish_catalog
from lakehouse.components.automation import on_dependency_update
from lakehouse.components.resources.stores import CatalogFile, ObjectStore, asset_key_to_store_key

CATALOG_KEY = dg.AssetKey(["catalog", "warehouse"])


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
        # Catalogue what exists: don't wait for projections that have no data yet.
        automation_condition=on_dependency_update().without(
            ~dg.AutomationCondition.any_deps_missing()
        ),
        pool="catalog",  # one writer at a time
    )
    def _catalog(
        context: dg.AssetExecutionContext, warehouse: ObjectStore, catalog: CatalogFile
    ) -> dg.MaterializeResult:
        store, views = warehouse.store, []
        for key, spec in by_key.items():
            relative = asset_key_to_store_key(key)
            partitioned = spec.partitions_def is not None
            if not (store.exists(relative) if partitioned else store.exists(f"{relative}.parquet")):
                continue  # not materialised yet
            source = store.uri(f"{relative}/**/*.parquet" if partitioned else f"{relative}.parquet")
            *schema, name = key.path[1:]
            views.append(View("_".join(schema) or "main", name, source, spec.description))
        publish_catalog(catalog.url, views, [store])
        context.log.info(f"catalogued {len(views)} views in {catalog.url}")
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(catalog.url),
                "views": [f"{v.schema}.{v.name}" for v in views],
            }
        )

    return _catalog
