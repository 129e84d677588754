"""The landing sensor: complete machine files -> one run per wave, decided from state.

Each tick lists only ``<landing>/machines/`` (files not yet taken: claimed ones have been moved
out of it), ``machines/_claimed/`` (claims whose run has not taken them yet) and, on a file
system, ``machines/_taken/`` (taken files watched for late writes), so its cost is O(new
files). A file is complete once its size and modification time have not changed across two
ticks ``SETTLE_SECONDS`` apart; then it is claimed (moved to ``_claimed/wave=<W>/``). A name no
store can hold is quarantined with the reason, and the tick carries on.

A wave gets a run request when it has claimed files or when its latest run did not succeed
(killed, failed: the run takes, parses and computes what is missing, from the lake's state).
The run key is derived from the wave, its claimed names and its latest run: re-evaluations
are de-duplicated, yet the same names claimed again after a run, or a failed run, get a new
request. A wave whose run is still queued or running is not requested again until it
finishes; one failing ``MAX_FAILURES`` times in a row waits for an operator.
"""

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta

import dagster as dg

from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.machines.assets import PARTITIONS_START
from lakehouse.defs.machines.keys import LANDING_KEY, WAVE_ASSETS
from lakehouse.sources.machines import landing as landing_files
from lakehouse.sources.machines.formats import WAVE_FORMAT, WAVE_HOURS
from lakehouse.storage.quarantine import quarantine

MAX_CLAIMS_PER_TICK = 5_000
MAX_FAILURES = 3  # runs of one wave failing in a row before the sensor stops retrying it
RETRY_WITHIN = timedelta(days=7)  # failed wave runs looked at (by their last update)
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
_FAILED = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
WAVE_TAG = "lakehouse/wave"
SENSOR_TAG = "lakehouse/sensor"
NAME = "machine_landing"


def _valid_wave(wave: str, now: datetime) -> bool:
    start = datetime.strptime(PARTITIONS_START, WAVE_FORMAT).replace(tzinfo=UTC)
    moment = datetime.strptime(wave, WAVE_FORMAT).replace(tzinfo=UTC)
    return start <= moment <= now + timedelta(hours=WAVE_HOURS)


def _failed_waves(instance: dg.DagsterInstance) -> set[str]:
    """Waves with a recent failed run (whether a later run fixed it is checked per wave)."""
    records = instance.get_run_records(
        dg.RunsFilter(
            tags={SENSOR_TAG: NAME},
            statuses=_FAILED,
            updated_after=datetime.now(UTC) - RETRY_WITHIN,
        ),
        limit=200,
    )
    return {r.dagster_run.tags[WAVE_TAG] for r in records if WAVE_TAG in r.dagster_run.tags}


def _request(
    context: dg.SensorEvaluationContext, wave: str, names: list[str]
) -> dg.RunRequest | None:
    """The wave's run request, or None: its run is in flight, it needs none, or it has failed
    ``MAX_FAILURES`` times in a row."""
    latest = [
        r.dagster_run
        for r in context.instance.get_run_records(
            dg.RunsFilter(tags={WAVE_TAG: wave}), limit=MAX_FAILURES
        )
    ]
    if latest and latest[0].status in _IN_FLIGHT:
        return None  # its run takes whatever is claimed when it starts; ask again after
    if not names and (not latest or latest[0].status not in _FAILED):
        return None
    if len(latest) == MAX_FAILURES and all(r.status in _FAILED for r in latest):
        context.log.warning(f"wave {wave}: {MAX_FAILURES} runs failed in a row; not retried")
        return None
    state = "\n".join([*names, latest[0].run_id if latest else ""])
    digest = hashlib.sha256(state.encode()).hexdigest()[:16]
    return dg.RunRequest(
        run_key=f"machines-{wave}-{digest}",
        partition_key=wave,
        asset_selection=WAVE_ASSETS,
        tags={WAVE_TAG: wave, SENSOR_TAG: NAME, "lakehouse/files": str(len(names))},
    )


@dg.sensor(
    name=NAME,
    description="Complete machine log files in the landing folder -> claimed, one run per wave "
    "(lake/machines/raw -> warehouse/machines/parsed -> kpis_hourly); waves whose last run "
    "failed are run again.",
    target=WAVE_ASSETS,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def machine_landing(
    context: dg.SensorEvaluationContext, landing: ObjectStore, lake: ObjectStore
) -> dg.SensorResult | dg.SkipReason:
    store = landing.store
    cursor = json.loads(context.cursor) if context.cursor else {}
    now = time.time()
    files, refused = landing_files.list_landing(store)
    for file in refused:
        context.log.warning(f"landing: {file.name!r} refused: {file.reason}")
        landing_files.refuse(store, file)
    complete, pending = landing_files.settle(
        files, cursor.get("pending", {}), now, landing_files.SETTLE_SECONDS
    )
    pending.update({f.key: [f.signature, now] for f in complete[MAX_CLAIMS_PER_TICK:]})
    claimed_now, rejected = 0, len(refused)
    for file in complete[:MAX_CLAIMS_PER_TICK]:
        wave = landing_files.wave_of(store, file)
        if not _valid_wave(wave, datetime.now(UTC)):
            quarantine(store, file.key, f"wave {wave} is outside the partitions (clock or name?)")
            rejected += 1
        elif landing_files.claim(store, file.key, wave):
            claimed_now += 1
        else:
            rejected += 1
    for key, reason in landing_files.sweep_taken(store, lake.store, now).items():
        context.log.warning(f"landing: {key} quarantined: {reason}")
        rejected += 1
    claims = landing_files.claimed(store)
    requests = [
        request
        for wave in sorted(claims.keys() | _failed_waves(context.instance))
        if (request := _request(context, wave, claims.get(wave, [])))
    ]
    context.log.info(
        f"landing: {len(files)} file(s), {claimed_now} claimed, {len(pending)} still being "
        f"written, {rejected} quarantined; {len(requests)} wave run(s) requested"
    )
    return dg.SensorResult(
        run_requests=requests,
        asset_events=[dg.AssetObservation(LANDING_KEY, metadata={"files_claimed": claimed_now})]
        if claimed_now
        else [],
        cursor=json.dumps({"pending": pending}, sort_keys=True),
    )
