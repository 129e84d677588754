"""``lakehouse.components.FileDrop``: a file drop declared in YAML -> its assets and sensor.

One ``defs.yaml`` declares the drop (docs/file-drops.md), inline (``drop:``) or in a YAML file
beside it (``spec_file:``). It gets:

- ``source/<name>/landing``: the landing folder (``<landing>/<prefix>/``);
- ``lake/<name>/raw``: the files as landed, original bytes, arrival-ordered take folders with a
  SHA-256 manifest (``sources/files/landing.py``), one partition per arrival group;
- ``warehouse/<name>/parsed``: typed Parquet, one part per file, rejected lines quarantined with
  file, line and reason; asset check ``every_line_accounted``;
- sensor ``<name>_landing``: complete files -> claimed -> one run per arrival group.

The catalog view and the replica come from the project-wide policies (every warehouse asset
is catalogued, every lake asset replicated).

The sensor lists only ``<prefix>/`` (files not yet taken: claimed ones have been moved out of
it), ``<prefix>/_claimed/`` and, on a file system, ``<prefix>/_taken/``: its cost is O(new
files). A group gets a run request when it has claimed files or when its latest run did not
succeed (killed, failed: the run takes, parses and computes what is missing, from the lake's
state). The run key is derived from the group, its claimed names and its latest run:
re-evaluations are de-duplicated, yet the same names claimed again after a run, or a failed run,
get a new request. A group whose run is still queued or running is not requested again until it
finishes; one failing ``MAX_FAILURES`` times in a row waits for an operator.
"""

import hashlib
import json
import posixpath
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from lakehouse.components.automation import EVERY_DAEMON_PASS
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.sources.files.landing import Landing, landing_for
from lakehouse.sources.files.spec import DelimitedLogFormat, DropSpec, Grouping, drop_spec
from lakehouse.sources.machines.formats import machine_types
from lakehouse.storage.quarantine import quarantine
from lakehouse.warehouse.file_drops import Layout, WaveParse, parse_drop_wave
from lakehouse.warehouse.machine_logs import MAX_CLOCK_SKEW
from lakehouse.warehouse.machine_waves import parse_wave

