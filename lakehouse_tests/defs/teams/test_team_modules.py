"""Guard rails over every team folder in the repository, and the teams in the code location."""

from pathlib import Path

import dagster as dg
import pytest

import lakehouse
from lakehouse.components.policies.catalog import CATALOG_KEY
from lakehouse.components.teams import (
    convention_problems,
    load_team,
    safety_violations,
    team_dirs,
    team_specs,
)

TEAMS_DIR = Path(lakehouse.__file__).parent / "defs" / "teams"
PROJECT_ROOT = TEAMS_DIR.parents[2]
TEAMS = [d.name for d in team_dirs(TEAMS_DIR)]


def test_the_example_teams_are_there():
    assert {"underwriting", "marketing"} <= set(TEAMS)


@pytest.mark.parametrize("team", TEAMS)
def test_every_team_module_is_safe_documented_owned_grouped_kinded_and_tested(team):
    defs = load_team(TEAMS_DIR / team, f"lakehouse.defs.teams.{team}", PROJECT_ROOT)
    assert team_specs(defs), f"team {team} defines no asset"
    assert safety_violations(team, defs) == []
    assert convention_problems(team, defs) == []
    for asset in defs.assets or ():
        for key in asset.keys:  # written by the platform's Parquet IO manager
            assert asset.get_io_manager_key_for_asset_key(key) == "io_manager", key
    assert (TEAMS_DIR / team / "README.md").is_file(), f"team {team} has no README.md"
    test_file = PROJECT_ROOT / "lakehouse_tests" / "defs" / "teams" / f"test_{team}.py"
    assert test_file.is_file(), f"team {team} has no {test_file.relative_to(PROJECT_ROOT)}"


def test_the_code_location_carries_every_team_and_catalogues_its_assets(defs):
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    failed = [k for k in specs if k.endswith("/module_failed")]
    assert not failed, {k: specs[k].description for k in failed}
    for team in TEAMS:
        assert any(k.startswith(f"warehouse/teams/{team}/") for k in specs), team
    catalog = defs.get_assets_def(CATALOG_KEY)
    upstream = {k.to_user_string() for k in catalog.asset_deps[CATALOG_KEY]}
    assert "warehouse/teams/underwriting/application_scores" in upstream
    assert "warehouse/teams/marketing/applications_by_sector_weekly" in upstream
    dg.Definitions.validate_loadable(defs)
