"""On a copy of the project: a broken team folder doesn't take the platform down, and
`lakehouse new-team` scaffolds a module that loads, appears in the graph and passes its test."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse_dev.team_scaffold import ScaffoldError, scaffold

PROJECT_ROOT = Path(__file__).resolve().parents[3]

GRAPH = """
import json
import dagster as dg
import lakehouse
from lakehouse.definitions import build_definitions

defs = build_definitions()
dg.Definitions.validate_loadable(defs)
specs = defs.resolve_all_asset_specs()
print(json.dumps({
    "package": lakehouse.__file__,
    "assets": {
        s.key.to_user_string(): {"group": s.group_name, "owners": list(s.owners),
                                 "description": s.description}
        for s in specs
    },
}))
"""


def _copy_project(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("lakehouse", "lakehouse_dev"):
        shutil.copytree(PROJECT_ROOT / package, dst / package, ignore=ignore)
    for name in ("pyproject.toml", "workspace.yaml", "dagster.yaml"):
        shutil.copy(PROJECT_ROOT / name, dst / name)
    (dst / "lakehouse_tests" / "defs" / "teams").mkdir(parents=True)
    for name in (
        "__init__.py",
        "conftest.py",
        "emulators.py",
        "defs/__init__.py",
        "defs/teams/__init__.py",
    ):
        shutil.copy(PROJECT_ROOT / "lakehouse_tests" / name, dst / "lakehouse_tests" / name)
    return dst


def _run(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )


def _graph(project: Path) -> tuple[dict, str]:
    out = _run(project, "-c", GRAPH)
    assert out.returncode == 0, out.stderr[-3000:]
    graph = json.loads(out.stdout.strip().splitlines()[-1])
    assert graph["package"].startswith(str(project)), "loaded the wrong checkout"
    return graph["assets"], out.stderr


def test_a_team_with_a_syntax_error_is_reported_and_the_platform_loads(settings, tmp_path):
    project = _copy_project(tmp_path / "project")
    broken = project / "lakehouse" / "defs" / "teams" / "broken"
    shutil.copytree(project / "lakehouse" / "defs" / "teams" / "marketing", broken)
    (broken / "defs.yaml").write_text(
        (broken / "defs.yaml").read_text().replace("marketing", "broken")
    )
    (broken / "assets.py").write_text("import dagster as dg\n\n\ndef oops(:\n    pass\n")

    assets, stderr = _graph(project)

    # The rest of the platform: platform projections and the other teams.
    for key in (
        "warehouse/platform/applications",
        "catalog/warehouse",
        "warehouse/teams/underwriting/application_scores",
        "warehouse/teams/marketing/applications_by_sector_weekly",
    ):
        assert key in assets, key
    assert not any(k.startswith("warehouse/teams/broken/") and "failed" not in k for k in assets)
    # The report: a log line and an asset in the team's group, naming team, file and error.
    where = "lakehouse/defs/teams/broken/assets.py:4"
    assert f"team module 'broken' not loaded: {where}: SyntaxError" in stderr
    failed = assets["warehouse/teams/broken/module_failed"]
    assert where in failed["description"] and "SyntaxError" in failed["description"]
    assert failed["group"] == "teams_broken" and failed["owners"] == ["team:broken"]


def test_a_team_asset_named_with_a_space_is_reported_and_the_platform_loads(settings, tmp_path):
    """A definition error, not an import error: the name only fails once the platform's
    policies (the catalog) are built over every projection."""
    project = _copy_project(tmp_path / "project")
    team = project / "lakehouse" / "defs" / "teams" / "weekly"
    shutil.copytree(project / "lakehouse" / "defs" / "teams" / "marketing", team)
    (team / "defs.yaml").write_text((team / "defs.yaml").read_text().replace("marketing", "weekly"))
    (team / "assets.py").write_text(
        "import dagster as dg\n"
        "from lakehouse.components.teams import team_key\n\n"
        'report = dg.AssetSpec(team_key("weekly", "weekly report"), description="A report.")\n'
    )

    assets, stderr = _graph(project)

    assert "catalog/warehouse" in assets and "warehouse/platform/applications" in assets
    assert "warehouse/teams/marketing/applications_by_sector_weekly" in assets
    assert "warehouse/teams/weekly/weekly report" not in assets
    assert "team module 'weekly' not loaded" in stderr
    failed = assets["warehouse/teams/weekly/module_failed"]
    assert "asset name 'weekly report' is not valid" in failed["description"]


def test_new_team_scaffolds_a_module_that_loads_and_passes_its_test(settings, tmp_path):
    project = _copy_project(tmp_path / "project")
    out = _run(project, "-m", "lakehouse.cli", "new-team", "growth", "--owner", "team:growth")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "created lakehouse/defs/teams/growth/assets.py" in out.stdout
    assert "created lakehouse_tests/defs/teams/test_growth.py" in out.stdout

    again = _run(project, "-m", "lakehouse.cli", "new-team", "growth")
    assert again.returncode != 0 and "already exists" in again.stderr

    assets, _ = _graph(project)
    spec = assets["warehouse/teams/growth/sellers_by_country"]
    assert spec["group"] == "teams_growth" and spec["owners"] == ["team:growth"]
    assert not any(k.endswith("/module_failed") for k in assets)

    tests = _run(
        project,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore",
        "lakehouse_tests/defs/teams/test_growth.py",
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "3 passed" in tests.stdout


@pytest.mark.parametrize(
    ("name", "owners", "message"),
    [
        ("Growth", (), "not a valid team name"),
        ("growth-team", (), "not a valid team name"),
        ("x", (), "not a valid team name"),
        ("class", (), "not a valid team name"),
        ("platform", (), "not a valid team name"),
        ("ab\n", (), "not a valid team name"),  # `$` would match before the newline
        ("growth", ("growth",), "must be team:<name> or an e-mail"),
        ("marketing", (), "already exists"),
    ],
)
def test_new_team_refuses_bad_names_owners_and_existing_teams(tmp_path, name, owners, message):
    root = tmp_path / "project"
    (root / "lakehouse" / "defs" / "teams" / "marketing").mkdir(parents=True)
    with pytest.raises(ScaffoldError, match=message):
        scaffold(name, root, owners)
    assert sorted(p.name for p in (root / "lakehouse" / "defs" / "teams").iterdir()) == [
        "marketing"
    ]