MAX_CLAIMS_PER_TICK = 5_000
MAX_FAILURES = 3  # runs of one group failing in a row before the sensor stops retrying it
RETRY_WITHIN = timedelta(days=7)  # failed runs looked at (by their last update)
_IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
_FAILED = [dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
WAVE_TAG = "lakehouse/wave"
SENSOR_TAG = "lakehouse/sensor"
PARTITIONS_START = "2026-01-01"


def drop_partitions(grouping: Grouping, start: str = PARTITIONS_START) -> dg.PartitionsDefinition:
    """One partition per arrival group (a day, or a wave of N hours), the group in progress
    included (a writer's clock may run a little ahead)."""
    if grouping.hours == 24:
        return dg.DailyPartitionsDefinition(start_date=start, timezone="UTC", end_offset=1)
    return dg.TimeWindowPartitionsDefinition(
        cron_schedule=f"0 */{grouping.hours} * * *",
        fmt=grouping.key_format,
        start=f"{start}T00",
        timezone="UTC",
        end_offset=1,
    )


def drop_keys(name: str) -> tuple[dg.AssetKey, dg.AssetKey, dg.AssetKey]:
    """``source/<name>/landing``, ``lake/<name>/raw``, ``warehouse/<name>/parsed``."""
    return (
        dg.AssetKey(["source", name, "landing"]),
        dg.AssetKey(["lake", name, "raw"]),
        dg.AssetKey(["warehouse", name, "parsed"]),
    )


# -- the sensor ------------------------------------------------------------------------------


def _failed_groups(instance: dg.DagsterInstance, sensor: str) -> set[str]:
    """Groups with a recent failed run (whether a later run fixed it is checked per group)."""
    records = instance.get_run_records(
        dg.RunsFilter(
            tags={SENSOR_TAG: sensor},
            statuses=_FAILED,
            updated_after=datetime.now(UTC) - RETRY_WITHIN,
        ),
        limit=200,
    )
    return {r.dagster_run.tags[WAVE_TAG] for r in records if WAVE_TAG in r.dagster_run.tags}


def _request(
    context: dg.SensorEvaluationContext,
    drop: str,
    sensor: str,
    targets: list[dg.AssetKey],
    wave: str,
    names: list[str],
) -> dg.RunRequest | None:
    """The group's run request, or None: its run is in flight, it needs none, or it has failed
    ``MAX_FAILURES`` times in a row."""
    latest = [
        r.dagster_run
        for r in context.instance.get_run_records(
            dg.RunsFilter(tags={WAVE_TAG: wave, SENSOR_TAG: sensor}), limit=MAX_FAILURES
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
        run_key=f"{drop}-{wave}-{digest}",
        partition_key=wave,
        asset_selection=targets,
        tags={WAVE_TAG: wave, SENSOR_TAG: sensor, "lakehouse/files": str(len(names))},
    )


def landing_sensor(
    name: str,
    drop: str,
    arrivals: Landing,
    landing_key: dg.AssetKey,
    targets: list[dg.AssetKey],
    start: str = PARTITIONS_START,
) -> dg.SensorDefinition:
    """Complete files in the drop's landing folder -> claimed, one run per arrival group."""
    first = datetime.fromisoformat(start).replace(tzinfo=UTC)

    def valid(wave: str, now: datetime) -> bool:
        moment = arrivals.grouping.bounds(wave)[0]
        return first <= moment <= now + timedelta(hours=arrivals.grouping.hours)

    @dg.sensor(
        name=name,
        description=f"Complete files in the landing folder `{arrivals.prefix}/` -> claimed, one "
        f"run per arrival group ({' -> '.join(k.to_user_string() for k in targets)}); groups "
        "whose last run failed are run again.",
        target=targets,
        minimum_interval_seconds=EVERY_DAEMON_PASS,  # a settled file waits no longer
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def _sensor(
        context: dg.SensorEvaluationContext, landing: ObjectStore, lake: ObjectStore
    ) -> dg.SensorResult:
        return _tick(context, landing.store, lake.store)

    def _tick(context, store, lake_store) -> dg.SensorResult:
        cursor = json.loads(context.cursor) if context.cursor else {}
        now = time.time()
        files, refused = arrivals.list_landing(store)
        for file in refused:
            context.log.warning(f"landing: {file.name!r} refused: {file.reason}")
            arrivals.refuse(store, file)
        complete, pending = arrivals.complete(store, files, cursor.get("pending", {}), now)
        pending.update({f.key: [f.signature, now] for f in complete[MAX_CLAIMS_PER_TICK:]})
        claimed_now, rejected = 0, len(refused)
        for file in complete[:MAX_CLAIMS_PER_TICK]:
            wave = arrivals.wave_of(store, file)
            if not valid(wave, datetime.now(UTC)):
                reason = f"wave {wave} is outside the partitions (clock or name?)"
                quarantine(store, file.key, reason)
                rejected += 1
            elif arrivals.claim(store, file.key, wave):
                claimed_now += 1
            else:
                rejected += 1
        for key, reason in arrivals.sweep_taken(store, lake_store, now).items():
            context.log.warning(f"landing: {key} quarantined: {reason}")
            rejected += 1
        claims = arrivals.claimed(store)
        requests = [
            request
            for wave in sorted(claims.keys() | _failed_groups(context.instance, name))
            if (request := _request(context, drop, name, targets, wave, claims.get(wave, [])))
        ]
        context.log.info(
            f"landing: {len(files)} file(s), {claimed_now} claimed, {len(pending)} still being "
            f"written, {rejected} quarantined; {len(requests)} run(s) requested"
        )
        return dg.SensorResult(
            run_requests=requests,
            asset_events=[dg.AssetObservation(landing_key, metadata={"files_claimed": claimed_now})]
            if claimed_now
            else [],
            cursor=json.dumps({"pending": pending}, sort_keys=True),
        )

    return _sensor


# -- the assets ------------------------------------------------------------------------------


class ParseConfig(dg.Config):
    full_refresh: bool = False
    """Re-parse every file of the group, not only those without a parsed part."""
    workers: int = 2
    """Files parsed at once (memory is bounded by this many files)."""
    max_clock_skew_minutes: float = MAX_CLOCK_SKEW.total_seconds() / 60
    """(machine logs) How far outside its file's wave (or after the file's arrival) a line's
    time may lie; further out it is rejected (a machine clock set wrong)."""


# (spec, lake, warehouse, wave, config, run id) -> the group's parse
WaveParser = Callable[[DropSpec, Any, Any, str, ParseConfig, str], WaveParse]


def _parse(spec, lake, warehouse, wave, config, run_id) -> WaveParse:
    """csv, jsonl, parquet: ``sources/files/readers.py``."""
    return parse_drop_wave(
        spec,
        lake,
        warehouse,
        wave,
        full_refresh=config.full_refresh,
        workers=config.workers,
        run_id=run_id,
    )


def _machine_parser(spec, lake, warehouse, wave, config, run_id) -> WaveParse:
    """delimited_log: the machine-log parser, with the drop's machine types."""
    return parse_wave(
        lake,
        warehouse,
        wave,
        full_refresh=config.full_refresh,
        workers=config.workers,
        run_id=run_id,
        skew=timedelta(minutes=config.max_clock_skew_minutes),
        types=machine_types(list(spec.format.types)),
        landing=landing_for(spec),
        layout=Layout(spec.name),
    )


def _parse_metadata(stats: WaveParse, layout: Layout, wave: str, lake, warehouse) -> dict:
    return {
        "files_in_wave": stats.files,
        "files_parsed": stats.parsed,
        "files_already_parsed": stats.already_parsed,
        "files_needing_exact_path": stats.exact_path,
        "bytes_parsed": stats.bytes_in,
        "bytes_uncompressed": stats.bytes_uncompressed,
        "lines": stats.lines,
        "accepted_lines": stats.accepted,
        "rejected_lines": stats.rejected,
        "rejected_by_reason": dict(stats.reasons.most_common(20)),
        "files_quarantined": stats.quarantined,
        "parts": dg.MetadataValue.path(warehouse.uri(f"{layout.parsed}/wave={wave}")),
        "rejected_lines_at": dg.MetadataValue.path(lake.uri(f"{layout.rejected}/wave={wave}")),
    }


def drop_definitions(
    spec: DropSpec,
    *,
    group_name: str,
    owners: list[str],
    description: str = "",
    sensor_name: str | None = None,
    start: str = PARTITIONS_START,
    parse: WaveParser = _parse,
    also_run: Sequence[dg.AssetKey] = (),
) -> dg.Definitions:
    """The landing spec, the raw and parsed assets and the sensor of one drop (whose runs
    also materialise ``also_run``: assets on top with the same partitions)."""
    landing_key, raw_key, parsed_key = drop_keys(spec.name)
    landing, layout = landing_for(spec), Layout(spec.name)
    partitions = drop_partitions(spec.grouping, start)
    grouping = "daily" if spec.grouping.hours == 24 else f"{spec.grouping.hours}-hour waves"
    note = (
        f" Partitions: arrival groups ({grouping}) since {start}; groups without files stay "
        "empty by design."
    )
    landing_spec = dg.AssetSpec(
        landing_key,
        description=f"The landing folder `<landing>/{spec.prefix}/` of the `{spec.name}` drop. "
        f"{description} Format: docs/file-drops.md.".replace("  ", " "),
        group_name=group_name,
        owners=owners,
        kinds={"files"},
    )

    @dg.asset(
        key=raw_key,
        deps=[landing_key],
        partitions_def=partitions,
        description=f"`{spec.name}` files as landed, original bytes, in arrival order: one "
        f"folder per take of a group's files (`{landing.lake_prefix}/dt=<date>/<time>Z_wave="
        "<group>/<name>`, a late file makes a new take of its group), each file's SHA-256 and "
        "size in the take's `_manifest.json`." + note,
        group_name=group_name,
        owners=owners,
        kinds={"files"},
        tags={"layer": "lake"},
        pool=f"lake:{landing.lake_prefix}",
    )
    def raw(
        context: dg.AssetExecutionContext, landing: ObjectStore, lake: ObjectStore
    ) -> dg.MaterializeResult:
        wave = context.partition_key
        taken = landing_for(spec).take_wave(landing.store, lake.store, wave)
        context.log.info(f"wave {wave}: {len(taken)} file(s) moved into the lake")
        folder = posixpath.dirname(taken[0].key) if taken else None
        return dg.MaterializeResult(
            metadata={
                "files_taken": len(taken),
                "bytes_taken": sum(t.size for t in taken),
                **({"folder": dg.MetadataValue.path(lake.store.uri(folder))} if folder else {}),
            }
        )

    columns = (
        "one typed schema (the machine-log fields)"
        if isinstance(spec.format, DelimitedLogFormat)
        else "the declared columns, the file name's groups, `file` and `line`"
    )

    @dg.asset(
        key=parsed_key,
        deps=[raw_key],
        partitions_def=partitions,
        description=f"Every line of the `{spec.name}` files of the group in {columns}: one "
        "Parquet part per raw file. Rejected lines are kept with file, line number and reason "
        f"under the lake's `{layout.rejected}/`." + note,
        group_name=group_name,
        owners=owners,
        kinds={"parquet", "pyarrow"},
        tags={"layer": "warehouse"},
        check_specs=[
            dg.AssetCheckSpec(
                "every_line_accounted",
                asset=parsed_key,
                description="Each line of each file is either parsed or rejected with a reason.",
            )
        ],
    )
    def parsed(
        context: dg.AssetExecutionContext,
        config: ParseConfig,
        lake: ObjectStore,
        warehouse: ObjectStore,
    ) -> Iterator:
        wave = context.partition_key
        stats = parse(spec, lake.store, warehouse.store, wave, config, context.run.run_id)
        for name, reason in stats.quarantined.items():
            context.log.warning(f"{name}: quarantined as a whole: {reason}")
        yield dg.MaterializeResult(
            metadata=_parse_metadata(stats, layout, wave, lake.store, warehouse.store)
        )
        yield dg.AssetCheckResult(
            check_name="every_line_accounted",
            passed=not stats.unaccounted_files,
            metadata={"files_with_lost_lines": stats.unaccounted_files},
        )

    sensor = landing_sensor(
        sensor_name or f"{spec.name}_landing",
        spec.name,
        landing,
        landing_key,
        [raw_key, parsed_key, *also_run],
        start,
    )
    return dg.Definitions(assets=[landing_spec, raw, parsed], sensors=[sensor])


def read_drop(path: Path) -> DropSpec:
    """A drop declared in a YAML file."""
    return drop_spec(yaml.safe_load(path.read_text()))


class FileDrop(dg.Component, dg.Model, dg.Resolvable):
    """A file drop (docs/file-drops.md): files landing in a folder, bucket or container ->
    lake (original bytes, SHA-256 manifests) -> typed Parquet, by arrival group."""

    drop: dict[str, Any] | None = None
    """The drop, inline: name, pattern, grouping, settle_seconds or marker_suffix, format."""
    spec_file: str | None = None
    """Or a YAML file holding the drop, relative to this ``defs.yaml``."""
    group_name: str | None = None
    owners: tuple[str, ...] = ()
    description: str = ""
    sensor_name: str | None = None
    """Default ``<name>_landing``."""
    also_run: tuple[str, ...] = ()
    """Assets on top (same partitions) each run of a group also materialises, e.g.
    ``warehouse/machines/kpis_hourly``."""

    def spec(self, folder: Path) -> DropSpec:
        if (self.drop is None) == (self.spec_file is None):
            raise ValueError("FileDrop: declare the drop inline (drop:) or in a file (spec_file:)")
        return read_drop(folder / self.spec_file) if self.spec_file else drop_spec(self.drop)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        spec = self.spec(context.path)
        return drop_definitions(
            spec,
            group_name=self.group_name or spec.name,
            owners=list(self.owners),
            description=self.description,
            sensor_name=self.sensor_name,
            parse=_machine_parser if isinstance(spec.format, DelimitedLogFormat) else _parse,
            also_run=[dg.AssetKey.from_user_string(k) for k in self.also_run],
        )
