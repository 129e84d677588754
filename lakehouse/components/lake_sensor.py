"""Sensors on new lake files: the one mechanism that turns data landing into runs.

A lake-file sensor watches a set of lake prefixes, each feeding an asset. Its cursor holds,
per prefix, the last key seen; a tick lists only keys after it (O(new files), not O(all
files)), requests at most one run covering every asset with new files, and moves the cursor
past them. A file never triggers twice, and, the cursor being stored by Dagster, none is missed
across restarts. Run keys are derived from the cursor, so a re-evaluated tick is de-duplicated.
The assets themselves process everything newer than their own progress marker, so a run that
fails is caught up by the next one.

Files another run takes care of request nothing: while a run that builds the asset is queued or
under way, the sensor waits (that run merges everything new when it gets there), and files the
asset's newest materialisation already merged (``lake_cursors``, written by a run that extracted
and merged them together) only move the cursor.
"""

import hashlib
import json
from collections.abc import Mapping

import dagster as dg

from lakehouse.components.resources.stores import ObjectStore

MAX_FILES_PER_TICK = 1_000
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


def lake_file_sensor(
    name: str,
    description: str,
    targets: Mapping[str, dg.AssetKey],
    minimum_interval_seconds: int = 10,  # off the hot paths: every other pass of the daemon
) -> dg.SensorDefinition:
    """A sensor requesting ``targets[prefix]`` when new keys appear under the lake ``prefix``
    (``EVERY_DAEMON_PASS`` for one on a path whose freshness is measured)."""

    @dg.sensor(
        name=name,
        description=description,
        target=list(targets.values()),
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(
        context: dg.SensorEvaluationContext, lake: ObjectStore
    ) -> dg.SensorResult | dg.SkipReason:
        cursor: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        budget, new = MAX_FILES_PER_TICK, {}
        for prefix in targets:
            keys = lake.store.keys(prefix, after=cursor.get(prefix), limit=budget)
            if keys:
                new[prefix] = keys
                budget -= len(keys)
            if budget == 0:
                break
        if not new:
            return dg.SkipReason("no new lake files")
        busy = _in_progress(context.instance, {targets[p] for p in new})
        last_seen = {p: keys[-1] for p, keys in new.items() if targets[p] not in busy}
        marks = {t: _merged(context.instance, t) for t in {targets[p] for p in last_seen}}
        merged = {p: max(_under(marks[targets[p]], p), default=None) for p in last_seen}
        new = {p: new[p] for p in last_seen if merged[p] is None or new[p][-1] > merged[p]}
        if not new:
            return dg.SensorResult(
                skip_reason="new lake files already merged or being merged by another run",
                cursor=json.dumps({**cursor, **last_seen}, sort_keys=True),
            )
        digest = hashlib.sha256(json.dumps(last_seen, sort_keys=True).encode()).hexdigest()[:16]
        context.log.info("new files: " + ", ".join(f"{p}: {len(k)}" for p, k in new.items()))
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{name}-{digest}",
                    asset_selection=[targets[prefix] for prefix in new],
                    tags={"lakehouse/new_files": str(sum(map(len, new.values())))},
                )
            ],
            cursor=json.dumps({**cursor, **last_seen}, sort_keys=True),
        )

    return _sensor


def _in_progress(instance: dg.DagsterInstance, keys: set[dg.AssetKey]) -> set[dg.AssetKey]:
    """The ``keys`` a queued or running run will build."""
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=UNFINISHED))
    return {k for run in runs for k in (run.asset_selection or ()) if k in keys}


def _merged(instance: dg.DagsterInstance, key: dg.AssetKey) -> list[str]:
    """The last lake key of each input that ``key``'s newest materialisation merged."""
    event = instance.get_latest_materialization_event(key)
    entry = event.asset_materialization.metadata.get("lake_cursors") if event else None
    return list(entry.value.values()) if entry else []


def _under(marks: list[str], prefix: str) -> list[str]:
    return [m for m in marks if m.startswith(prefix + "/")]
