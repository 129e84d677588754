"""The landing sensor (complete files only, one run per wave, late files, restarts), the
whole path through `tick` on a small generated wave, and the landing -> lake -> KPI path on
S3 and Azure Blob."""

import functools
import json
import os
import time
from datetime import UTC, datetime

import dagster as dg
import pyarrow.parquet as pq
import pytest

from lakehouse.components.resources.stores import ObjectStore
from lakehouse.sources.files import landing as files_landing
from lakehouse.sources.files.landing import MANIFEST
from lakehouse.sources.machines import landing as landing_mod
from lakehouse.sources.machines.landing import CLAIMED_PREFIX, LAKE_PREFIX, MACHINES
from lakehouse.storage.projections import read_current
from lakehouse.storage.store import Store
from lakehouse.warehouse.machine_waves import kpis, parse_wave, rejected_key
from lakehouse_dev.simulate.machines import Quirks, generate
from lakehouse_dev.tick import tick
from lakehouse_tests.conftest import PROJECT_ROOT, load_definitions

START = datetime(2026, 3, 2, 8, tzinfo=UTC)
LINE = "2026-03-02T08:00:01.000Z|SMT-0001|H1|T|SN1|paste_height|1|PASS|121.5|um|||\n"


def _age(store: Store, key: str | None = None, seconds: float = 600) -> None:
    """Make files look written ``seconds`` ago (a machine finished them long before)."""
    keys = [key] if key else store.keys("machines")
    for k in keys:
        then = time.time() - seconds
        os.utime(store.path(k), (then, then))


@functools.cache
def _machine_landing() -> dg.SensorDefinition:
    """The sensor the machine drop's component declares (lakehouse/defs/machines/drop)."""
    return load_definitions().get_sensor_def("machine_landing")


def _evaluate(instance, landing: Store, cursor: str | None, lake: Store | None = None):
    machine_landing = _machine_landing()
    lake = lake or Store(landing.url.rsplit("/", 1)[0] + "/lake")
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "landing": ObjectStore(url=landing.url, name="landing"),
            "lake": ObjectStore(url=lake.url, name="lake"),
        },
    )
    result = machine_landing(context)
    return result, result.cursor


def _write(store: Store, name: str, lines: int = 2, age: float | None = 600) -> None:
    store.write_bytes(f"machines/{name}", (LINE * lines).encode())
    if age:
        _age(store, f"machines/{name}", age)


def test_complete_means_unchanged_for_a_settle_period():
    file = files_landing.LandingFile("machines/a", 10, "10:1", modified=1000.0)
    grown = files_landing.LandingFile("machines/a", 20, "20:2", modified=1000.0 + 25)
    settle = files_landing.SETTLE_SECONDS
    # first sight while being written: pending
    done, pending = files_landing.settle([grown], {}, 1000.0 + 26, settle)
    assert done == [] and pending == {"machines/a": ["20:2", 1026.0]}
    # same signature, but not for long enough; then long enough (two ticks apart)
    assert files_landing.settle([grown], pending, 1026.0 + settle - 1, settle)[0] == []
    assert files_landing.settle([grown], pending, 1026.0 + settle, settle)[0] == [grown]
    # changed since: pending again, from now
    changed = files_landing.LandingFile("machines/a", 30, "30:3", modified=1029.0)
    _, again = files_landing.settle([changed], pending, 1030.0, settle)
    assert again == {"machines/a": ["30:3", 1030.0]}
    # first sight of a file nobody has written to for a settle period: complete at once
    assert files_landing.settle([file], {}, 1000.0 + settle + 2, settle)[0] == [file]


def test_sensor_takes_complete_files_one_run_per_wave_late_file_only_its_wave(settings, instance):
    landing = Store(settings.landing_url)
    for n in (1, 6):
        _write(landing, f"SMT-{n:04d}_20260302T080000.log")
    _write(landing, "SMT-0001_20260302T100000.log", age=None)  # still being written

    first, cursor = _evaluate(instance, landing, None)
    assert [(r.partition_key, r.tags["lakehouse/files"]) for r in first.run_requests] == [
        ("2026-03-02T08", "2")
    ]
    assert landing.keys("machines") == ["machines/SMT-0001_20260302T100000.log"]
    assert sorted(landing.keys(f"{CLAIMED_PREFIX}/wave=2026-03-02T08")) == [
        f"{CLAIMED_PREFIX}/wave=2026-03-02T08/SMT-0001_20260302T080000.log",
        f"{CLAIMED_PREFIX}/wave=2026-03-02T08/SMT-0006_20260302T080000.log",
    ]
    # the file grows between ticks: still not taken; the wave 08 run is requested again
    # under the same run key (de-duplicated by Dagster) until it has moved its files
    _write(landing, "SMT-0001_20260302T100000.log", lines=3, age=None)
    second, cursor = _evaluate(instance, landing, cursor)
    assert [r.run_key for r in second.run_requests] == [first.run_requests[0].run_key]

    # the run moves the claims into the lake; the growing file is finished meanwhile
    MACHINES.take_wave(landing, Store(settings.lake_url), "2026-03-02T08")
    _age(landing, "machines/SMT-0001_20260302T100000.log")
    third, cursor = _evaluate(instance, landing, cursor)
    assert [r.partition_key for r in third.run_requests] == ["2026-03-02T10"]

    # a late file for the old wave: a new request for that wave only
    MACHINES.take_wave(landing, Store(settings.lake_url), "2026-03-02T10")
    _write(landing, "SMT-0011_20260302T080000.log")
    late, cursor = _evaluate(instance, landing, cursor)
    (request,) = late.run_requests
    assert request.partition_key == "2026-03-02T08"
    assert request.run_key != first.run_requests[0].run_key
    assert sorted(request.asset_selection) == sorted(
        dg.AssetKey.from_user_string(k)
        for k in (
            "lake/machines/raw",
            "warehouse/machines/parsed",
            "warehouse/machines/kpis_hourly",
        )
    )


