"""The DuckDB catalog: one view per warehouse projection, readable by any DuckDB client."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pyarrow.parquet as pq
import sqlalchemy as sa

from lakehouse.definitions import unpartitioned_assets
from lakehouse.storage.projections import current_key
from lakehouse.storage.store import Store
from lakehouse_dev.simulate.platform import simulate
from lakehouse_tests.defs.platform.helpers import materialize


def test_catalog_has_a_view_per_projection_with_the_projection_rows(settings, defs, instance):
    simulate(settings.platform_db_url, days=4, seed=9)
    built = unpartitioned_assets(defs)
    result = materialize(defs, instance, *[key.to_user_string() for key in built])
    assert result.success
    projections = [key for key in built if key.path[0] == "warehouse"]
    with duckdb.connect(settings.catalog_url, read_only=True) as con:
        views = {
            (schema, name): comment
            for schema, name, comment in con.execute(
                "SELECT schema_name, view_name, comment FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
        expected = {("_".join(k.path[1:-1]), k.path[-1]): k for k in projections}
        assert set(views) == set(expected)
        for (schema, name), key in expected.items():
            warehouse = Store(settings.warehouse_url)
            parquet = warehouse.path(current_key(warehouse, "/".join(key.path[1:])))
            (count,) = con.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()
            assert count == pq.read_metadata(parquet).num_rows
            assert views[(schema, name)], f"{schema}.{name} has no description"

    # The `duckdb` command-line client (an older DuckDB, as BI tools bundle) reads it too.
    cli = Path(sys.executable).with_name("duckdb")
    out = subprocess.run(
        [
            str(cli),
            "-csv",
            "-noheader",
            settings.catalog_url,
            "-c",
            "SELECT count(*) FROM origination.applications_daily",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    warehouse = Store(settings.warehouse_url)
    expected = pq.read_metadata(
        warehouse.path(current_key(warehouse, "origination/applications_daily"))
    )
    assert int(out.stdout.strip()) == expected.num_rows


def test_asset_checks_pass_on_simulated_data(settings, defs, instance):
    simulate(settings.platform_db_url, days=10, seed=2)
    result = materialize(
        defs,
        instance,
        *[
            s.key.to_user_string()
            for s in defs.resolve_all_asset_specs()
            if s.key.path[0] in ("lake", "warehouse")
            and s.key.path[1] in ("platform", "origination", "finance")
        ],
    )
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) >= 15
    failed = [e.check_name for e in evaluations if not e.passed]
    assert failed == []

    # Each KPI says how recent its data is, and describes every column.
    engine = sa.create_engine(settings.platform_db_url)
    with engine.connect() as conn:
        newest = max(
            conn.execute(sa.text(f"SELECT max(updated_at) FROM {t}")).scalar()
            for t in ("trades", "invoices")
        )
    engine.dispose()
    key = dg.AssetKey(["warehouse", "finance", "funded_volume_daily"])
    metadata = instance.get_latest_materialization_event(key).asset_materialization.metadata
    assert metadata["data_as_of"].value == str(pd.Timestamp(newest).to_pydatetime())
    columns = metadata["dagster/column_schema"].value.columns
    assert "currency" in [c.name for c in columns] and all(c.description for c in columns)
