"""The lake sensor: new batch files in ``lake/platform/*`` -> current-state projections.

Its cursor holds, per table, the last batch key seen; a tick lists only keys after it
(O(new files)), requests at most one run covering every table with new files, and moves the
cursor past them, so a file never triggers twice and, the cursor being stored by Dagster,
none is missed across restarts. The run itself merges every batch newer than the
projection's own cursor, so a run that fails is caught up by the next.
"""

import hashlib
import json

import dagster as dg

from lakehouse.defs.platform.keys import STATE_KEYS, lake_prefix, state_key
from lakehouse.sources.platform.schema import TABLES
from lakehouse.storage.resources import ObjectStore

MAX_FILES_PER_TICK = 1_000


@dg.sensor(
    name="platform_lake_files",
    description="New platform batches in the lake -> merge them into the warehouse projections.",
    target=STATE_KEYS,
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def platform_lake_files(
    context: dg.SensorEvaluationContext, lake: ObjectStore
) -> dg.SensorResult | dg.SkipReason:
    cursor: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    store, budget, new = lake.store, MAX_FILES_PER_TICK, {}
    for table in TABLES:
        keys = store.keys(lake_prefix(table), after=cursor.get(table), limit=budget)
        if keys:
            new[table] = keys
            budget -= len(keys)
        if budget == 0:
            break
    if not new:
        return dg.SkipReason("no new lake files")
    last_seen = {table: keys[-1] for table, keys in new.items()}
    digest = hashlib.sha256(json.dumps(last_seen, sort_keys=True).encode()).hexdigest()[:16]
    context.log.info("new lake files: " + ", ".join(f"{t}: {len(keys)}" for t, keys in new.items()))
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"lake-{digest}",
                asset_selection=[state_key(t) for t in new],
                tags={"lakehouse/new_files": str(sum(map(len, new.values())))},
            )
        ],
        cursor=json.dumps({**cursor, **last_seen}, sort_keys=True),
    )
