"""The code location: every module under ``lakehouse/defs`` plus project-wide policies.

Loaded lazily: importing this module builds nothing; Dagster calls ``defs`` when it loads the
code location, and code that needs the graph calls ``build_definitions()``.
"""

import warnings
from pathlib import Path

import dagster as dg

from lakehouse.components.automation import EVERY_DAEMON_PASS
from lakehouse.components.executors import executor
from lakehouse.components.freshness import freshness_definitions
from lakehouse.components.policies.catalog import catalog_asset
from lakehouse.components.policies.replication import replication_definitions
from lakehouse.settings import Settings


def build_definitions() -> dg.Definitions:
    defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    specs = defs.resolve_all_asset_specs()
    projections = [s for s in specs if s.key.path[0] == "warehouse"]
    lake_assets = [s for s in specs if s.key.path[0] == "lake"]
    settings = Settings.from_env()
    replicated = settings.replica_url is not None
    graph = defs.resolve_asset_graph()
    policies = dg.Definitions(
        # Every warehouse projection is catalogued.
        assets=[catalog_asset(projections)],
        # Automation conditions (KPIs, catalog) are evaluated from the start, not opt-in.
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=EVERY_DAEMON_PASS,  # a hop waits for no more
            )
        ],
        # Steps here are I/O and DuckDB (which parallelises itself): on one machine a process
        # per step would only add seconds of start-up to every run (the local default); in
        # production LAKEHOUSE_EXECUTOR spreads steps over workers on several hosts.
        executor=executor(settings.executor),
    )
    return groups_by_layer(
        dg.Definitions.merge(
            defs,
            policies,
            # With a replica store configured, every lake asset is copied there as files land.
            replication_definitions(lake_assets) if replicated else dg.Definitions(),
            # An operator sees a projection that matters falling behind its source.
            freshness_definitions(
                {key: graph.get(key).parent_keys for key in watched_for_freshness(graph)}
            ),
        )
    )


def groups_by_layer(defs: dg.Definitions) -> dg.Definitions:
    """A domain's group spanning several layers is split into ``<group>_<layer>``
    (``platform_source``, ``platform_lake``, ``platform_replica``, ``platform_warehouse``):
    the UI labels a node with its key's last segment only, so ``trades`` of four layers must
    sit in four labelled groups. Keys never change; single-layer groups keep their name."""
    layers: dict[str | None, set[str]] = {}
    for spec in defs.resolve_all_asset_specs():
        layers.setdefault(spec.group_name, set()).add(spec.key.path[0])
    split = {group for group, found in layers.items() if len(found) > 1}
    with warnings.catch_warnings():  # map_asset_specs is marked preview in Dagster 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return defs.map_asset_specs(
            func=lambda spec: (
                spec.replace_attributes(group_name=f"{spec.group_name}_{spec.key.path[0]}")
                if spec.group_name in split
                else spec
            )
        )


FRESHNESS_WATCHED = dg.AssetSelection.key_prefixes(
    ["warehouse", "platform"], ["warehouse", "origination"], ["warehouse", "finance"]
) | dg.AssetSelection.assets(["warehouse", "teams", "underwriting", "application_scores"])
"""The projections that matter: the platform's current state, its KPIs, the risk scores."""


def watched_for_freshness(graph) -> list[dg.AssetKey]:
    """The unpartitioned materialisable assets of ``FRESHNESS_WATCHED`` in ``graph``."""
    return sorted(
        key
        for key in FRESHNESS_WATCHED.resolve(graph, allow_missing=True)
        if key in graph.materializable_asset_keys and graph.get(key).partitions_def is None
    )


def unpartitioned_assets(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Every materialisable asset that is not partitioned: what one run can build at once."""
    graph = defs.resolve_asset_graph()
    return [k for k in graph.materializable_asset_keys if graph.get(k).partitions_def is None]


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
