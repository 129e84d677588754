"""The code location: every module under ``lakehouse/defs`` plus project-wide policies."""

from pathlib import Path

import dagster as dg

from lakehouse.catalog import catalog_asset


def build_definitions() -> dg.Definitions:
    defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
    projections = [s for s in defs.resolve_all_asset_specs() if s.key.path[0] == "warehouse"]
    return dg.Definitions.merge(defs, dg.Definitions(assets=[catalog_asset(projections)]))


defs = build_definitions()
