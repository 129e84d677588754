"""The platform database's tables as observable sources, and the sensor that watches them.

The sensor reads each table's high-watermark (newest ``updated_at``, ``id``), a cheap indexed
query. When one moves it records an observation on ``source/platform/<table>`` and requests
one run extracting the changed tables into the lake: data-driven, no fixed-interval copies.
"""

import hashlib
import json

import dagster as dg

from lakehouse.components.resources.platform_db import PlatformDB
from lakehouse.defs.platform.keys import GROUP, LAKE_KEYS, OWNERS, lake_key, source_key
from lakehouse.sources.platform.db import PlatformDBError
from lakehouse.sources.platform.extract import watermarks
from lakehouse.sources.platform.schema import TABLES

source_specs = [
    dg.AssetSpec(
        source_key(table),
        description=f"Table `{table}` in the platform database (observed by its high-watermark).",
        group_name=GROUP,
        owners=OWNERS,
        kinds={"sql"},
    )
    for table in TABLES
]


@dg.sensor(
    name="platform_watermarks",
    description="Observes each platform table's high-watermark; extracts the tables that moved.",
    target=LAKE_KEYS,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def platform_watermarks(
    context: dg.SensorEvaluationContext, platform_db: PlatformDB
) -> dg.SensorResult | dg.SkipReason:
    try:
        with platform_db.connect() as conn:
            marks = watermarks(conn)
    except PlatformDBError as exc:
        return dg.SkipReason(str(exc))
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = {table: mark.encode() if mark else "empty" for table, mark in marks.items()}
    moved = {table: mark for table, mark in current.items() if mark != seen.get(table)}
    if not moved:
        return dg.SkipReason("no platform table changed")
    run_key = hashlib.sha256(json.dumps(moved, sort_keys=True).encode()).hexdigest()[:16]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"platform-{run_key}", asset_selection=[lake_key(t) for t in moved]
            )
        ],
        asset_events=[
            dg.AssetObservation(
                source_key(table),
                metadata={"high_watermark": mark},
                tags={"dagster/data_version": mark},
            )
            for table, mark in moved.items()
        ],
        cursor=json.dumps({**seen, **moved}, sort_keys=True),
    )
