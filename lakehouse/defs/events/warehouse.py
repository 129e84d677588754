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

from lakehouse.defs.events.keys import GROUP, OWNERS, lake_key, projection_key
from lakehouse.events.projections import APPLICATION_FUNNEL, PROJECTIONS, Projection, lake_cursors
from lakehouse.events.projections import update as update_projection
from lakehouse.events.schema import lake_schema
from lakehouse.events.writer import type_prefix
from lakehouse.storage.parquet import read_parquet
from lakehouse.storage.quarantine import quarantine
from lakehouse.storage.resources import ObjectStore, warehouse_file_key
from lakehouse.transforms.current_state import BadBatch, read_batch


class ProjectionConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild from every event file in the lake instead of the previous result + new files."""


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
        config: ProjectionConfig,
        lake: ObjectStore,
        warehouse: ObjectStore,
    ) -> Iterator[dg.Output]:
        lake_store, state_file = lake.store, warehouse_file_key(context.asset_key)
        previous = None
        if not config.full_refresh and warehouse.store.exists(state_file):
            previous = read_parquet(warehouse.store, state_file)
        cursors = lake_cursors(previous)
        new_files, rejected = {}, {}
        for type_name in projection.sources:
            schema, files = lake_schema(type_name), []
            for key in lake_store.keys(type_prefix(type_name), after=cursors.get(type_name)):
                try:
                    files.append((key, read_batch(lake_store, key, schema)))
                except BadBatch as exc:
                    rejected[key] = str(exc)
                    moved_to = quarantine(lake_store, key, str(exc), run_id=context.run.run_id)
                    context.log.error(f"quarantined {lake_store.uri(key)} -> {moved_to}: {exc}")
            new_files[type_name] = files
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
        if rejected:
            raise dg.Failure(
                description="; ".join(f"{lake_store.uri(k)}: {r}" for k, r in rejected.items()),
                metadata={"quarantined": rejected},
                allow_retries=False,
            )

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
