"""The platform database is one SqlDatabase instance, declared in YAML."""

from pathlib import Path

import dagster as dg
import yaml

from lakehouse.defs.platform import keys

DEFS_YAML = Path(keys.__file__).parent / "database" / "defs.yaml"


def test_the_yaml_declares_the_tables_the_kpis_and_checks_use():
    declared = yaml.safe_load(DEFS_YAML.read_text())
    assert declared["type"] == "lakehouse.components.SqlDatabase"
    assert tuple(declared["attributes"]["tables"]) == keys.TABLES


def test_each_platform_table_gets_its_layers_checks_and_sensors(defs):
    graph = defs.resolve_asset_graph()
    for table in keys.TABLES:
        for layer in ("source", "lake", "warehouse"):
            assert dg.AssetKey([layer, "platform", table]) in graph.get_all_asset_keys()
        checks = {c.name for c in graph.get_check_keys_for_assets({keys.state_key(table)})}
        assert {"keys_unique", "no_negative_amounts"} <= checks
    assert defs.get_sensor_def("platform_changes") and defs.get_sensor_def("platform_lake_files")


def test_on_postgresql_every_platform_column_is_described_by_its_comment(
    pg_url, settings, instance, monkeypatch
):
    """#18.16: the warehouse's column descriptions come from the database's own comments."""
    from lakehouse.storage.parquet import column_description
    from lakehouse.storage.projections import read_current
    from lakehouse.storage.store import Store
    from lakehouse_dev.simulate.platform import simulate
    from lakehouse_dev.simulate.platform_schema import COMMENTS
    from lakehouse_tests.conftest import load_definitions
    from lakehouse_tests.defs.platform.helpers import materialize

    monkeypatch.setenv("LAKEHOUSE_PLATFORM_DB_URL", pg_url)
    simulate(pg_url, days=2, seed=3)
    materialize(
        load_definitions(), instance, "lake/platform/invoices", "warehouse/platform/invoices"
    )
    state = read_current(Store(settings.warehouse_url), "platform/invoices")
    described = {f.name: column_description(f) for f in state.schema}
    assert described == {**COMMENTS["*"], **COMMENTS["invoices"]}
