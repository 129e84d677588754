"""Production mode: machine-log waves requested by the landing sensor run on the PostgreSQL
instance and their steps spread over two real Celery workers on RabbitMQ."""

from pathlib import Path

import dagster as dg
import pytest

from lakehouse.defs.machines.assets import PARSED_KEY, WAVE_ASSETS
from lakehouse.sources.machines.generate import Quirks, generate
from lakehouse.sources.machines.landing import LAKE_PREFIX, LANDING_PREFIX, read_manifest
from lakehouse.sources.machines.waves import PARSED_PREFIX
from lakehouse.storage import Store
from lakehouse_tests.prod.conftest import WORKERS, age_files, all_finished, runs_of, step_workers

WAVES, MACHINES = 4, 5
STEPS = {k.to_python_identifier() for k in WAVE_ASSETS}


@pytest.mark.timeout(1500, method="signal")
def test_wave_runs_fan_out_over_two_celery_workers(settings, topology, prod_instance):
    landing, lake, warehouse = (
        Store(u) for u in (settings.landing_url, settings.lake_url, settings.warehouse_url)
    )
    out = generate(
        landing,
        LANDING_PREFIX,
        machines=MACHINES,
        file_mb=0.2,
        waves=WAVES,
        quirks=Quirks(truncated_share=0, bad_line_rate=0),
    )
    age_files(Path(landing.path(LANDING_PREFIX)))

    topology.start_workers()
    topology.start_daemon()
    topology.wait(
        f"{WAVES} wave runs finished",
        lambda: all_finished(runs_of(prod_instance, "machine_landing"), WAVES),
    )

    runs = runs_of(prod_instance, "machine_landing")
    statuses = {r.run_id: r.status for r in runs}
    assert set(statuses.values()) == {dg.DagsterRunStatus.SUCCESS}, f"{statuses}\n{topology.logs()}"
    waves = sorted(r.tags["lakehouse/wave"] for r in runs)
    assert len(waves) == WAVES
    # Every step of every run ran on a Celery worker, and both workers took steps.
    executed = [pair for r in runs for pair in step_workers(prod_instance, r.run_id)]
    for run in runs:
        assert {step for step, _ in step_workers(prod_instance, run.run_id)} == STEPS
    assert {worker for _, worker in executed} == set(WORKERS), executed

    # Nothing lost or duplicated: every landed file is in the lake once and parsed once.
    names = sorted(k.rsplit("/", 1)[-1] for k in out.files)
    assert sorted(n for w in waves for n in read_manifest(lake, w)) == names
    assert sorted(k.rsplit("/", 1)[-1] for k in lake.keys(LAKE_PREFIX) if "_manifest" not in k) == (
        names
    )
    parts = [k.rsplit("/", 1)[-1] for k in warehouse.keys(PARSED_PREFIX)]
    assert sorted(parts) == sorted(f"{n}.parquet" for n in names)
    parsed_lines = 0
    for run in runs:
        for event in prod_instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records:
            mat = event.event_log_entry.asset_materialization
            if mat.asset_key == PARSED_KEY:
                parsed_lines += mat.metadata["lines"].value
    assert parsed_lines == out.lines
