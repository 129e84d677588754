"""Bad input and faults of the SqlDatabase component (SQLite, which lets bad values in):
one table failing never stops the others, nothing is lost, the sensor decides from state."""

import json

import dagster as dg
import pytest
import sqlalchemy as sa

from lakehouse.components.resources.sql_database import SqlDatabaseResource
from lakehouse.components.resources.stores import ObjectStore
from lakehouse.components.sql_database import SqlDatabase
from lakehouse.storage.projections import read_current
from lakehouse.storage.store import Store
from lakehouse_tests.sources.sql.helpers import source_defs

DDL = [
    'CREATE TABLE "Rate" (id INTEGER PRIMARY KEY, value NUMERIC(10, 2), '
    "updated_at DATETIME NOT NULL)",
    "CREATE TABLE note (code TEXT PRIMARY KEY, body TEXT)",
]


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'faults.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in DDL:
            conn.execute(sa.text(statement))
        conn.execute(
            sa.text(
                "INSERT INTO \"Rate\" VALUES (1, 1.50, '2026-03-01 10:00:00'), "
                "(2, 2.25, '2026-03-01 10:00:01')"
            )
        )
        conn.execute(sa.text("INSERT INTO note VALUES ('a', 'alpha')"))
    engine.dispose()
    return url


def _run(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(sa.text(statement))
    engine.dispose()


def _defs(settings, url) -> dg.Definitions:
    return source_defs(settings, SqlDatabase(name="faulty", url=url, tables=["Rate", "note"]))


def _materialize(defs, instance, layer: str):
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey([layer, "faulty", t]) for t in ("rate", "note")],
        raise_on_error=False,
    )


def _state(settings, table: str) -> list[dict]:

    rows = read_current(Store(settings.warehouse_url), f"faulty/{table}").to_pylist()
    return sorted(rows, key=lambda r: str(r[next(iter(r))]))


def test_a_value_that_does_not_fit_is_quarantined_with_table_key_column_and_reason(
    url, settings, instance
):
    _run(
        url,
        "INSERT INTO \"Rate\" VALUES (3, 'lots', '2026-03-01 10:00:02');"
        "INSERT INTO \"Rate\" VALUES (4, 1e15, '2026-03-01 10:00:03')",
    )
    defs = _defs(settings, url)
    assert _materialize(defs, instance, "lake").success
    assert _materialize(defs, instance, "warehouse").success
    assert [r["id"] for r in _state(settings, "rate")] == [1, 2]
    lake = Store(settings.lake_url)
    [reason_key] = [k for k in lake.keys("quarantine/faulty/rate") if k.endswith("reason.json")]
    [rejected_key] = [k for k in lake.keys("quarantine/faulty/rate") if k.endswith(".jsonl")]
    lines = [json.loads(x) for x in lake.read_bytes(rejected_key).decode().splitlines()]
    assert [(x["table"], x["key"], x["column"]) for x in lines] == [
        ("faulty.rate", {"id": 3}, "value"),
        ("faulty.rate", {"id": 4}, "value"),
    ]
    assert lines[0]["reason"].startswith("'lots' does not fit decimal128(10, 2)")
    assert lines[1]["reason"].startswith("1000000000000000 does not fit decimal128(10, 2)")
    assert "faulty.rate" in json.loads(lake.read_bytes(reason_key))["reason"]


def test_a_type_change_that_cannot_widen_stops_that_table_only(url, settings, instance):
    defs = _defs(settings, url)
    _materialize(defs, instance, "lake")
    _run(
        url,
        'DROP TABLE "Rate";'
        'CREATE TABLE "Rate" (id INTEGER PRIMARY KEY, value TEXT, updated_at DATETIME NOT NULL);'
        "INSERT INTO \"Rate\" VALUES (1, 'one fifty', '2026-03-02 10:00:00');"
        "INSERT INTO note VALUES ('b', 'beta')",
    )
    result = _materialize(defs, instance, "lake")
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.event_specific_data.error.message
    assert "faulty.rate: column 'value' changed type from decimal128(10, 2) to string" in message
    assert "\n" not in message.strip().split("\n\n")[0]
    _materialize(defs, instance, "warehouse")
    assert [r["code"] for r in _state(settings, "note")] == ["a", "b"]  # the other table flowed


def test_no_primary_key_and_unreachable_database_say_so_in_one_line(tmp_path, settings, instance):
    url = f"sqlite:///{tmp_path / 'nokey.sqlite'}"
    _run(url, "CREATE TABLE log (at TEXT, line TEXT)")
    defs = source_defs(settings, SqlDatabase(name="logs", url=url, tables=["log"]))
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(["lake", "logs", "log"])],
        raise_on_error=False,
    )
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert (
        "logs.log: no primary key; set `primary_key`" in failure.event_specific_data.error.message
    )

    secret = "postgresql+psycopg://reader:s3cret-pw@127.0.0.1:1/crm"
    source = SqlDatabase(name="crm", url=secret, tables=["accounts"])
    sensor = source.build_defs(None).sensors[0]
    skipped = sensor(_sensor_context(instance, settings, "crm_db", secret))
    assert "source crm: cannot read postgresql+psycopg://reader:***@127.0.0.1:1/crm" in str(
        skipped.skip_reason if hasattr(skipped, "skip_reason") else skipped
    )
    assert "s3cret-pw" not in str(skipped)


