"""The faster path keeps its guarantees across a restart: `dagster dev` stopped (SIGINT) while
the platform's history is still flowing, a new day of activity landing while it is down, and
after the restart, and another day landing during the catch-up runs, every row version is in
the lake exactly once and the projection equals the database."""

import pytest

from lakehouse.defs.platform.keys import lake_prefix
from lakehouse.storage import Store
from lakehouse.storage.parquet import read_parquet
from lakehouse_dev.simulate.platform import simulate
from lakehouse_tests.dev.test_dagster_dev import (
    PHASE_TIMEOUT,
    TABLE,
    _db_versions,
    _projection_versions,
    _wait_until,
    dagster_dev,
)


def _lake_rows(lake: Store) -> list[tuple[int, object]]:
    return [
        (row["id"], row["updated_at"])
        for key in lake.keys(lake_prefix(TABLE))
        for row in read_parquet(lake, key).select(["id", "updated_at"]).to_pylist()
    ]


@pytest.mark.timeout(1200, method="signal")  # so the teardown runs on timeout
def test_a_restart_mid_flow_neither_loses_nor_repeats_a_row(settings, tmp_path):
    lake, warehouse = Store(settings.lake_url), Store(settings.warehouse_url)
    log = tmp_path / "dagster-dev.log"
    simulate(settings.platform_db_url, days=3, seed=5)
    history = _db_versions(settings)

    # Stopped as soon as the first batch is in the lake: its merge into the projection has not
    # run yet, or is interrupted.
    with dagster_dev(log) as proc:
        _wait_until(
            {"a first lake batch": lambda: bool(lake.keys(lake_prefix(TABLE)))},
            proc,
            log,
            PHASE_TIMEOUT,
        )

    simulate(settings.platform_db_url, days=1, seed=5)  # activity while nothing runs
    now = _db_versions(settings)
    assert any(history[i] != v for i, v in now.items() if i in history), "updates of old rows"

    with dagster_dev(log) as proc:
        # Another day lands while the catch-up runs are under way.
        _wait_until(
            {"catch-up under way": lambda: len(lake.keys(lake_prefix(TABLE))) > 1},
            proc,
            log,
            PHASE_TIMEOUT,
        )
        simulate(settings.platform_db_url, days=1, seed=5)
        last = _db_versions(settings)
        _wait_until(
            {"projection == database": lambda: _projection_versions(warehouse) == last},
            proc,
            log,
            PHASE_TIMEOUT,
        )

    rows = _lake_rows(lake)
    assert len(rows) == len(set(rows)), "a row version was extracted twice"
    expected = set(history.items()) | set(now.items()) | set(last.items())
    assert set(rows) == expected, "a row version is missing (or one never in the database)"
