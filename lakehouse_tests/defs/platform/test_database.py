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
