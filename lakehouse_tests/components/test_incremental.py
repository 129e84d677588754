"""The incremental-asset factory: each lake file merged exactly once across runs, its cursor in
the result's own footer, a bad file quarantined with its reason while the good ones are kept."""

import json

import dagster as dg
import pyarrow as pa
import pytest

from lakehouse.components.incremental import LakeInput, incremental_asset
from lakehouse.components.resources.stores import ObjectStore, ParquetIOManager
from lakehouse.storage import Store
from lakehouse.storage.parquet import write_parquet
from lakehouse.storage.projections import read_current

KEY = dg.AssetKey(["warehouse", "test", "all_rows"])
SCHEMA = pa.schema([pa.field("n", pa.int64(), nullable=False)])
INPUTS = {"a": LakeInput("src/a", SCHEMA), "b": LakeInput("src/b", SCHEMA)}


def _concat(previous: pa.Table | None, new) -> pa.Table:
    """Every row ever merged, in order: a file merged twice would show its rows twice."""
    tables = [previous.select(["n"])] if previous is not None else []
    tables += [t for name in sorted(new) for t in new[name].values()]
    return pa.concat_tables(tables).cast(SCHEMA) if tables else SCHEMA.empty_table()


ASSET = incremental_asset(
    KEY,
    INPUTS,
    _concat,
    deps=[],
    description="all rows of src/a and src/b",
    group_name="test",
    owners=["team:test"],
)


@pytest.fixture
def stores(tmp_path):
    return Store(str(tmp_path / "lake")), Store(str(tmp_path / "warehouse"))


def _resources(lake: Store, warehouse: Store) -> dict:
    return {
        "lake": ObjectStore(url=lake.url, name="lake"),
        "warehouse": ObjectStore(url=warehouse.url, name="warehouse"),
        "io_manager": ParquetIOManager(base_url=warehouse.url),
    }


def _run(stores, full_refresh: bool = False) -> dg.ExecuteInProcessResult:
    config = {"ops": {"warehouse__test__all_rows": {"config": {"full_refresh": full_refresh}}}}
    return dg.materialize(
        [ASSET], resources=_resources(*stores), run_config=config, raise_on_error=False
    )


def _batch(lake: Store, key: str, *values: int) -> None:
    write_parquet(lake, key, pa.table({"n": list(values)}, schema=SCHEMA))


def _stored(warehouse: Store) -> pa.Table:
    return read_current(warehouse, "test/all_rows")


def test_each_lake_file_is_merged_once_and_the_cursors_travel_in_the_result(stores):
    lake, warehouse = stores
    _batch(lake, "src/a/dt=2026-01-01/1.parquet", 1, 2)
    _batch(lake, "src/b/dt=2026-01-01/1.parquet", 10)
    assert _run(stores).success
    _batch(lake, "src/a/dt=2026-01-02/2.parquet", 3)
    result = _run(stores)
    assert result.success
    assert _run(stores).success  # nothing new: nothing added

    stored = _stored(warehouse)
    assert sorted(stored.column("n").to_pylist()) == [1, 2, 3, 10]
    assert json.loads(stored.schema.metadata[b"lakehouse.lake_cursors"]) == {
        "a": "src/a/dt=2026-01-02/2.parquet",
        "b": "src/b/dt=2026-01-01/1.parquet",
    }
    (mat,) = result.asset_materializations_for_node("warehouse__test__all_rows")
    assert mat.metadata["lake_files_merged"].value == ["src/a/dt=2026-01-02/2.parquet"]
    assert mat.metadata["lake_rows_merged"].value == 1


def test_a_full_refresh_rebuilds_from_the_whole_history(stores):
    lake, warehouse = stores
    _batch(lake, "src/a/dt=2026-01-01/1.parquet", 1)
    _batch(lake, "src/b/dt=2026-01-01/1.parquet", 2)
    assert _run(stores).success
    assert _run(stores, full_refresh=True).success
    assert sorted(_stored(warehouse).column("n").to_pylist()) == [1, 2]


def test_a_bad_file_is_quarantined_with_its_reason_and_the_good_ones_are_stored(stores):
    lake, warehouse = stores
    _batch(lake, "src/a/dt=2026-01-01/1.parquet", 1)
    lake.write_bytes("src/a/dt=2026-01-01/2.parquet", b"not parquet")
    _batch(lake, "src/a/dt=2026-01-01/3.parquet", 3)

    result = _run(stores)

    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert "src/a/dt=2026-01-01/2.parquet" in failure.description
    assert sorted(_stored(warehouse).column("n").to_pylist()) == [1, 3]
    assert lake.exists("quarantine/src/a/dt=2026-01-01/2.parquet")
    reason = json.loads(lake.read_bytes("quarantine/src/a/dt=2026-01-01/2.parquet.reason.json"))
    assert "not a readable Parquet file" in reason["reason"]
    assert not lake.exists("src/a/dt=2026-01-01/2.parquet")
    assert _run(stores).success  # the next run carries on past it
    assert sorted(_stored(warehouse).column("n").to_pylist()) == [1, 3]


def test_a_result_written_with_the_single_cursor_of_earlier_releases_resumes_after_it(tmp_path):
    """One-input projections stored ``lakehouse.lake_cursor`` before the cursors were named."""
    lake, warehouse = Store(str(tmp_path / "lake")), Store(str(tmp_path / "warehouse"))
    key = dg.AssetKey(["warehouse", "test", "one"])
    asset = incremental_asset(
        key,
        {"a": LakeInput("src/a", SCHEMA)},
        _concat,
        deps=[],
        description="all rows of src/a",
        group_name="test",
        owners=["team:test"],
    )
    _batch(lake, "src/a/dt=2026-01-01/1.parquet", 1)
    _batch(lake, "src/a/dt=2026-01-01/2.parquet", 2)
    earlier = pa.table({"n": [1]}, schema=SCHEMA).replace_schema_metadata(
        {b"lakehouse.lake_cursor": b"src/a/dt=2026-01-01/1.parquet"}
    )
    write_parquet(warehouse, "test/one.parquet", earlier)
    result = dg.materialize([asset], resources=_resources(lake, warehouse))
    assert result.success
    assert read_current(warehouse, "test/one").column("n").to_pylist() == [1, 2]
