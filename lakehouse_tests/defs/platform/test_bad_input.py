"""Bad input gets a clear error, is quarantined with its reason, and loses nothing."""

import json
import sqlite3

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakehouse.components.resources.sql_database import SqlDatabaseResource
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.storage import Store
from lakehouse.storage.batches import new_batch_key
from lakehouse.storage.parquet import read_parquet, write_parquet
from lakehouse.storage.projections import read_current
from lakehouse_dev.simulate.platform import simulate
from lakehouse_tests.defs.platform.helpers import by_id, db_rows, materialize

TABLE = "applications"


def _failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    return failures[0].event_specific_data.error.message


@pytest.fixture
def loaded(settings, defs, instance):
    """History extracted and merged once; then more activity extracted to the lake."""
    url = settings.platform_db_url
    simulate(url, days=4, seed=2)
    materialize(defs, instance, f"lake/platform/{TABLE}", f"warehouse/platform/{TABLE}")
    simulate(url, days=2, seed=2)
    materialize(defs, instance, f"lake/platform/{TABLE}", "lake/platform/trades")
    return Store(settings.lake_url), Store(settings.warehouse_url)


def _bad_batches(lake: Store, good_key: str) -> dict[str, str]:
    """A truncated file and two schema violations, landing after the good batch."""
    good = read_parquet(lake, good_key)
    truncated = new_batch_key(f"platform/{TABLE}")
    data = lake.read_bytes(good_key)
    lake.write_bytes(truncated, data[: len(data) // 2])
    wrong_type = write_parquet(
        lake,
        new_batch_key(f"platform/{TABLE}"),
        good.set_column(
            good.schema.get_field_index("requested_amount"),
            "requested_amount",
            pc.cast(good["requested_amount"], pa.float64()),
        ),
    )
    null_ids = write_parquet(
        lake,
        new_batch_key(f"platform/{TABLE}"),
        good.set_column(0, "id", pa.array([None] * good.num_rows, pa.int64())),
    )
    return {
        truncated: "not a readable Parquet file",
        wrong_type: "column 'requested_amount' is double, earlier batches have decimal128(14, 2)",
        null_ids: "column 'id' has",
    }


def test_bad_lake_files_are_quarantined_and_good_ones_still_flow(settings, defs, instance, loaded):
    lake, warehouse = loaded
    good_key = lake.last(f"platform/{TABLE}")
    bad = _bad_batches(lake, good_key)

    result = materialize(
        defs,
        instance,
        f"warehouse/platform/{TABLE}",
        "warehouse/platform/trades",
        raise_on_error=False,
    )
    assert not result.success
    message = _failure_message(result)
    for key, reason in bad.items():
        assert lake.uri(key) in message and reason in message
        note = json.loads(lake.read_bytes(f"quarantine/{key}.reason.json"))
        assert reason in note["reason"] and note["run_id"] == result.run_id
        assert lake.exists(f"quarantine/{key}") and not lake.exists(key)

    # The good batch was merged: the warehouse equals the database; other tables flowed too.
    state = by_id(read_current(warehouse, f"platform/{TABLE}"))
    assert state == db_rows(settings.platform_db_url, TABLE)
    trades = by_id(read_current(warehouse, "platform/trades"))
    assert trades == db_rows(settings.platform_db_url, "trades")

    # The next run has nothing left to reject and succeeds.
    assert materialize(defs, instance, f"warehouse/platform/{TABLE}").success


def test_a_quarantined_newest_batch_is_extracted_again(settings, defs, instance, loaded):
    """The lake's watermark lives in its newest batch: quarantining it re-extracts its rows."""
    lake, warehouse = loaded
    newest = lake.last(f"platform/{TABLE}")
    data = lake.read_bytes(newest)
    lake.write_bytes(newest, data[:100])  # truncated in place, e.g. a torn upload
    assert not materialize(
        defs, instance, f"warehouse/platform/{TABLE}", raise_on_error=False
    ).success
    materialize(defs, instance, f"lake/platform/{TABLE}", f"warehouse/platform/{TABLE}")
    state = by_id(read_current(warehouse, f"platform/{TABLE}"))
    assert state == db_rows(settings.platform_db_url, TABLE)


def test_missing_database_is_a_clear_error(settings, defs, instance):
    result = materialize(defs, instance, f"lake/platform/{TABLE}", raise_on_error=False)
    message = _failure_message(result)
    assert (
        "source platform: database file" in message and "platform.sqlite does not exist" in message
    )
    assert "Traceback" not in message

    context = dg.build_sensor_context(
        instance=instance,
        resources={
            "platform_db": SqlDatabaseResource(url=settings.platform_db_url),
            "lake": ObjectStore(url=settings.lake_url, name="lake"),
        },
    )
    skip = defs.get_sensor_def("platform_changes")(context)
    assert isinstance(skip, dg.SkipReason) and "does not exist" in skip.skip_message
    assert not (settings.home / "platform.sqlite").exists()  # no empty database was created


def test_locked_database_is_a_clear_error(settings, defs, instance):
    simulate(settings.platform_db_url, days=1)
    locker = sqlite3.connect(settings.home / "platform.sqlite")
    locker.execute("BEGIN EXCLUSIVE")
    try:
        result = materialize(defs, instance, f"lake/platform/{TABLE}", raise_on_error=False)
    finally:
        locker.rollback()
        locker.close()
    assert "is locked" in _failure_message(result)
