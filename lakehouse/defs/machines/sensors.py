"""The landing sensor: complete machine files -> one run per wave.

Each tick lists only ``<landing>/machines/`` (files not yet taken: claimed ones have been moved
out of it) and ``machines/_claimed/`` (claims whose run has not moved them into the lake yet),
so its cost is O(new files). A file is complete once its size and modification time have not
changed across two ticks ``SETTLE_SECONDS`` apart; then it is claimed (moved to
``_claimed/wave=<W>/``). Every wave with claimed files gets at most one run request per tick,
with a run key derived from the wave and its claimed names: re-evaluations are de-duplicated,
a late file for an old wave makes a new request for that wave only, and a wave whose run is
still queued or running is not requested again until it finishes.
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
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
WAVE_TAG = "lakehouse/wave"


def _valid_wave(wave: str, now: datetime) -> bool:
    start = datetime.strptime(PARTITIONS_START, WAVE_FORMAT).replace(tzinfo=UTC)
    moment = datetime.strptime(wave, WAVE_FORMAT).replace(tzinfo=UTC)
    return start <= moment <= now + timedelta(hours=WAVE_HOURS)


@dg.sensor(
    name="machine_landing",
    description="Complete machine log files in the landing folder -> claimed, one run per wave "
    "(lake/machines/raw -> warehouse/machines/parsed -> kpis_hourly).",
    target=WAVE_ASSETS,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def machine_landing(
    context: dg.SensorEvaluationContext, landing: ObjectStore
) -> dg.SensorResult | dg.SkipReason:
    store = landing.store
    cursor = json.loads(context.cursor) if context.cursor else {}
    now = time.time()
    files = landing_files.list_landing(store)
    complete, pending = landing_files.settle(
        files, cursor.get("pending", {}), now, landing_files.SETTLE_SECONDS
    )
    pending.update({f.key: [f.signature, now] for f in complete[MAX_CLAIMS_PER_TICK:]})
    claimed_now, rejected = 0, 0
    for file in complete[:MAX_CLAIMS_PER_TICK]:
        wave = landing_files.wave_of(store, file)
        if not _valid_wave(wave, datetime.now(UTC)):
            quarantine(store, file.key, f"wave {wave} is outside the partitions (clock or name?)")
            rejected += 1
            continue
        landing_files.claim(store, file.key, wave)
        claimed_now += 1
    requests = []
    for wave, names in sorted(landing_files.claimed(store).items()):
        in_flight = context.instance.get_run_records(
            dg.RunsFilter(tags={WAVE_TAG: wave}, statuses=_IN_FLIGHT), limit=1
        )
        if in_flight:
            continue  # its run takes whatever is claimed when it starts; ask again after
        digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
        requests.append(
            dg.RunRequest(
                run_key=f"machines-{wave}-{digest}",
                partition_key=wave,
                asset_selection=WAVE_ASSETS,
                tags={WAVE_TAG: wave, "lakehouse/files": str(len(names))},
            )
        )
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
