"""A Celery worker killed mid-step (SIGKILL to its whole process group, as when its host dies):
RabbitMQ hands the unacknowledged step to the other worker, the run completes, and the lake
and the warehouse hold every file and row exactly once, every part whole."""

import os
import signal
import time
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest

from lakehouse.defs.machines.keys import PARSED_KEY
from lakehouse.sources.machines.landing import LAKE_PREFIX, LANDING_PREFIX, MACHINES
from lakehouse.storage import Store
from lakehouse.warehouse.machine_waves import PARSED_PREFIX
from lakehouse_dev.simulate.machines import Quirks, generate
from lakehouse_tests.dev.prod.conftest import (
    WORKERS,
    age_files,
    step_workers,
    wave_runs,
    waves_done,
)

PARSED_STEP = PARSED_KEY.to_python_identifier()


@pytest.mark.timeout(2400, method="signal")
def test_worker_killed_mid_step_the_other_worker_finishes_the_run(
    settings, topology, prod_instance
):
    landing, lake, warehouse = (
        Store(u) for u in (settings.landing_url, settings.lake_url, settings.warehouse_url)
    )
    out = generate(
        landing,
        LANDING_PREFIX,
        machines=10,
        file_mb=6,
        waves=1,
        quirks=Quirks(truncated_share=0, bad_line_rate=0),
    )
    names = sorted(k.rsplit("/", 1)[-1] for k in out.files)
    age_files(Path(landing.path(LANDING_PREFIX)))
    topology.start_workers()
    topology.start_daemon()

    # The moment a worker begins the parse step, its host "dies".
    def parsing_worker() -> str | None:
        for run in wave_runs(prod_instance):
            for step, worker in step_workers(prod_instance, run.run_id):
                if step == PARSED_STEP:
                    return worker
        return None

    topology.wait("a worker to begin parsing", lambda: parsing_worker() is not None)
    victim = parsing_worker()
    parts_dir = Path(warehouse.path(PARSED_PREFIX))
    deadline = time.monotonic() + 30  # let it write some parts first, if it is that quick
    while time.monotonic() < deadline and not any(parts_dir.rglob("*.parquet")):
        time.sleep(0.1)
    os.killpg(topology.services[victim].pid, signal.SIGKILL)  # the worker and its pool
    killed_with = len(list(parts_dir.rglob("*.parquet")))
    topology.services.pop(victim).stop()
    survivor = next(w for w in WORKERS if w != victim)

    topology.wait("the run to finish", lambda: waves_done(prod_instance, 1))
    (run,) = wave_runs(prod_instance)  # no retry: the run itself completed
    assert run.status == dg.DagsterRunStatus.SUCCESS, topology.logs()
    parse_attempts = [w for s, w in step_workers(prod_instance, run.run_id) if s == PARSED_STEP]
    assert parse_attempts == [victim, survivor], (killed_with, parse_attempts)

    # The lake: every landed file exactly once, none quarantined as a duplicate.
    wave = run.tags["lakehouse/wave"]
    raw = [k.rsplit("/", 1)[-1] for k in lake.keys(LAKE_PREFIX)]
    assert sorted(raw) == names
    assert sorted(MACHINES.read_manifest(lake, wave)) == names
    assert not lake.keys("quarantine") and not landing.keys("quarantine")
    # The warehouse: one whole part per file, every generated line once.
    parts = sorted(p for p in parts_dir.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert [p.name for p in parts] == [f"{n}.parquet" for n in names]
    assert sum(pq.read_metadata(p).num_rows for p in parts) == out.lines
