"""The code location loads, and its asset graph is what users and dashboards rely on."""

import os
from pathlib import Path

import dagster as dg

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.txt"


def _graph_lines(defs: dg.Definitions) -> list[str]:
    specs = sorted(defs.resolve_all_asset_specs(), key=lambda s: s.key.to_user_string())
    return [f"{s.key.to_user_string()}  group={s.group_name}" for s in specs]


def test_definitions_load_and_validate(defs):
    dg.Definitions.validate_loadable(defs)
    sensors = {s.name for s in defs.get_repository_def().sensor_defs}
    assert {"platform_changes", "platform_lake_files", "automation"} <= sensors


def test_asset_keys_and_groups_match_the_snapshot(defs):
    """Renaming an asset breaks dashboards and lineage: do it on purpose
    (`UPDATE_SNAPSHOTS=1 make test` rewrites the snapshot)."""
    lines = _graph_lines(defs)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text("\n".join(lines) + "\n")
    assert lines == SNAPSHOT.read_text().splitlines()


def test_every_asset_is_documented_owned_grouped_and_kinded(defs):
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        assert spec.description, f"{name} has no description"
        assert spec.owners, f"{name} has no owner"
        assert spec.group_name and spec.group_name != "default", f"{name} has no group"
        assert spec.kinds, f"{name} has no kinds"
        assert spec.key.path[0] in {"source", "lake", "replica", "warehouse", "catalog"}, name


def test_each_replica_copy_holds_its_lake_writers_pool(defs):
    """A writer uploading several files at once (a machine-log take) is never listed half-way
    by the copy to the replica: both hold the prefix's pool, so they never overlap."""
    from lakehouse.components.policies.replication import replica_key

    writers = [
        a
        for a in defs.resolve_asset_graph().assets_defs
        if len(a.keys) == 1 and next(iter(a.keys)).path[0] == "lake"
    ]
    assert writers
    for writer in writers:
        (key,) = writer.keys
        copy = defs.get_assets_def(replica_key(key))
        assert copy.node_def.pool == writer.node_def.pool, key.to_user_string()


def test_groups_tell_layers_apart(defs):
    """The UI labels a node with its key's last segment: within a group, no two nodes share
    it (four layers of `trades` sit in four groups), and a group holds one layer."""
    by_group: dict[str, list[dg.AssetKey]] = {}
    for spec in defs.resolve_all_asset_specs():
        by_group.setdefault(spec.group_name, []).append(spec.key)
    for group, keys in by_group.items():
        labels = [k.path[-1] for k in keys]
        assert len(labels) == len(set(labels)), f"{group}: {sorted(labels)}"
        assert len({k.path[0] for k in keys}) == 1, group
    assert {"platform_source", "platform_lake", "platform_warehouse", "finance"} <= set(by_group)


def test_partitioned_machine_assets_say_why_early_waves_are_empty(defs):
    from lakehouse.defs.machines.assets import PARTITIONS_START

    partitioned = [
        a for a in defs.resolve_asset_graph().assets_defs if a.partitions_def is not None
    ]
    assert partitioned
    for spec in (s for a in partitioned for s in a.specs):
        assert f"since {PARTITIONS_START[:10]}" in spec.description, spec.key
        assert "stay empty by design" in spec.description, spec.key