def test_no_file_is_taken_twice_across_a_restart(settings, instance):
    landing, lake = Store(settings.landing_url), Store(settings.lake_url)
    _write(landing, "ICT-0003_20260302T080000.txt")
    claimed, _ = _evaluate(instance, landing, None)
    assert len(claimed.run_requests) == 1
    # a restart with a lost cursor: the claimed file is not in the landing listing any more,
    # and the unfinished claim is requested again under the same run key (de-duplicated)
    again, _ = _evaluate(instance, landing, None)
    assert [r.run_key for r in again.run_requests] == [claimed.run_requests[0].run_key]
    assert json.loads(again.cursor)["pending"] == {}
    (taken,) = MACHINES.take_wave(landing, lake, "2026-03-02T08")
    assert MACHINES.take_wave(landing, lake, "2026-03-02T08") == []  # nothing left to take
    after, _ = _evaluate(instance, landing, None)
    assert after.run_requests == []
    folder = taken.key.rsplit("/", 1)[0]
    manifest = json.loads(lake.read_bytes(f"{folder}/_manifest.json"))
    assert manifest["ICT-0003_20260302T080000.txt"]["sha256"] == lake.checksum(taken.key)


def _land(landing: Store, lake: Store, wave: str, *names: str, lines: int = 2) -> list:
    for name in names:
        _write(landing, name, lines)
        landing_mod.MACHINES.claim(landing, f"machines/{name}", wave)
    return MACHINES.take_wave(landing, lake, wave)


def test_a_late_file_sorts_after_newer_waves_and_reaches_the_replica(tmp_path):
    """Lake keys are arrival-ordered: a late file for an old wave lands after the newer
    waves' files, so the replica's cursor (its newest key) copies it, and the old wave's run
    parses only it."""
    from lakehouse.replica.replicate import replicate_new

    landing, lake = Store(str(tmp_path / "landing")), Store(str(tmp_path / "lake"))
    replica, warehouse = Store(str(tmp_path / "replica")), Store(str(tmp_path / "wh"))
    first = _land(landing, lake, "2026-03-02T08", "SMT-0001_20260302T080000.log")
    assert parse_wave(lake, warehouse, "2026-03-02T08").parsed == 1
    _land(landing, lake, "2026-03-02T10", "SMT-0001_20260302T100000.log")
    copied = [c.key.rsplit("/", 1)[1] for c in replicate_new(lake, replica, LAKE_PREFIX)]
    assert sorted(copied) == sorted(
        [*2 * [MANIFEST], "SMT-0001_20260302T080000.log", "SMT-0001_20260302T100000.log"]
    )  # manifests are lake data

    (late,) = _land(landing, lake, "2026-03-02T08", "SMT-0006_20260302T080000.log")
    keys = lake.keys(LAKE_PREFIX)
    assert keys[-1] == late.key and "Z_wave=2026-03-02T10/" in keys[-2]  # after wave 10's
    late_manifest = f"{late.key.rsplit('/', 1)[0]}/{MANIFEST}"
    assert sorted(c.key for c in replicate_new(lake, replica, LAKE_PREFIX)) == sorted(
        [late.key, late_manifest]
    )
    assert landing_mod.MACHINES.raw_files(lake, "2026-03-02T08") == [first[0].key, late.key]
    again = parse_wave(lake, warehouse, "2026-03-02T08")
    assert (again.files, again.parsed, again.already_parsed) == (2, 1, 1)
    manifest = landing_mod.MACHINES.read_manifest(lake, "2026-03-02T08")
    assert {n: m["sha256"] for n, m in manifest.items()} == {
        t.key.rsplit("/", 1)[1]: lake.checksum(t.key) for t in (first[0], late)
    }

    # the same name sent again with other bytes is not taken: quarantined in the landing
    # store, with why (the same bytes again are the same file: not taken twice either)
    assert _land(landing, lake, "2026-03-02T08", "SMT-0006_20260302T080000.log") == []
    assert landing.keys("quarantine") == []
    assert _land(landing, lake, "2026-03-02T08", "SMT-0006_20260302T080000.log", lines=3) == []
    reason = json.loads(
        landing.read_bytes(
            "quarantine/machines/_claimed/wave=2026-03-02T08/"
            "SMT-0006_20260302T080000.log.reason.json"
        )
    )
    assert "already has SMT-0006_20260302T080000.log" in reason["reason"]
    assert len(lake.keys(LAKE_PREFIX)) == 3


