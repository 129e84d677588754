"""Data-driven extraction: only new and changed rows reach the lake; the warehouse shows the
latest version of every row."""

import dagster as dg
import pytest

from lakehouse.storage import Store
from lakehouse.storage.parquet import read_parquet
from lakehouse.storage.projections import read_current
from lakehouse_dev.simulate.platform import simulate
from lakehouse_tests.conftest import load_definitions
from lakehouse_tests.defs.platform.helpers import by_id, db_rows, materialize

TABLE = "applications"


def _lake_versions(lake: Store, keys: list[str]) -> set[tuple[int, object]]:
    return {
        (row["id"], row["updated_at"])
        for key in keys
        for row in read_parquet(lake, key).select(["id", "updated_at"]).to_pylist()
    }


def test_second_extraction_writes_only_new_and_changed_rows(settings, defs, instance):
    url, lake = settings.platform_db_url, Store(settings.lake_url)
    simulate(url, days=6, seed=3)
    before = db_rows(url, TABLE)
    materialize(defs, instance, f"lake/platform/{TABLE}")
    first = lake.keys(f"platform/{TABLE}")
    assert _lake_versions(lake, first) == {(i, r["updated_at"]) for i, r in before.items()}

    simulate(url, days=3, seed=3)
    after = db_rows(url, TABLE)
    changed = {
        (i, r["updated_at"])
        for i, r in after.items()
        if i not in before or before[i]["updated_at"] != r["updated_at"]
    }
    assert any(i in before for i, _ in changed), "the simulation should update old rows too"
    materialize(defs, instance, f"lake/platform/{TABLE}")
    second = lake.keys(f"platform/{TABLE}", after=first[-1])
    assert second and _lake_versions(lake, second) == changed
    assert lake.keys(f"platform/{TABLE}")[: len(first)] == first  # history is kept

    # Nothing changed: a third extraction writes nothing.
    result = materialize(defs, instance, f"lake/platform/{TABLE}")
    assert lake.keys(f"platform/{TABLE}", after=second[-1]) == []
    mat = result.asset_materializations_for_node(f"lake__platform__{TABLE}")[0]
    assert mat.metadata["rows"].value == 0


def test_updated_row_is_a_new_version_in_the_lake_and_latest_in_the_warehouse(
    settings, defs, instance
):
    url, lake = settings.platform_db_url, Store(settings.lake_url)
    simulate(url, days=6, seed=5)
    materialize(defs, instance, f"lake/platform/{TABLE}", f"warehouse/platform/{TABLE}")
    pending = {i for i, r in db_rows(url, TABLE).items() if r["status"] == "submitted"}
    simulate(url, days=4, seed=5)
    now = db_rows(url, TABLE)
    decided = [i for i in pending if now[i]["status"] != "submitted"]
    assert decided, "some pending applications should have been decided"
    materialize(defs, instance, f"lake/platform/{TABLE}", f"warehouse/platform/{TABLE}")

    versions = [
        row
        for key in lake.keys(f"platform/{TABLE}")
        for row in read_parquet(lake, key).to_pylist()
        if row["id"] == decided[0]
    ]
    assert [v["status"] for v in versions] == ["submitted", now[decided[0]]["status"]]

    state = by_id(read_current(Store(settings.warehouse_url), f"platform/{TABLE}"))
    assert state == now  # the warehouse equals the database, row for row, value for value


@pytest.fixture(params=["sqlite", "postgresql"])
def platform_url(request, settings, monkeypatch) -> str:
    """The platform database on SQLite (the default) or PostgreSQL (via the environment)."""
    if request.param == "sqlite":
        return settings.platform_db_url
    url = request.getfixturevalue("pg_url")
    monkeypatch.setenv("LAKEHOUSE_PLATFORM_DB_URL", url)
    return url


def test_every_table_projection_equals_the_database(settings, platform_url, instance):
    url, defs = platform_url, load_definitions()
    simulate(url, days=5, seed=11)
    result = materialize(defs, instance, *[k.to_user_string() for k in _platform_keys(defs)])
    assert result.success
    simulate(url, days=2, seed=11)
    materialize(defs, instance, *[k.to_user_string() for k in _platform_keys(defs)])
    warehouse = Store(settings.warehouse_url)
    for key in _platform_keys(defs):
        if key.path[0] != "warehouse":
            continue
        table = key.path[-1]
        assert by_id(read_current(warehouse, f"platform/{table}")) == db_rows(url, table)


def _platform_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    return [
        s.key
        for s in defs.resolve_all_asset_specs()
        if s.key.path[0] in ("lake", "warehouse") and s.key.path[1] == "platform"
    ]
