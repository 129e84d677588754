"""``warehouse/events/<projection>``: near-real-time projections of the events.

Triggered by the lake-file sensors (``sensors.py``) as event files land; each run adds the
lake files newer than the projection's own cursor (kept in its Parquet metadata) to the
previous result. An unreadable lake file is quarantined with its reason, the good ones are
merged and stored, then the run fails naming the file.
"""

import dagster as dg
import duckdb
import pyarrow as pa

from lakehouse.components.incremental import LakeInput, incremental_asset
from lakehouse.defs.events.keys import GROUP, OWNERS, lake_key, projection_key
from lakehouse.sources.events.schema import lake_schema
from lakehouse.sources.events.writer import type_prefix
from lakehouse.warehouse.events import APPLICATION_FUNNEL, PROJECTIONS, Projection, update


def projection_asset(projection: Projection) -> dg.AssetsDefinition:
    return incremental_asset(
        projection_key(projection.name),
        {t: LakeInput(type_prefix(t), lake_schema(t)) for t in projection.sources},
        lambda previous, new: update(projection, previous, new),
        deps=[lake_key(t) for t in projection.sources],
        description=projection.description,
        group_name=GROUP,
        owners=OWNERS,
    )


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
