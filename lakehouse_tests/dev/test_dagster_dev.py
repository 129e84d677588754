"""End to end through `dagster dev`: the daemon's sensors carry platform activity from the
database to the lake, the warehouse projections and the KPIs, with nothing run in-process: the
change sensor's run carries it all the way."""

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest

from lakehouse.components.resources.stores import asset_key_to_store_key
from lakehouse.defs.platform.keys import lake_key, state_key
from lakehouse.defs.platform.kpis import kpi_key
from lakehouse.settings import Settings
from lakehouse.storage import Store
from lakehouse.storage.projections import current_key, read_current
from lakehouse_dev.emulators.processes import (
    GENTLE,
    default_signals,
    executable,
    free_port,
    group_members,
    launch,
    log_tail,
)
from lakehouse_dev.simulate.platform import simulate
from lakehouse_tests.conftest import PROJECT_ROOT
from lakehouse_tests.defs.platform.helpers import db_rows

TABLE = "applications"
KPI = "applications_daily"
PHASE_TIMEOUT = 420  # seconds; the sensors tick every 5 s, runs queue behind each other
POLL = 1.0
SENSOR_TAG, SCHEDULE_TAG = "dagster/sensor_name", "dagster/schedule_name"
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


# -- the dagster dev process group ------------------------------------------------------------


@contextmanager
def dagster_dev(log: Path) -> Iterator[subprocess.Popen]:
    """``dagster dev -w workspace.yaml`` on a free loopback port, in its own process group."""
    argv = [*default_signals(), executable("dagster"), "dev"]
    argv += ["-w", str(PROJECT_ROOT / "workspace.yaml"), "--host", "127.0.0.1"]
    argv += ["--port", str(free_port())]
    proc = launch("dagster dev", argv, log=log, cwd=PROJECT_ROOT)
    try:
        yield proc.popen
    finally:
        stubborn = proc.stop(GENTLE)  # SIGINT: a clean dagster dev shutdown
        assert not group_members(proc.pid), "dagster dev processes survived SIGKILL"
        if stubborn:
            print(f"dagster dev: needed SIGTERM/SIGKILL for {stubborn}")


# -- what the warehouse and the database hold ---------------------------------------------------


def _db_versions(settings: Settings) -> dict[int, object]:
    return {i: row["updated_at"] for i, row in db_rows(settings.platform_db_url, TABLE).items()}


def _db_counts(settings: Settings) -> tuple[int, int, int, int]:
    """(submitted, approved, declined, pending) as applications_daily should sum them."""
    statuses = [row["status"] for row in db_rows(settings.platform_db_url, TABLE).values()]
    return (
        len(statuses),
        statuses.count("approved"),
        statuses.count("declined"),
        statuses.count("submitted"),
    )


def _projection_versions(warehouse: Store) -> dict[int, object] | None:
    prefix = asset_key_to_store_key(state_key(TABLE))
    if current_key(warehouse, prefix) is None:
        return None
    rows = read_current(warehouse, prefix).select(["id", "updated_at"]).to_pylist()
    return {row["id"]: row["updated_at"] for row in rows}


def _kpi_version(warehouse: Store) -> str | None:
    """The KPI's current file: each rewrite is a new, later-named version."""
    return current_key(warehouse, asset_key_to_store_key(kpi_key(KPI)))


def _kpi_counts(warehouse: Store) -> tuple[int, ...] | None:
    prefix = asset_key_to_store_key(kpi_key(KPI))
    if current_key(warehouse, prefix) is None:
        return None
    kpi = read_current(warehouse, prefix)
    cols = ("submitted", "approved", "declined", "pending")
    return tuple(int(pc.sum(kpi.column(c)).as_py() or 0) for c in cols)


# -- waiting -----------------------------------------------------------------------------------


