"""The code location: every module under ``lakehouse/defs`` plus project-wide policies.

Loaded lazily: importing this module builds nothing; Dagster calls ``defs`` when it loads the
code location, and code that needs the graph calls ``build_definitions()``.
"""

from pathlib import Path

import dagster as dg

from lakehouse.components.executors import executor
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
    policies = dg.Definitions(
        # Every warehouse projection is catalogued.
        assets=[catalog_asset(projections)],
        # Automation conditions (KPIs, catalog) are evaluated from the start, not opt-in.
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "automation",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=15,
            )
        ],
        # Steps here are I/O and DuckDB (which parallelises itself): on one machine a process
        # per step would only add seconds of start-up to every run (the local default); in
        # production LAKEHOUSE_EXECUTOR spreads steps over workers on several hosts.
        executor=executor(settings.executor),
    )
    return dg.Definitions.merge(
        defs,
        policies,
        # With a replica store configured, every lake asset is copied there as files land.
        replication_definitions(lake_assets) if replicated else dg.Definitions(),
    )


def unpartitioned_assets(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Every materialisable asset that is not partitioned: what one run can build at once."""
    graph = defs.resolve_asset_graph()
    return [k for k in graph.materializable_asset_keys if graph.get(k).partitions_def is None]


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
