"""Machine KPIs on top of the machine-log drop (``drop/defs.yaml``: landing folder -> lake ->
typed Parquet, by the file-drop component).

Partitions are the 2-hour waves (``2026-11-03T08``), never one partition per file: a run takes
every file of its wave, and a late file re-runs its own wave only.
"""

from collections.abc import Iterator

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.components.automation import dependency_updated
from lakehouse.components.file_drop import PARTITIONS_START as FILE_DROP_START
from lakehouse.components.file_drop import drop_partitions
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.machines.keys import DAILY_KEY, GROUP, HOURLY_KEY, OWNERS, PARSED_KEY
from lakehouse.sources.files.spec import Grouping
from lakehouse.sources.machines.formats import SPEC, wave_bounds
from lakehouse.warehouse.machine_waves import kpis, waves_of_day

# The first wave. Dagster lists every wave partition (croniter: no fast path for 2-hourly) when
# it evaluates conditions and input versions: history must not start before the data does.
PARTITIONS_START = f"{FILE_DROP_START}T00"
PARTITIONS_NOTE = (
    f" Partitions: every wave (day) since {PARTITIONS_START[:10]}, a fixed start shared by every "
    'deployment; the UI\'s "% filled" counts those with machine data, so waves before the '
    "machines' first file, or without files, stay empty by design (nothing is missing)."
)
MAX_REJECTED_SHARE = 0.01  # a wave with more rejected lines than this warns

waves = drop_partitions(SPEC.grouping, FILE_DROP_START)  # the machine drop's (drop/defs.yaml)
days = drop_partitions(Grouping(24), FILE_DROP_START)


def _kpi_checks(key: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            "yields_between_0_and_1",
            asset=key,
            description="First-pass yield within [0, 1], no negative count.",
        ),
        dg.AssetCheckSpec(
            "rejected_share_below_1pct",
            asset=key,
            description=f"Rejected lines are under {MAX_REJECTED_SHARE:.0%} of all lines.",
        ),
        dg.AssetCheckSpec(
            "kpi_key_unique",
            asset=key,
            description="One row per machine type, machine, station and hour (day) across all "
            "partitions: no key twice in the partition, and every hour (day) inside it.",
        ),
    ]


def _key_result(table: pa.Table, grain: str, window: tuple) -> dg.AssetCheckResult:
    """The KPI key is unique in the partition and inside its window (so across partitions)."""
    columns = ("machine_type", "machine_id", "station_id", grain)
    keys = list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    duplicates = len(keys) - len(set(keys))
    outside = sum(not window[0] <= k[-1] < window[1] for k in keys)
    return dg.AssetCheckResult(
        check_name="kpi_key_unique",
        passed=duplicates == 0 and outside == 0,
        metadata={"duplicate_keys": duplicates, f"{grain}s_outside_partition": outside},
    )


def _kpi_results(table: pa.Table) -> list[dg.AssetCheckResult]:
    fpy = table.column("first_pass_yield")
    out_of_range = pc.sum(pc.or_(pc.less(fpy, 0), pc.greater(fpy, 1))).as_py() or 0
    negatives = sum(
        pc.sum(pc.less(table.column(c), 0)).as_py() or 0
        for c in ("lines", "rejected_lines", "tests_run", "units_produced", "alarms")
    )
    lines = pc.sum(table.column("lines")).as_py() or 0
    rejected = pc.sum(table.column("rejected_lines")).as_py() or 0
    share = rejected / (lines + rejected) if lines + rejected else 0.0
    return [
        dg.AssetCheckResult(
            check_name="yields_between_0_and_1",
            passed=out_of_range == 0 and negatives == 0,
            metadata={"yield_out_of_range": out_of_range, "negative_counts": negatives},
        ),
        dg.AssetCheckResult(
            check_name="rejected_share_below_1pct",
            passed=share < MAX_REJECTED_SHARE,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"rejected_lines": rejected, "lines": lines, "rejected_share": share},
        ),
    ]


def _kpi_metadata(table: pa.Table) -> dict:
    return {
        "rows": table.num_rows,
        "tests_run": pc.sum(table.column("tests_run")).as_py() or 0,
        "units_produced": pc.sum(table.column("units_produced")).as_py() or 0,
        "rejected_lines": pc.sum(table.column("rejected_lines")).as_py() or 0,
    }


@dg.asset(
    key=HOURLY_KEY,
    deps=[PARSED_KEY],
    partitions_def=waves,
    description="Machine KPIs per machine type, machine, station and hour: lines, "
    "rejected_lines, tests_run, first-pass yield (share of first attempts that passed), "
    "units_produced, cycle time p50/p95 (s), alarms. Rejected lines count on their file's "
    "machine with no station, at the wave's first hour." + PARTITIONS_NOTE,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    tags={"layer": "warehouse"},
    check_specs=_kpi_checks(HOURLY_KEY),
)
def kpis_hourly(
    context: dg.AssetExecutionContext, lake: ObjectStore, warehouse: ObjectStore
) -> Iterator:
    table = kpis(lake.store, warehouse.store, [context.partition_key], "hour")
    yield dg.Output(table, metadata=_kpi_metadata(table))
    yield from _kpi_results(table)
    yield _key_result(table, "hour", wave_bounds(context.partition_key))


# A late file re-runs an old wave: roll its day up again, not only the latest day.
_daily_condition = (
    dependency_updated()
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("any wave of the day updated")


@dg.asset(
    key=DAILY_KEY,
    deps=[dg.AssetDep(PARSED_KEY, partition_mapping=dg.TimeWindowPartitionMapping())],
    partitions_def=days,
    description="Daily roll-up of the machine KPIs across the day's waves, per machine type, "
    "machine and station (percentiles exact over the day, not averaged from hours)."
    + PARTITIONS_NOTE,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"duckdb", "parquet"},
    tags={"layer": "warehouse"},
    automation_condition=_daily_condition,
    check_specs=_kpi_checks(DAILY_KEY),
)
def kpis_daily(
    context: dg.AssetExecutionContext, lake: ObjectStore, warehouse: ObjectStore
) -> Iterator:
    waves = waves_of_day(context.partition_key)
    table = kpis(lake.store, warehouse.store, waves, "day")
    yield dg.Output(table, metadata=_kpi_metadata(table))
    yield from _kpi_results(table)
    yield _key_result(table, "day", (wave_bounds(waves[0])[0], wave_bounds(waves[-1])[1]))