def _wait_until(
    conditions: dict[str, Callable[[], bool]], proc: subprocess.Popen, log: Path, timeout: float
) -> dict[str, float]:
    """Poll every condition each second until all hold; return when each first held (s)."""
    start, met, errors = time.monotonic(), {}, {}
    while True:
        for name, condition in conditions.items():
            try:
                ok = condition()
            except Exception as exc:  # a file replaced while read, a locked database: retry
                ok, errors[name] = False, repr(exc)
            if ok:
                met.setdefault(name, time.monotonic() - start)
            else:
                met.pop(name, None)
        if len(met) == len(conditions):
            return met
        elapsed = time.monotonic() - start
        if proc.poll() is not None or elapsed > timeout:
            pending = [n for n in conditions if n not in met]
            why = (
                f"dagster dev exited with {proc.returncode}"
                if proc.returncode is not None
                else (f"timed out after {elapsed:.0f} s")
            )
            pytest.fail(
                f"{why} waiting for {pending} (last errors: {errors})\n"
                f"--- tail of {log} ---\n{log_tail(log, lines=80)}"
            )
        time.sleep(POLL)


def _sensor_of_latest(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    event = instance.get_latest_materialization_event(key)
    assert event is not None, f"{key.to_user_string()} was never materialised"
    run = instance.get_run_by_id(event.run_id)
    return run.tags.get(SENSOR_TAG) if run else None


@pytest.mark.timeout(1200, method="signal")  # so the teardown runs on timeout
def test_dagster_dev_daemon_carries_platform_activity_to_the_warehouse(settings, tmp_path):
    warehouse, log = Store(settings.warehouse_url), tmp_path / "dagster-dev.log"
    simulate(settings.platform_db_url, days=3, seed=1)
    history = _db_versions(settings)

    with dagster_dev(log) as proc:
        # 1. The history reaches the projection: watermarks -> lake -> lake files -> warehouse.
        started = time.monotonic()
        _wait_until(
            {"projection == database": lambda: _projection_versions(warehouse) == history},
            proc,
            log,
            PHASE_TIMEOUT,
        )
        first = time.monotonic() - started
        kpi_before = _kpi_version(warehouse)

        # 2. New activity (new rows and updates of old ones) follows the same way, and the
        # automation sensor recomputes the KPI from the new projection.
        simulate(settings.platform_db_url, days=1, seed=1)
        now, counts = _db_versions(settings), _db_counts(settings)
        assert len(now) > len(history), "the simulation should add applications"
        assert any(now[i] != v for i, v in history.items()), "and update some old ones"
        latency = _wait_until(
            {
                "projection == database": lambda: _projection_versions(warehouse) == now,
                "KPI rewritten": lambda: (_kpi_version(warehouse) or "") > (kpi_before or ""),
                "KPI == database": lambda: _kpi_counts(warehouse) == counts,
            },
            proc,
            log,
            PHASE_TIMEOUT,
        )
        print(
            f"\ndagster dev: history -> projection {first:.1f} s; new activity -> projection "
            f"{latency['projection == database']:.1f} s, -> KPI {latency['KPI == database']:.1f} s"
        )

        # 3. Every run was launched by a sensor and succeeded (asked before dagster dev stops,
        # as stopping it would interrupt runs still in flight).
        with dg.DagsterInstance.get() as instance:
            _wait_until(
                {
                    "no run in flight": lambda: (
                        not instance.get_runs(dg.RunsFilter(statuses=UNFINISHED))
                    )
                },
                proc,
                log,
                PHASE_TIMEOUT,
            )
            runs = instance.get_runs()
            summary = "\n".join(f"{r.run_id} {r.status.value} {dict(r.tags)}" for r in runs)
            failed = [r for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
            assert not failed, (
                f"runs did not succeed:\n{summary}\n--- log ---\n{log_tail(log, lines=80)}"
            )
            # Other sensors (replication, the automation building the risk model, ...) and
            # schedules (the nightly reconcile) may launch runs too; the change sensor's runs
            # must have done the work.
            unattended = [r for r in runs if {SENSOR_TAG, SCHEDULE_TAG} & set(r.tags)]
            assert unattended == runs, f"a run launched by neither sensor nor schedule:\n{summary}"
            assert _sensor_of_latest(instance, lake_key(TABLE)) == "platform_changes"
            # One run: extraction, current state and KPI (no run per hop).
            assert _sensor_of_latest(instance, state_key(TABLE)) == "platform_changes"
            assert _sensor_of_latest(instance, kpi_key(KPI)) == "platform_changes"

    assert not group_members(proc.pid), "dagster dev left processes behind"
