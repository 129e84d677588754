"""The lake sensor and `lakehouse tick`: every lake file processed exactly once, across ticks,
idle ticks and restarts."""

import collections
import os
import subprocess
import sys

import dagster as dg
import pytest

from lakehouse.components import lake_sensor
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.defs.platform.keys import state_key
from lakehouse.storage import Store
from lakehouse.storage.batches import new_batch_key
from lakehouse_dev.simulate.platform import simulate
from lakehouse_dev.simulate.platform_schema import TABLES
from lakehouse_dev.tick import tick
from lakehouse_tests.conftest import PROJECT_ROOT, load_definitions

WORKSPACE = str(PROJECT_ROOT / "workspace.yaml")


def _evaluate(lake_url: str, cursor: str | None, instance: dg.DagsterInstance | None = None):
    context = dg.build_sensor_context(
        cursor=cursor,
        resources={"lake": ObjectStore(url=lake_url)},
        instance=instance or dg.DagsterInstance.ephemeral(),
    )
    return load_definitions().get_sensor_def("platform_lake_files")(context)


def _land(lake: Store, table: str, n: int) -> list[str]:
    return [lake.write_bytes(new_batch_key(f"platform/{table}"), b"batch") for _ in range(n)]


def test_sensor_requests_each_new_file_once_and_idles_when_nothing_is_new(settings):
    lake = Store(settings.lake_url)
    _land(lake, "applications", 2)
    _land(lake, "trades", 1)

    first = _evaluate(settings.lake_url, None)
    (request,) = first.run_requests
    assert set(request.asset_selection) == {state_key("applications"), state_key("trades")}
    assert request.tags["lakehouse/new_files"] == "3"
    again = _evaluate(settings.lake_url, None)
    assert again.run_requests[0].run_key == request.run_key  # deterministic: deduplicated

    for _ in range(2):  # two ticks with nothing new
        idle = _evaluate(settings.lake_url, first.cursor)
        assert isinstance(idle, dg.SkipReason)

    _land(lake, "trades", 2)
    later = _evaluate(settings.lake_url, first.cursor)  # a restart: only the stored cursor
    (request,) = later.run_requests
    assert list(request.asset_selection) == [state_key("trades")]
    assert request.tags["lakehouse/new_files"] == "2"


def test_a_tick_requests_a_bounded_batch_and_the_next_takes_the_rest(settings, monkeypatch):
    monkeypatch.setattr(lake_sensor, "MAX_FILES_PER_TICK", 3)
    lake = Store(settings.lake_url)
    _land(lake, "applications", 4)
    _land(lake, "payments", 1)
    first = _evaluate(settings.lake_url, None)
    second = _evaluate(settings.lake_url, first.cursor)
    third = _evaluate(settings.lake_url, second.cursor)
    counts = [int(r.run_requests[0].tags["lakehouse/new_files"]) for r in (first, second)]
    assert counts == [3, 2] and isinstance(third, dg.SkipReason)


def test_files_another_run_merges_request_nothing_and_are_not_skipped(settings):
    lake, instance = Store(settings.lake_url), dg.DagsterInstance.ephemeral()
    files = _land(lake, "applications", 2)
    # A run that merges the applications is under way (a change carried through): wait for it.
    run = dg.DagsterRun(
        job_name="__ASSET_JOB",
        status=dg.DagsterRunStatus.STARTED,
        asset_selection=frozenset({state_key("applications")}),
    )
    instance.add_run(run)
    held = _evaluate(settings.lake_url, None, instance)
    assert not held.run_requests and held.cursor in (None, "{}")
    # It ended having merged the first file only: the second is requested.
    instance.report_run_failed(instance.get_run_by_id(run.run_id))
    merged = {"applications": files[0]}
    instance.report_runless_asset_event(
        dg.AssetMaterialization(state_key("applications"), metadata={"lake_cursors": merged})
    )
    (request,) = _evaluate(settings.lake_url, None, instance).run_requests
    assert list(request.asset_selection) == [state_key("applications")]
    # Once a run has merged both, they only move the cursor.
    merged = {"applications": files[1]}
    instance.report_runless_asset_event(
        dg.AssetMaterialization(state_key("applications"), metadata={"lake_cursors": merged})
    )
    done = _evaluate(settings.lake_url, None, instance)
    assert not done.run_requests
    assert isinstance(_evaluate(settings.lake_url, done.cursor, instance), dg.SkipReason)
    _land(lake, "applications", 1)
    assert _evaluate(settings.lake_url, done.cursor, instance).run_requests


def _merged_files(instance: dg.DagsterInstance) -> dict[str, collections.Counter]:
    """For each projection, how many times each lake file was merged, over all its runs."""
    merged = {}
    for table in TABLES:
        records = instance.fetch_materializations(state_key(table), limit=1000).records
        merged[table] = collections.Counter(
            key
            for record in records
            for key in record.asset_materialization.metadata["lake_files_merged"].value
        )
    return merged


@pytest.mark.timeout(600)
def test_tick_carries_new_activity_through_and_merges_every_file_exactly_once(settings, instance):
    url, lake = settings.platform_db_url, Store(settings.lake_url)
    load_definitions()  # the code location the tick loads, for this test's environment
    simulate(url, days=3, seed=4)
    first = tick(WORKSPACE, instance)
    by_sensor = collections.Counter(run.instigator for run in first)
    # One run extracts, merges and builds the KPIs, features and catalog; the merge sensor finds
    # the files merged. The automation sensor builds what is missing: the model, then scores.
    assert by_sensor == {"platform_changes": 1, "automation": 1, "lake_replication": 1}
    assert all(run.status == "SUCCESS" for run in first)
    assert tick(WORKSPACE, instance) == []  # nothing new: no run

    simulate(url, days=1, seed=4)
    # A new day: one run carries it through, one copies it to the replica.
    assert sorted(r.instigator for r in tick(WORKSPACE, instance)) == [
        "lake_replication",
        "platform_changes",
    ]

    # Restart: a new process, with only the cursors the instance stored.
    simulate(url, days=1, seed=4)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-m", "lakehouse.cli", "tick"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "tick: 2 run(s)" in out.stdout

    for table, counts in _merged_files(instance).items():
        lake_files = lake.keys(f"platform/{table}")
        assert sorted(counts) == lake_files, table  # every file merged ...
        assert set(counts.values()) <= {1}, table  # ... exactly once
