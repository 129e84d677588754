"""Production mode: machine-log waves requested by the landing sensor run on the PostgreSQL
instance, their steps spread over two real Celery workers on RabbitMQ; and the UI, in a real
browser, shows the asset graph's domains and team groups and the sensor's runs."""

import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakehouse.defs.machines.keys import WAVE_ASSETS
from lakehouse.sources.machines.landing import LAKE_PREFIX, LANDING_PREFIX, MACHINES
from lakehouse.storage import Store
from lakehouse.warehouse.machine_waves import PARSED_PREFIX
from lakehouse_dev.simulate.machines import Quirks, generate
from lakehouse_tests.conftest import PROJECT_ROOT
from lakehouse_tests.dev.prod.browser import check_asset_graph_and_runs, require_chromium
from lakehouse_tests.dev.prod.conftest import (
    WORKERS,
    age_files,
    assert_one_request_per_wave,
    step_workers,
    waves_done,
)

WAVES, MACHINE_COUNT = 4, 5
STEPS = {k.to_python_identifier() for k in WAVE_ASSETS}
# Groups are <domain>_<layer>; names the graph shows whole (it shortens those over 17 characters).
GROUPS = [
    "platform_source",
    "platform_lake",
    "marketing_lake",
    "machines_lake",
    "events_warehouse",
    "finance",
    "catalog",
    "teams_marketing",
]
SCREENSHOT = PROJECT_ROOT / "docs" / "prod-asset-graph.png"  # LAKEHOUSE_UPDATE_SCREENSHOTS=1


@pytest.mark.timeout(2400, method="signal")
def test_wave_runs_fan_out_over_two_celery_workers(settings, topology, prod_instance, tmp_path):
    require_chromium()
    landing, lake, warehouse = (
        Store(u) for u in (settings.landing_url, settings.lake_url, settings.warehouse_url)
    )
    out = generate(
        landing,
        LANDING_PREFIX,
        machines=MACHINE_COUNT,
        file_mb=0.2,
        waves=WAVES,
        quirks=Quirks(truncated_share=0, bad_line_rate=0),
    )
    age_files(Path(landing.path(LANDING_PREFIX)))
    topology.start_workers()
    topology.start_daemon()
    url = topology.start_webserver()
    topology.wait(f"{WAVES} waves", lambda: waves_done(prod_instance, WAVES))

    latest = assert_one_request_per_wave(prod_instance)
    assert len(latest) == WAVES
    # Every step of every run ran on a Celery worker, and both workers took steps.
    executed = [pair for r in latest.values() for pair in step_workers(prod_instance, r.run_id)]
    for run in latest.values():
        assert {step for step, _ in step_workers(prod_instance, run.run_id)} == STEPS
    assert {worker for _, worker in executed} == set(WORKERS), executed

    # Nothing lost or duplicated: every landed file is in the lake once and parsed once.
    names = sorted(k.rsplit("/", 1)[-1] for k in out.files)
    assert sorted(n for w in latest for n in MACHINES.read_manifest(lake, w)) == names
    assert sorted(k.rsplit("/", 1)[-1] for k in lake.keys(LAKE_PREFIX)) == names
    parts = sorted(Path(warehouse.path(PARSED_PREFIX)).rglob("*.parquet"))
    assert sorted(p.name for p in parts) == [f"{n}.parquet" for n in names]
    assert sum(pq.read_metadata(p).num_rows for p in parts) == out.lines

    # The UI as users meet it.
    shot = tmp_path / "asset-graph.png"
    check_asset_graph_and_runs(url, GROUPS, next(iter(latest.values())).run_id, shot)
    if os.environ.get("LAKEHOUSE_UPDATE_SCREENSHOTS"):
        shutil.copyfile(shot, SCREENSHOT)
