"""``warehouse/events/<projection>``: near-real-time projections of the events.

Triggered by the lake-file sensors (``sensors.py``) as event files land; each run adds the
lake files newer than the projection's own cursor (kept in its Parquet metadata) to the
previous result. An unreadable lake file is quarantined with its reason, the good ones are
merged and stored, then the run fails naming the file.
"""

from collections.abc import Iterator

import dagster as dg
import duckdb
import pyarrow as pa

from lakehouse.components.incremental import (
    IncrementalConfig,
    fail_if_rejected,
    new_batches,
    previous_result,
)
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.events.keys import GROUP, OWNERS, lake_key, projection_key
from lakehouse.sources.events.schema import lake_schema
from lakehouse.sources.events.writer import type_prefix
from lakehouse.warehouse.events import APPLICATION_FUNNEL, PROJECTIONS, Projection, lake_cursors
from lakehouse.warehouse.events import update as update_projection


def projection_asset(projection: Projection) -> dg.AssetsDefinition:
    @dg.asset(
        key=projection_key(projection.name),
        deps=[lake_key(t) for t in projection.sources],
        description=projection.description,
        group_name=GROUP,
        owners=OWNERS,
        kinds={"duckdb", "parquet"},
        tags={"layer": "warehouse"},
        pool=f"warehouse:events/{projection.name}",  # updates of one projection never race
    )
    def _projection(
        context: dg.AssetExecutionContext,
        config: IncrementalConfig,
        lake: ObjectStore,
        warehouse: ObjectStore,
    ) -> Iterator[dg.Output]:
        previous, rejected = previous_result(context, config, warehouse), {}
        cursors = lake_cursors(previous)
        new_files = {
            t: list(
                new_batches(
                    context, lake.store, type_prefix(t), cursors.get(t), lake_schema(t), rejected
                )
            )
            for t in projection.sources
        }
        result = update_projection(projection, previous, new_files)
        yield dg.Output(
            result,
            metadata={
                "lake_files_merged": sum(len(f) for f in new_files.values()),
                "events_merged": sum(t.num_rows for f in new_files.values() for _, t in f),
                "lake_cursors": lake_cursors(result),
                "quarantined": rejected,
            },
        )
        fail_if_rejected(lake.store, rejected)

    return _projection


projection_assets = [projection_asset(p) for p in PROJECTIONS.values()]


@dg.asset_check(
    asset=projection_key(APPLICATION_FUNNEL.name),
    name="decisions_add_up",
    description="Every hour: approved + declined = decided, and no count is negative.",
)
def decisions_add_up(application_funnel: pa.Table) -> dg.AssetCheckResult:
    con = duckdb.connect()
    con.register("funnel", application_funnel)
    (bad_hours,) = con.execute(
        "SELECT count(*) FROM funnel WHERE approved + declined <> decided "
        "OR least(submitted, decided, approved, declined, funded) < 0"
    ).fetchone()
    return dg.AssetCheckResult(passed=bad_hours == 0, metadata={"inconsistent_hours": bad_hours})
