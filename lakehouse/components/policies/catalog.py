"""Policy: every warehouse projection is catalogued in the DuckDB catalog, and in Glue when on.

The IO manager registers what it writes in Glue in the same step; this asset registers what
is written otherwise (parts appended by an asset, like the parsed machine logs) and reports
Glue tables whose projection is gone.
"""

from collections.abc import Sequence

import dagster as dg

from lakehouse.catalog.duckdb_file import View, publish_catalog
from lakehouse.components.automation import on_dependency_update
from lakehouse.components.resources.glue import GlueCatalogResource, table_spec
from lakehouse.components.resources.stores import CatalogFile, ObjectStore, asset_key_to_store_key
from lakehouse.storage.projections import current_files

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
        context: dg.AssetExecutionContext,
        warehouse: ObjectStore,
        catalog: CatalogFile,
        glue: GlueCatalogResource,
    ) -> dg.MaterializeResult:
        store, views, registered = warehouse.store, [], []
        for key, spec in by_key.items():
            relative = asset_key_to_store_key(key)
            files = current_files(store, relative)
            if not files:
                continue  # not materialised yet
            *schema, name = key.path[1:]
            views.append(
                View(
                    "_".join(schema) or "main", name, tuple(map(store.uri, files)), spec.description
                )
            )
            if (done := glue.register(key, spec, store, relative)) is not None:
                registered.append(done)
        publish_catalog(catalog.url, views, [store])
        context.log.info(f"catalogued {len(views)} views in {catalog.url}")
        metadata = {
            "path": dg.MetadataValue.path(catalog.url),
            "views": [f"{v.schema}.{v.name}" for v in views],
        }
        if glue.enabled:
            expected = [
                (t.database, t.name)
                for t in (table_spec(glue.catalog, k, s) for k, s in by_key.items())
            ]
            orphans = glue.catalog.orphans(expected)
            for table in orphans:
                context.log.warning(f"Glue table {table}: its projection is no longer defined")
            metadata["glue_tables"] = [r.table for r in registered]
            metadata["glue_orphans"] = orphans
        return dg.MaterializeResult(metadata=metadata)

    return _catalog
