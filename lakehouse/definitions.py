"""The code location: every module under ``lakehouse/defs`` plus project-wide policies."""

from pathlib import Path

import dagster as dg

from lakehouse.catalog import catalog_asset


def build_definitions() -> dg.Definitions:
    defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    projections = [s for s in defs.resolve_all_asset_specs() if s.key.path[0] == "warehouse"]
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
        # Steps here are I/O and DuckDB (which parallelises itself): a process per step would
        # only add seconds of start-up to every run.
        executor=dg.in_process_executor,
    )
    return dg.Definitions.merge(defs, policies)


defs = build_definitions()
