"""Every projection the IO manager writes is a Glue table an external engine can read.

Checked as Athena would see it: boto3's Glue API for the table, then pyarrow's own S3
filesystem over the files at its location (no project code on the reading side), on moto.
"""

import datetime as dt
import decimal
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import dagster as dg
import pyarrow as pa
import pytest

from lakehouse.catalog.glue import (
    GlueCatalog,
    TableSpec,
    UnsupportedType,
    glue_columns,
    hive_type,
)
from lakehouse.components.resources.glue import GlueCatalogResource
from lakehouse.components.resources.stores import ParquetIOManager
from lakehouse.storage.parquet import describe_columns
from lakehouse.storage.projections import partition_prefix, write_version
from lakehouse.storage.store import Store
from lakehouse_tests.catalog.external import glue_client, read_location, s3_filesystem

PREFIX = "bi_"


def test_hive_types_are_exact():
    cases = {
        pa.decimal128(18, 2): "decimal(18,2)",
        pa.decimal128(38, 10): "decimal(38,10)",
        pa.timestamp("us", tz="UTC"): "timestamp",
        pa.timestamp("ms"): "timestamp",
        pa.date32(): "date",
        pa.int64(): "bigint",
        pa.int32(): "int",
        pa.int16(): "smallint",
        pa.uint32(): "bigint",
        pa.float64(): "double",
        pa.float32(): "float",
        pa.bool_(): "boolean",
        pa.string(): "string",
        pa.large_string(): "string",
        pa.dictionary(pa.int32(), pa.string()): "string",
        pa.binary(): "binary",
        pa.list_(pa.int64()): "array<bigint>",
        pa.struct([("Debtor", pa.string()), ("amount", pa.decimal128(10, 3))]): (
            "struct<debtor:string,amount:decimal(10,3)>"
        ),
        pa.map_(pa.string(), pa.float64()): "map<string,double>",
        pa.list_(pa.struct([("k", pa.date32())])): "array<struct<k:date>>",
    }
    assert {str(t): hive_type(t) for t in cases} == {str(t): v for t, v in cases.items()}


def test_a_type_athena_cannot_read_is_one_clear_error_naming_the_column():
    schema = pa.schema([("id", pa.int64()), ("cut_off", pa.time64("us"))])
    with pytest.raises(UnsupportedType, match="column 'cut_off': time64"):
        glue_columns(schema)
    with pytest.raises(UnsupportedType, match="'Amount' and 'amount' differ only by case"):
        glue_columns(pa.schema([("Amount", pa.int64()), ("amount", pa.int64())]))


# -- registration on write, read back as an external engine --------------------------------

SCHEMA = pa.schema(
    [
        ("debtor_name", pa.string()),
        ("outstanding", pa.decimal128(18, 2)),
        ("as_of", pa.timestamp("us", tz="UTC")),
    ]
)


def _exposure(rows: list[tuple]) -> pa.Table:
    table = pa.Table.from_pylist(
        [dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA
    )
    return describe_columns(
        table,
        {
            "debtor_name": "Debtor as invoiced",
            "outstanding": "Open amount",
            "as_of": "Snapshot time",
        },
    )


ROWS_V1 = [
    (
        "Müller & Söhne GmbH",
        decimal.Decimal("521564.18"),
        dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC),
    ),
    ("O'Brien Ltd.", decimal.Decimal("-0.01"), dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)),
]


@pytest.fixture
def aws(cloud_env):
    glue = glue_client()
    yield cloud_env, glue, s3_filesystem()
    for db in glue.get_databases()["DatabaseList"]:
        if db["Name"].startswith(PREFIX):
            glue.delete_database(Name=db["Name"])


def _resources(cloud_env) -> dict:
    glue = GlueCatalogResource(database_prefix=PREFIX)
    return {
        "io_manager": ParquetIOManager(base_url=f"{cloud_env.s3_url}/warehouse", glue=glue),
        "glue": glue,
    }