def test_temporary_names_are_never_taken(settings, instance):
    landing = Store(settings.landing_url)
    _write(landing, "SMT-0001_20260302T080000.log.tmp")
    result, _ = _evaluate(instance, landing, None)
    assert result.run_requests == []


def test_end_to_end_through_tick(settings, instance):
    landing = Store(settings.landing_url)
    out = generate(
        landing,
        "machines",
        machines=5,
        file_mb=0.05,
        waves=1,
        seed=3,
        start=START,
        quirks=Quirks(truncated_share=0.5, bad_line_rate=0.002, empty_files=1, unknown_files=1),
    )
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    _age(landing)  # the machines finished writing a while ago
    load_definitions()  # the code location the tick loads, for this test's environment
    runs = tick(workspace, instance)
    by_sensor = {}
    for run in runs:
        assert run.status == "SUCCESS", run.summary_line()
        by_sensor.setdefault(run.instigator, []).append(run)
    (wave_run,) = by_sensor["machine_landing"]
    assert wave_run.asset_keys == (
        "lake/machines/raw",
        "warehouse/machines/kpis_hourly",
        "warehouse/machines/parsed",
    )
    assert any("warehouse/machines/kpis_daily" in r.asset_keys for r in by_sensor["automation"])
    warehouse, lake = Store(settings.warehouse_url), Store(settings.lake_url)
    hourly = read_current(warehouse, "machines/kpis_hourly/dt=2026-03-02T08")
    daily = read_current(warehouse, "machines/kpis_daily/dt=2026-03-02")
    rejected = sum(
        pq.read_table(lake.path(k)).num_rows
        for k in lake.keys("quarantine/machines/rejected_lines/wave=2026-03-02T08")
        if not k.endswith(".reason.json")
    )
    # every generated line is a KPI line or a rejected line (+1 for the empty file's record)
    total_lines = out.lines + 10  # the unknown type's file has 10 lines
    lines = sum(hourly.column("lines").to_pylist())
    assert lines + sum(hourly.column("rejected_lines").to_pylist()) == total_lines + 1
    assert sum(hourly.column("rejected_lines").to_pylist()) == rejected
    assert sum(daily.column("lines").to_pylist()) == lines
    quarantined = [k for k in lake.keys("quarantine/machines/raw") if k.endswith(".log")]
    assert [k.split("Z_", 1)[1] for k in quarantined] == [  # empty, unknown machine type
        "wave=2026-03-02T08/SMT-9000_20260302T080000.log",
        "wave=2026-03-02T08/XRY-9100_20260302T080000.log",
    ]
    assert landing.keys("machines") == []  # everything was taken
    event = instance.get_latest_materialization_event(
        dg.AssetKey(["warehouse", "machines", "parsed"])
    )
    assert event.asset_materialization.metadata["rejected_lines"].value == rejected
    assert tick(workspace, instance) == []  # quiet: nothing is taken twice


@pytest.mark.parametrize("cloud", ["s3", "az"])
def test_landing_to_kpis_on_the_clouds(cloud_env, cloud):
    root = cloud_env[f"{cloud}_url"]
    landing, lake, warehouse = (Store(f"{root}/{p}") for p in ("landing", "lake", "wh"))
    generate(
        landing,
        "machines",
        machines=2,
        file_mb=0.02,
        waves=1,
        seed=1,
        start=START,
        quirks=Quirks(truncated_share=1.0),
    )
    files, refused = landing_mod.MACHINES.list_landing(landing)
    assert len(files) == 2 and refused == []
    complete, _ = files_landing.settle(
        files, {f.key: [f.signature, 0] for f in files}, time.time(), files_landing.SETTLE_SECONDS
    )
    for f in complete:
        landing_mod.MACHINES.claim(landing, f.key, landing_mod.MACHINES.wave_of(landing, f))
    taken = MACHINES.take_wave(landing, lake, "2026-03-02T08")
    assert sorted(os.path.basename(t.key) for t in taken) == sorted(
        os.path.basename(f.key) for f in files
    )
    assert all(lake.checksum(t.key) == t.sha256 for t in taken)
    stats = parse_wave(lake, warehouse, "2026-03-02T08")
    assert stats.parsed == 2 and stats.rejected == 2  # the two truncated last lines
    lines_key = rejected_key("2026-03-02T08", os.path.basename(taken[0].key))
    assert lake.exists(lines_key)
    note = json.loads(lake.read_bytes(f"{lines_key}.reason.json"))
    assert "line(s) rejected" in note["reason"]
    assert note["source"] == lake.uri(taken[0].key)
    table = kpis(lake, warehouse, ["2026-03-02T08"], "hour")
    assert sum(table.column("lines").to_pylist()) == stats.accepted
    assert sum(table.column("rejected_lines").to_pylist()) == 2
