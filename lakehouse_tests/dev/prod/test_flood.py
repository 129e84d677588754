"""A flood of 10,000 machine-log files at once: the landing sensor claims them in bounded ticks
(a wave claimed over two ticks may be requested twice: its second run takes the rest), the
queue releases the runs within the wave limit, the webserver keeps answering, and every file
reaches the lake and the warehouse exactly once."""

from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
import requests
import yaml

from lakehouse.sources.machines.landing import LAKE_PREFIX, LANDING_PREFIX, MACHINES
from lakehouse.storage import Store
from lakehouse.warehouse.machine_waves import PARSED_PREFIX
from lakehouse_dev import prod
from lakehouse_dev.simulate.machines import Quirks, generate
from lakehouse_tests.dev.prod.conftest import (
    age_files,
    latest_by_wave,
    wave_runs,
    waves_done,
)

TYPES, COPIES, WAVES = 5, 250, 8  # 5 x 250 machines x 8 waves = 10,000 files
IN_PROGRESS = {dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED}
RUNS_QUERY = "{ runsOrError(limit: 5) { __typename } }"


def _wave_limit() -> int:
    config = yaml.safe_load((prod.DEPLOY / "dagster.yaml").read_text())
    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    (limit,) = [t["limit"] for t in limits if t["key"] == "lakehouse/wave"]
    return limit


def _flood(landing: Store) -> tuple[list[str], int]:
    """10,000 files: one generated log per machine type and wave, landed under the names of
    250 machines of that type (a machine's id comes from its file's name)."""
    out = generate(
        landing,
        LANDING_PREFIX,
        machines=TYPES,
        file_mb=0.0005,
        waves=WAVES,
        quirks=Quirks(truncated_share=0, bad_line_rate=0),
    )
    files = list(out.files)
    for key in out.files:
        folder, name = key.rsplit("/", 1)
        prefix, rest = name.split("-", 1)
        number, stamp = rest.split("_", 1)
        data = landing.read_bytes(key)
        for copy in range(1, COPIES):
            files.append(f"{folder}/{prefix}-{int(number) + TYPES * copy:04d}_{stamp}")
            landing.write_bytes(files[-1], data)
    return files, out.lines * COPIES


@pytest.mark.timeout(2400, method="signal")
def test_ten_thousand_files_at_once(settings, topology, prod_instance):
    landing, lake, warehouse = (
        Store(u) for u in (settings.landing_url, settings.lake_url, settings.warehouse_url)
    )
    files, lines = _flood(landing)
    assert len(files) == 10_000
    age_files(Path(landing.path(LANDING_PREFIX)))
    topology.start_workers()
    topology.start_daemon()
    url = topology.start_webserver()
    most_in_progress, ui_answers = 0, 0

    def observe() -> bool:
        nonlocal most_in_progress, ui_answers
        runs = wave_runs(prod_instance)
        most_in_progress = max(most_in_progress, sum(r.status in IN_PROGRESS for r in runs))
        try:
            reply = requests.post(f"{url}/graphql", json={"query": RUNS_QUERY}, timeout=60)
            ui_answers += reply.ok and reply.json()["data"]["runsOrError"]["__typename"] == "Runs"
        except requests.RequestException:
            pass  # not up yet
        return waves_done(prod_instance, WAVES) and not MACHINES.claimed(
            landing
        )  # none left to take

    topology.wait("every wave's run", observe, timeout=1800)

    # The queue held the flood: every wave's latest run succeeded, within the limit.
    latest = latest_by_wave(prod_instance)
    assert len(latest) == WAVES, topology.logs()
    assert {r.status for r in latest.values()} == {dg.DagsterRunStatus.SUCCESS}, topology.logs()
    assert 1 <= most_in_progress <= _wave_limit()
    assert ui_answers > 0, "the webserver never answered a runs query during the flood"
    # Nothing dropped or duplicated: each landed file in the lake once, parsed once.
    names = sorted(k.rsplit("/", 1)[-1] for k in files)
    assert sorted(n for w in latest for n in MACHINES.read_manifest(lake, w)) == names
    assert sorted(k.rsplit("/", 1)[-1] for k in lake.keys(LAKE_PREFIX)) == names
    parts = sorted(k.rsplit("/", 1)[-1] for k in warehouse.keys(PARSED_PREFIX))
    assert parts == [f"{n}.parquet" for n in names]
    assert not landing.keys(LANDING_PREFIX)
    part_files = Path(warehouse.path(PARSED_PREFIX)).rglob("*.parquet")
    assert sum(pq.read_metadata(p).num_rows for p in part_files) == lines