def _sensor_context(instance, settings, db_resource: str, url: str, defs=None):
    """What a source's change sensor reads: its database resource, the lake, the definitions."""
    return dg.build_sensor_context(
        instance=instance,
        definitions=defs,
        resources={
            db_resource: SqlDatabaseResource(url=url),
            "lake": ObjectStore(url=settings.lake_url, name="lake"),
        },
    )


def _evaluate(defs, instance, settings, url):
    sensor = defs.get_sensor_def("faulty_changes")
    result = sensor(_sensor_context(instance, settings, "faulty_db", url, defs))
    return [sorted(k.to_user_string() for k in r.asset_selection) for r in result.run_requests]


def test_the_sensor_decides_from_the_lake_so_a_killed_extraction_is_done_again(
    url, settings, instance
):
    defs = _defs(settings, url)
    # One run extracts each changed table and merges it into its current state.
    both = [
        "lake/faulty/note",
        "lake/faulty/rate",
        "warehouse/faulty/note",
        "warehouse/faulty/rate",
    ]
    assert _evaluate(defs, instance, settings, url) == [both]
    _materialize(defs, instance, "lake")
    assert _evaluate(defs, instance, settings, url) == []  # nothing pending
    _run(url, "INSERT INTO note VALUES ('c', 'gamma')")
    note = ["lake/faulty/note", "warehouse/faulty/note"]
    assert _evaluate(defs, instance, settings, url) == [note]
    # The run extracting it is killed before its last batch lands: the lake still holds the
    # old signature, so the next evaluation asks again (a sensor cursor alone would not).
    assert _evaluate(defs, instance, settings, url) == [note]
    _materialize(defs, instance, "lake")
    assert _evaluate(defs, instance, settings, url) == []


def _check_result(result, name: str, asset: str):
    return next(
        e.event_specific_data
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        and e.event_specific_data.check_name == name
        and e.event_specific_data.asset_key.to_user_string() == asset
    )


def test_reconciliation_notices_a_change_whose_cursor_went_back_beyond_the_lookback(
    url, settings, instance
):
    defs = _defs(settings, url)
    _materialize(defs, instance, "lake")
    result = _materialize(defs, instance, "warehouse")
    assert _check_result(result, "matches_source", "warehouse/faulty/rate").passed
    # A clock stepped back a year: the row's new version has a cursor far below the watermark.
    _run(url, "UPDATE \"Rate\" SET value = 9.99, updated_at = '2025-03-01 10:00:00' WHERE id = 1")
    _materialize(defs, instance, "lake")
    result = _materialize(defs, instance, "warehouse")
    check = _check_result(result, "matches_source", "warehouse/faulty/rate")
    assert not check.passed
    assert check.metadata["stale_keys"].value == "[(1,)]"
    assert "faulty.rate: 1 difference(s)" in check.description


def test_after_extraction_no_lake_asset_is_unsynced(url, settings, instance):
    """#18.4: "Unsynced" means something is pending, not "always"."""
    from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
    from dagster._core.loader import LoadingContextForTest

    defs = _defs(settings, url)
    sensor = defs.get_sensor_def("faulty_changes")

    def evaluate():
        result = sensor(_sensor_context(instance, settings, "faulty_db", url, defs))
        for event in result.asset_events:  # as the daemon records them
            instance.report_runless_asset_event(event)

    def statuses():
        resolver = CachingStaleStatusResolver(
            instance, defs.resolve_asset_graph(), LoadingContextForTest(instance)
        )
        return {
            t: resolver.get_status(dg.AssetKey(["lake", "faulty", t])) for t in ("rate", "note")
        }

    evaluate()
    _materialize(defs, instance, "lake")
    assert statuses() == {"rate": StaleStatus.FRESH, "note": StaleStatus.FRESH}
    _run(url, "INSERT INTO note VALUES ('z', 'zeta')")
    evaluate()  # the source moved: now, and only now, the note table is pending
    assert statuses() == {"rate": StaleStatus.FRESH, "note": StaleStatus.STALE}
    _materialize(defs, instance, "lake")
    evaluate()
    assert statuses() == {"rate": StaleStatus.FRESH, "note": StaleStatus.FRESH}


def test_a_corrupt_newest_batch_is_quarantined_and_the_watermark_falls_back(
    url, settings, instance
):
    defs = _defs(settings, url)
    _materialize(defs, instance, "lake")
    _run(url, "INSERT INTO \"Rate\" VALUES (5, 5.55, '2026-03-01 11:00:00')")
    _materialize(defs, instance, "lake")
    lake = Store(settings.lake_url)
    newest = lake.last("faulty/rate")
    lake.write_bytes(newest, lake.read_bytes(newest)[:40])  # a torn upload
    result = _materialize(defs, instance, "lake")  # extraction first, before any merge
    assert result.success
    assert lake.exists(f"quarantine/{newest}.reason.json") and not lake.exists(newest)
    _materialize(defs, instance, "warehouse")
    assert [r["id"] for r in _state(settings, "rate")] == [1, 2, 5]  # row 5 extracted again


def test_url_from_the_environment_and_glob_patterns_resolve_at_load(url, monkeypatch):
    monkeypatch.setenv("FAULTY_DB_URL", url)
    source = SqlDatabase(name="faulty", url_env="FAULTY_DB_URL", tables=["R*", "no?e"])
    assert source.table_list() == ["Rate", "note"]
    defs = source.build_defs(None)
    keys = {a.key.to_user_string() for a in defs.assets}
    assert {"source/faulty/rate", "lake/faulty/note", "warehouse/faulty/note"} <= keys
    resource = defs.resources["faulty_db"]
    assert isinstance(resource.url, dg.EnvVar)  # resolved at run time: the UI shows the name
