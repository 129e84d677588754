"""PostgreSQL restarted under a running daemon: the daemon reconnects and carries on; no sensor
cursor goes back to an older value; every landed file is taken and parsed exactly once."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorType

from lakehouse.sources.machines.landing import LAKE_PREFIX, LANDING_PREFIX, MACHINES
from lakehouse.storage import Store
from lakehouse.warehouse.machine_waves import PARSED_PREFIX
from lakehouse_dev.simulate.machines import Quirks, generate
from lakehouse_tests.dev.prod import pg_cluster
from lakehouse_tests.dev.prod.conftest import age_files, assert_one_request_per_wave, waves_done


@pytest.fixture
def pg():
    with pg_cluster.cluster() as cluster:
        yield cluster


@pytest.fixture
def dagster_pg_url(pg) -> str:
    return pg.url


class CursorLog:
    """Every sensor's cursor as seen at each poll; a cursor may only move to new values."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance, self.seen = instance, {}

    def record(self) -> None:
        for state in self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            cursor = state.instigator_data.cursor if state.instigator_data else None
            history = self.seen.setdefault(state.instigator_name, [])
            if cursor is not None and (not history or history[-1] != cursor):
                history.append(cursor)

    def went_back(self) -> dict[str, list]:
        return {n: h for n, h in self.seen.items() if len(set(h)) != len(h)}


def _land(landing: Store, waves: int, start=None):
    out = generate(
        landing,
        LANDING_PREFIX,
        machines=3,
        file_mb=0.1,
        waves=waves,
        start=start,
        quirks=Quirks(truncated_share=0, bad_line_rate=0),
    )
    age_files(Path(landing.path(LANDING_PREFIX)))
    return out


@pytest.mark.timeout(2400, method="signal")
def test_daemon_reconnects_after_postgres_restart(settings, pg, topology, prod_instance):
    landing, lake, warehouse = (
        Store(u) for u in (settings.landing_url, settings.lake_url, settings.warehouse_url)
    )
    first = _land(landing, waves=2)
    topology.start_workers()
    daemon = topology.start_daemon()
    cursors = CursorLog(prod_instance)

    def finished(count: int) -> bool:
        cursors.record()
        return waves_done(prod_instance, count)

    topology.wait("the first two waves", lambda: finished(2))

    # Restart PostgreSQL under the running daemon; files land while it is down.
    pg.stop("fast")
    later = _land(landing, waves=1, start=datetime.now(UTC) - timedelta(hours=8))
    pg.start()
    pg.wait_ready()
    topology.wait("the third wave", lambda: finished(3))

    assert daemon.alive(), "the daemon exited instead of reconnecting"
    waves = sorted(assert_one_request_per_wave(prod_instance))
    assert len(waves) == 3, waves
    assert not cursors.went_back(), cursors.went_back()
    names = sorted(k.rsplit("/", 1)[-1] for k in [*first.files, *later.files])
    assert sorted(n for w in waves for n in MACHINES.read_manifest(lake, w)) == names
    assert sorted(k.rsplit("/", 1)[-1] for k in lake.keys(LAKE_PREFIX)) == names
    parts = sorted(k.rsplit("/", 1)[-1] for k in warehouse.keys(PARSED_PREFIX))
    assert parts == [f"{n}.parquet" for n in names]
