"""``lake/platform/<table>``: raw, immutable batches of every changed row, history kept."""

import dagster as dg

from lakehouse.components.resources.platform_db import PlatformDB
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.platform.keys import GROUP, OWNERS, lake_key, lake_prefix, source_key
from lakehouse.sources.platform.db import PlatformDBError
from lakehouse.sources.platform.extract import extract_table
from lakehouse.sources.platform.schema import TABLES


def lake_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=lake_key(table),
        deps=[source_key(table)],
        description=(
            f"Every new or changed row of platform table `{table}` since the last extraction, "
            "appended to the lake as an immutable Parquet batch (`dt=` partitioned)."
        ),
        group_name=GROUP,
        owners=OWNERS,
        kinds={"parquet"},
        tags={"layer": "lake"},
        pool=f"lake:platform/{table}",  # one writer per lake prefix keeps keys in write order
    )
    def _extract(
        context: dg.AssetExecutionContext, platform_db: PlatformDB, lake: ObjectStore
    ) -> dg.MaterializeResult:
        store = lake.store
        try:
            with platform_db.connect() as conn:
                batches = extract_table(conn, table, store, lake_prefix(table))
        except PlatformDBError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        for batch in batches:
            context.log.info(f"wrote {batch.rows} rows to {store.uri(batch.key)}")
        return dg.MaterializeResult(
            metadata={
                "rows": sum(b.rows for b in batches),
                "batches": [store.uri(b.key) for b in batches],
                "high_watermark": (
                    batches[-1].watermark.encode()
                    if batches and batches[-1].watermark
                    else "unchanged"
                ),
            }
        )

    return _extract


lake_assets = [lake_asset(table) for table in TABLES]
