"""Machine-log projections on the aws profile: their Glue partitions are their waves (days),
and every table reads exactly what the DuckDB catalog shows."""

import dagster as dg
import pytest

from lakehouse.catalog.duckdb_file import open_catalog
from lakehouse.settings import Settings
from lakehouse.sources.machines.landing import CLAIMED_PREFIX
from lakehouse.storage.store import Store
from lakehouse_tests.catalog.external import assert_glue_matches_catalog, glue_client
from lakehouse_tests.conftest import load_definitions

FILES = {  # wave -> machine log files claimed for it, as the landing sensor leaves them
    "2026-03-02T08": {
        "SMT-0001_20260302T080000.log": [
            "2026-03-02T08:00:01.000Z|SMT-0001|H1|T|SN1|paste_height|1|PASS|121.5|um|||",
            "2026-03-02T08:05:00.000Z|SMT-0001|H1|T|SN2|paste_height|1|FAIL|150.0|um|||",
        ],
    },
    "2026-03-02T10": {
        "SMT-0001_20260302T100000.log": [
            "2026-03-02T10:00:01.000Z|SMT-0001|H1|T|SN3|paste_height|1|PASS|120.0|um|||",
        ],
    },
}


@pytest.fixture
def aws(cloud_env, settings, monkeypatch) -> Settings:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "aws")
    for store in ("lake", "warehouse", "landing"):
        monkeypatch.setenv(f"LAKEHOUSE_{store.upper()}_URL", f"{cloud_env.s3_url}/{store}")
    monkeypatch.setenv("LAKEHOUSE_BUS_URL", f"local://{settings.home}/bus")
    monkeypatch.setenv(
        "LAKEHOUSE_GLUE_DATABASE_PREFIX", cloud_env.s3_bucket.replace("-", "_") + "_"
    )
    return Settings.from_env()


def test_machine_projections_have_partitions_matching_their_waves(aws, instance):
    landing = Store(aws.landing_url)
    for wave, files in FILES.items():
        for name, lines in files.items():
            text = "".join(f"{line}\n" for line in lines)
            landing.write_bytes(f"{CLAIMED_PREFIX}/wave={wave}/{name}", text.encode())
    defs = load_definitions()
    assets = [
        defs.resolve_assets_def(dg.AssetKey.from_user_string(k))
        for k in (
            "lake/machines/raw",
            "warehouse/machines/parsed",
            "warehouse/machines/kpis_hourly",
        )
    ]
    for wave in FILES:
        result = dg.materialize(assets, partition_key=wave, instance=instance)
        assert result.success
    daily = defs.resolve_assets_def(dg.AssetKey.from_user_string("warehouse/machines/kpis_daily"))
    assert dg.materialize([daily], partition_key="2026-03-02", instance=instance).success
    catalog = defs.resolve_assets_def(dg.AssetKey(["catalog", "warehouse"]))
    assert dg.materialize([catalog], instance=instance).success

    glue, database = glue_client(), f"{aws.glue_database_prefix}machines"

    def partitions(table: str) -> tuple[list[str], list[list[str]]]:
        keys = glue.get_table(DatabaseName=database, Name=table)["Table"]["PartitionKeys"]
        found = glue.get_partitions(DatabaseName=database, TableName=table)["Partitions"]
        return [k["Name"] for k in keys], sorted(p["Values"] for p in found)

    waves = [[w] for w in FILES]
    assert partitions("parsed") == (["wave"], waves)
    assert partitions("kpis_hourly") == (["dt"], waves)
    assert partitions("kpis_daily") == (["dt"], [["2026-03-02"]])
    with open_catalog(aws.catalog_url, [Store(aws.warehouse_url)]) as con:
        (lines,) = con.execute("SELECT count(*) FROM machines.parsed").fetchone()
        assert lines == 3
        assert assert_glue_matches_catalog(con, aws.glue_database_prefix) == 3