def _exposure_asset(rows: list[tuple]) -> dg.AssetsDefinition:
    @dg.asset(
        key=["warehouse", "finance", "debtor_exposure"],
        description="Open exposure per debtor.",
        owners=["team:finance"],
    )
    def exposure() -> pa.Table:
        return _exposure(rows)

    return exposure


def test_a_projection_written_is_a_glue_table_whose_files_hold_its_rows(aws):
    cloud_env, glue, s3 = aws
    assert dg.materialize([_exposure_asset(ROWS_V1)], resources=_resources(cloud_env)).success

    table = glue.get_table(DatabaseName="bi_finance", Name="debtor_exposure")["Table"]
    assert table["Description"] == "Open exposure per debtor."
    assert table["Parameters"]["dagster/asset_key"] == "warehouse/finance/debtor_exposure"
    assert table["Parameters"]["owners"] == "team:finance"
    sd = table["StorageDescriptor"]
    assert [(c["Name"], c["Type"], c.get("Comment")) for c in sd["Columns"]] == [
        ("debtor_name", "string", "Debtor as invoiced"),
        ("outstanding", "decimal(18,2)", "Open amount"),
        ("as_of", "timestamp", "Snapshot time"),
    ]
    assert sd["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert sd["Location"].startswith(f"{cloud_env.s3_url}/warehouse/finance/debtor_exposure/")
    files, rows = read_location(s3, sd["Location"])
    assert len(files) == 1
    assert [tuple(r.values()) for r in rows.to_pylist()] == ROWS_V1


def test_an_added_column_is_a_new_table_version_and_a_rewrite_flips_the_location(aws):
    cloud_env, glue, s3 = aws
    resources = _resources(cloud_env)
    assert dg.materialize([_exposure_asset(ROWS_V1)], resources=resources).success
    first = glue.get_table(DatabaseName="bi_finance", Name="debtor_exposure")["Table"]

    @dg.asset(key=["warehouse", "finance", "debtor_exposure"], description="With sector.")
    def widened() -> pa.Table:
        return _exposure(ROWS_V1[:1]).append_column("sector", pa.array(["Textiles"]))

    assert dg.materialize([widened], resources=resources).success
    now = glue.get_table(DatabaseName="bi_finance", Name="debtor_exposure")["Table"]
    versions = glue.get_table_versions(DatabaseName="bi_finance", TableName="debtor_exposure")
    by_id = {int(v["VersionId"]): v["Table"] for v in versions["TableVersions"]}
    assert len(by_id) >= 2  # not dropped and recreated: the old version is kept
    assert [c["Name"] for c in by_id[max(by_id)]["StorageDescriptor"]["Columns"]][-1] == "sector"
    assert "sector" not in [c["Name"] for c in by_id[min(by_id)]["StorageDescriptor"]["Columns"]]
    assert now["StorageDescriptor"]["Location"] != first["StorageDescriptor"]["Location"]
    _, rows = read_location(s3, now["StorageDescriptor"]["Location"])
    assert rows.column("sector").to_pylist() == ["Textiles"]
    # the replaced version stays readable, whole, for readers that listed it (grace period)
    _, old_rows = read_location(s3, first["StorageDescriptor"]["Location"])
    assert old_rows.num_rows == 2 and "sector" not in old_rows.column_names


def test_partitions_are_glue_partitions_at_their_own_locations(aws):
    cloud_env, glue, s3 = aws
    waves = dg.TimeWindowPartitionsDefinition(
        cron_schedule="0 */2 * * *", fmt="%Y-%m-%dT%H", start="2026-03-02T00", timezone="UTC"
    )

    @dg.asset(key=["warehouse", "machines", "kpis_hourly"], partitions_def=waves)
    def hourly(context: dg.AssetExecutionContext) -> pa.Table:
        return pa.table({"machine_id": ["SMT-0001"], "wave": [context.partition_key]})

    for wave in ("2026-03-02T08", "2026-03-02T10", "2026-03-02T08"):  # the first re-run
        assert dg.materialize([hourly], partition_key=wave, resources=_resources(cloud_env)).success
    table = glue.get_table(DatabaseName="bi_machines", Name="kpis_hourly")["Table"]
    assert [k["Name"] for k in table["PartitionKeys"]] == ["dt"]
    parts = glue.get_partitions(DatabaseName="bi_machines", TableName="kpis_hourly")
    locations = {
        tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in parts["Partitions"]
    }
    assert sorted(locations) == [("2026-03-02T08",), ("2026-03-02T10",)]
    for (wave,), location in locations.items():
        files, rows = read_location(s3, location)
        assert len(files) == 1 and rows.to_pylist() == [{"machine_id": "SMT-0001", "wave": wave}]
    expression = glue.get_partitions(
        DatabaseName="bi_machines", TableName="kpis_hourly", Expression="dt = '2026-03-02T10'"
    )
    assert [p["Values"] for p in expression["Partitions"]] == [["2026-03-02T10"]]


def test_a_reader_listing_the_location_during_rewrites_never_sees_a_mix(aws):
    """Each rewrite holds rows all tagged with its own generation: a reader that resolves
    the table, lists its location and reads every file there must see one generation only."""
    cloud_env, glue, s3 = aws
    resources = _resources(cloud_env)

    def generation(n: int) -> dg.AssetsDefinition:
        @dg.asset(key=["warehouse", "finance", "debtor_exposure"])
        def exposure() -> pa.Table:
            return pa.table({"generation": [n] * 3, "row": [1, 2, 3]})

        return exposure

    assert dg.materialize([generation(0)], resources=resources).success
    done, seen, problems = threading.Event(), set(), []

    def reader() -> None:
        while not done.is_set():
            table = glue.get_table(DatabaseName="bi_finance", Name="debtor_exposure")["Table"]
            files, rows = read_location(s3, table["StorageDescriptor"]["Location"])
            generations = set(rows.column("generation").to_pylist())
            seen.update(generations)
            if len(generations) != 1 or rows.num_rows != 3:
                problems.append((files, rows.to_pylist()))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for n in range(1, 6):
            assert dg.materialize([generation(n)], resources=resources).success
    finally:
        done.set()
        thread.join()
    assert problems == []
    assert len(seen) >= 2  # the reader did overlap the rewrites


def test_writers_of_different_partitions_at_once_all_end_up_registered(aws):
    """Runs of several waves finish together: each registers the partitions it lists, some
    of them registered by another run meanwhile; none fails, none is missing."""
    cloud_env, glue, _ = aws
    store = Store(f"{cloud_env.s3_url}/warehouse")
    spec = TableSpec("bi_machines", "kpis_hourly", "warehouse/machines/kpis_hourly")
    waves = [f"2026-03-02T{h:02d}" for h in range(0, 24, 2)]

    def write_and_register(wave: str) -> None:
        table = pa.table({"machine_id": ["AOI-0003"], "lines": [7]})
        write_version(store, partition_prefix("machines/kpis_hourly", wave), table)
        GlueCatalog(boto3.client("glue", endpoint_url=cloud_env.s3_endpoint), PREFIX).register(
            spec, store, "machines/kpis_hourly", table.schema
        )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write_and_register, waves))
    found = glue.get_partitions(DatabaseName="bi_machines", TableName="kpis_hourly")
    assert sorted(p["Values"][0] for p in found["Partitions"]) == waves


def test_a_table_whose_projection_is_gone_is_reported_not_dropped(aws):
    cloud_env, glue, _ = aws
    store = Store(f"{cloud_env.s3_url}/warehouse")
    catalog = GlueCatalog(glue, PREFIX)
    for name in ("debtor_exposure", "legacy_exposure"):
        write_version(store, f"finance/{name}", pa.table({"n": [1]}))
        spec = TableSpec("bi_finance", name, f"warehouse/finance/{name}")
        assert catalog.register(spec, store, f"finance/{name}").action == "created"
    glue.create_table(  # a table someone else keeps in the same database: not ours to judge
        DatabaseName="bi_finance", TableInput={"Name": "hand_made", "Parameters": {}}
    )
    assert catalog.orphans([("bi_finance", "debtor_exposure")]) == ["bi_finance.legacy_exposure"]
    assert glue.get_table(DatabaseName="bi_finance", Name="legacy_exposure")  # still there
